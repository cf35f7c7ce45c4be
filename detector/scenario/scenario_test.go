package scenario

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

var rewrite = flag.Bool("rewrite", false, "rewrite the expected output of testdata/*.txt")

// separator splits a testdata file into the script and the output it must
// produce, byte for byte.
const separator = "----\n"

// TestScenarios replays every testdata file. Each pins one behaviour of
// DESIGN.md; a change of behaviour shows up as a diff, and -rewrite accepts
// it after review.
func TestScenarios(t *testing.T) {
	files, err := filepath.Glob("testdata/*.txt")
	require.NoError(t, err)
	require.NotEmpty(t, files)
	for _, file := range files {
		t.Run(strings.TrimSuffix(filepath.Base(file), ".txt"), func(t *testing.T) {
			raw, err := os.ReadFile(file)
			require.NoError(t, err)
			script, want, found := strings.Cut(string(raw), separator)
			require.True(t, found, "%s has no %q line", file, strings.TrimSpace(separator))
			var out bytes.Buffer
			err = Run(strings.NewReader(script), &out)
			got := out.String()
			var le *LineError
			if errors.As(err, &le) {
				got += "error: " + le.Error() + "\n"
			} else {
				require.NoError(t, err)
			}
			if *rewrite {
				require.NoError(t, os.WriteFile(file, []byte(script+separator+got), 0o644))
				return
			}
			require.Equal(t, want, got)
			// Same file, same seed: same output, byte for byte.
			var again bytes.Buffer
			_ = Run(strings.NewReader(script), &again)
			require.Equal(t, out.String(), again.String())
		})
	}
}
