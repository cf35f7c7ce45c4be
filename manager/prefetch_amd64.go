package manager

import "unsafe"

// prefetch asks the CPU to bring the cache line at p into the cache, and
// returns at once: unlike a load, the instruction retires without waiting
// for the line, so the miss overlaps with whatever runs next. It never
// faults, whatever p is.
//
//go:noescape
func prefetch(p unsafe.Pointer)
