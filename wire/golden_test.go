package wire

import (
	"encoding/hex"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden vectors in testdata/")

// TestGolden pins the wire format: every sample message, signed with the
// fixed test key at a fixed sequence number, must encode to the bytes in
// testdata/<name>.golden, and those bytes must decode to the fields listed
// there. `go test ./wire -run TestGolden -update` rewrites the files; a diff
// in them is a change of the wire format and needs a new Version.
func TestGolden(t *testing.T) {
	c := NewCodec(testRing(t))
	for _, s := range samples() {
		t.Run(s.name, func(t *testing.T) {
			m := s.m
			m.Seq = testSeq
			pkt := encode(t, c, &m)
			path := filepath.Join("testdata", s.name+".golden")
			if *update {
				m.KeyID = testKeyID
				text := fmt.Sprintf("# %s, signed with key id %d = %x, seq %#x\n%shex: %x\n",
					s.name, testKeyID, testKey(), uint64(testSeq), formatMessage(&m), pkt)
				if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			var fields strings.Builder
			var wantHex string
			for _, line := range strings.Split(string(data), "\n") {
				switch {
				case strings.HasPrefix(line, "#"), line == "":
				case strings.HasPrefix(line, "hex: "):
					wantHex = strings.TrimPrefix(line, "hex: ")
				default:
					fields.WriteString(line + "\n")
				}
			}
			if got := hex.EncodeToString(pkt); got != wantHex {
				t.Fatalf("encoding changed:\n got  %s\n want %s", got, wantHex)
			}
			want, err := hex.DecodeString(wantHex)
			if err != nil {
				t.Fatal(err)
			}
			var out Message
			if err := c.Decode(want, &out); err != nil {
				t.Fatalf("golden bytes do not decode: %v", err)
			}
			if got := formatMessage(&out); got != fields.String() {
				t.Fatalf("decoded fields changed:\n got\n%s want\n%s", got, fields.String())
			}
		})
	}
}
