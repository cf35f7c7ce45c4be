package main

import (
	"fmt"
	"io"
)

// runFleet is the default job. Until the fleet simulation lands it replays the
// example scenario shipped with the command.
func runFleet(args []string, stdout, stderr io.Writer) int {
	fmt.Fprintln(stderr, "loadgen: fleet mode is not built yet; use `loadgen sim FILE`")
	return 2
}
