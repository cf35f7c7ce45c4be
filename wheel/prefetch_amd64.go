package wheel

import "sync/atomic"

// prefetchWords asks the CPU to bring the lines of the first n words into
// the cache in a state it may write (PREFETCHW), and returns at once. Unlike
// a load, a prefetch retires without waiting for its line, so the misses of
// a whole group are in flight together however long the loop around them
// is, and the CAS that follows finds its line already owned. It changes no
// memory and never faults, whatever the pointers are.
//
//go:noescape
func prefetchWords(words *[pushGroup]*atomic.Uint64, n int)
