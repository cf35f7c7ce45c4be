package prefetch

import "unsafe"

// Read prefetches the line at p for reading (PREFETCHT0).
//
//go:noescape
func Read(p unsafe.Pointer)

// Write prefetches the line at p for writing (PREFETCHW): it arrives in a
// state the core may write, so a CAS on it does not fetch it again.
//
//go:noescape
func Write(p unsafe.Pointer)

// WriteEach is Write for every pointer of ps, in one call.
//
//go:noescape
func WriteEach(ps []unsafe.Pointer)
