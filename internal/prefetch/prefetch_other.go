//go:build !amd64

package prefetch

import "unsafe"

// Read does nothing on this architecture.
func Read(unsafe.Pointer) {}

// Write does nothing on this architecture.
func Write(unsafe.Pointer) {}

// WriteEach does nothing on this architecture.
func WriteEach([]unsafe.Pointer) {}
