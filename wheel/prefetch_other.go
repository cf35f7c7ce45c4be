//go:build !amd64

package wheel

import "sync/atomic"

// prefetchWords loads the first n words, so that their misses overlap
// before the CAS loops run on them. The loads are harmless: their values
// are dropped, and every decision is made on the CAS loop's own load.
func prefetchWords(words *[pushGroup]*atomic.Uint64, n int) {
	var sum uint64
	for _, wp := range words[:n] {
		if wp != nil {
			sum += wp.Load()
		}
	}
	warm(sum)
}

// warm does nothing with its argument, in a call the compiler cannot see
// into: loads that only warm the cache sum their values into it, so that
// the compiler keeps them (it drops an atomic load whose value is unused).
//
//go:noinline
func warm(uint64) {}
