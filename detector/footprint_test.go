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
	// And no record straddles two lines, which PrefetchOwner relies on:
	// records tile the line, from a line boundary of their chunk (a chunk
	// is far larger than a page, so the allocator page-aligns it).
	require.Zero(t, 64%unsafe.Sizeof(record{}))
	require.Zero(t, unsafe.Offsetof(chunk{}.rec)%64)
	require.Greater(t, unsafe.Sizeof(chunk{}), uintptr(32<<10))
}
