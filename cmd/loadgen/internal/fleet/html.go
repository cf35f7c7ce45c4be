package fleet

import (
	"io"
)

// WriteHTML writes a self-contained page.
func WriteHTML(w io.Writer, reports []*Report) error {
	_, err := io.WriteString(w, "<!doctype html><title>loadgen</title>")
	return err
}
