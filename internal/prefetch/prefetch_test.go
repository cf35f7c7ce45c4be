package prefetch

import (
	"testing"
	"unsafe"
)

// TestNeverFaults: a prefetch of nil and of a real address returns and
// changes nothing.
func TestNeverFaults(t *testing.T) {
	x := [8]uint64{1, 2, 3, 4, 5, 6, 7, 8}
	for _, p := range []unsafe.Pointer{nil, unsafe.Pointer(&x[3])} {
		Read(p)
		Write(p)
	}
	WriteEach([]unsafe.Pointer{nil, unsafe.Pointer(&x[0]), unsafe.Pointer(&x[7])})
	WriteEach(nil)
	if x != [8]uint64{1, 2, 3, 4, 5, 6, 7, 8} {
		t.Fatalf("a prefetch changed memory: %v", x)
	}
}
