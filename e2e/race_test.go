//go:build race

package e2e

// raceEnabled shrinks the fleets under the race detector, which slows the
// agents' real-time heartbeats ten-fold on the development machine's two
// cores; the full fleets run in plain `go test`.
const raceEnabled = true
