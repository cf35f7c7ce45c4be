package detector

import (
	"testing"
	"unsafe"

	"github.com/stretchr/testify/require"
)

// A worker's record is one cache line at most: with 16-byte IDs a joined
// worker costs its record, its 8-byte incarnation, its wheel slot (16 B)
// and its map entry, well under the 200 bytes budgeted per worker.
func TestRecordFootprint(t *testing.T) {
	require.LessOrEqual(t, unsafe.Sizeof(record{}), uintptr(64))
}
