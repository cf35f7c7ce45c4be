package scenario

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// FuzzScript: arbitrary bytes as a script never panic; the run either
// succeeds or stops with a *LineError naming a line of the input; the same
// input gives the same output twice.
func FuzzScript(f *testing.F) {
	files, err := filepath.Glob("testdata/*.txt")
	if err != nil {
		f.Fatal(err)
	}
	for _, file := range files {
		raw, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		script, _, _ := strings.Cut(string(raw), separator)
		f.Add([]byte(script))
	}
	f.Add([]byte("config probing=on loss=0.5 seed=3\nat 0s join a\nat 0s join b\nat 1s crash a\nrun 2m\n"))
	f.Add([]byte("at 1s join w1 inc=18446744073709551615\nat 2s extend w1 fraction=NaN\nat 2s extend w1 completed=5 total=1\n"))
	f.Fuzz(func(t *testing.T, in []byte) {
		if costly(in) {
			return // valid but slow: a fuzz input must run in milliseconds
		}
		var out1, out2 bytes.Buffer
		err1 := Run(bytes.NewReader(in), &out1)
		err2 := Run(bytes.NewReader(in), &out2)
		if err1 != nil {
			var le *LineError
			if !errors.As(err1, &le) {
				t.Fatalf("error is not a *LineError: %v", err1)
			}
			lines := bytes.Count(in, []byte("\n"))
			if len(in) > 0 && in[len(in)-1] != '\n' {
				lines++
			}
			if le.Line < 1 || le.Line > lines {
				t.Fatalf("line %d outside 1..%d: %v", le.Line, lines, err1)
			}
			if !errors.Is(err1, ErrScript) {
				t.Fatalf("error does not wrap ErrScript: %v", err1)
			}
		}
		if (err1 == nil) != (err2 == nil) || (err1 != nil && err1.Error() != err2.Error()) {
			t.Fatalf("two runs differ: %v / %v", err1, err2)
		}
		if !bytes.Equal(out1.Bytes(), out2.Bytes()) {
			t.Fatalf("two runs differ in output")
		}
	})
}

// costly reports whether a script would take long to replay: its work grows
// with virtual time over the shortest configured duration (a live worker
// is probed every base, a suspect pinged every probe timeout, a stopped
// brake looks again every second). Times beyond 10000h are left to
// TestTimeBeyondWheelRange.
func costly(in []byte) bool {
	var maxT time.Duration
	minD := time.Second
	lines := 1
	for _, line := range strings.Split(string(in), "\n") {
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		lines++
		switch f[0] {
		case "at", "run":
			if d, err := time.ParseDuration(f[1]); err == nil {
				maxT = max(maxT, d)
			}
		case "config":
			for _, kv := range f[1:] {
				if _, v, ok := strings.Cut(kv, "="); ok {
					if d, err := time.ParseDuration(v); err == nil && d > 0 {
						minD = min(minD, d)
					}
				}
			}
		}
	}
	return maxT > 10000*time.Hour || float64(maxT)/float64(minD)*float64(lines) > 2e5
}
