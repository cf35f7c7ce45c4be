//go:build !amd64

package manager

import "unsafe"

// prefetch does nothing on this architecture: the warm-up loads of ingest
// still overlap the misses of a group.
func prefetch(unsafe.Pointer) {}
