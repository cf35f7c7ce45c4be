// Package prefetch asks the CPU to bring a cache line in ahead of use.
//
// A prefetch retires at once, without waiting for its line, so misses
// started this way overlap with whatever runs next; a plain load that
// misses would hold up everything behind it. A prefetch never faults and
// changes nothing, whatever the pointer (nil included), so it may be issued
// on addresses computed from unverified input.
package prefetch
