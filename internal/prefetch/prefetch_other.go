//go:build !amd64

package prefetch

import "unsafe"

// Read does nothing on this architecture.
func Read(unsafe.Pointer) {}

// Write does nothing on this architecture.
func Write(unsafe.Pointer) {}
