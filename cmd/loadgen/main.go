// Command loadgen drives swimwheel: `loadgen sim FILE` replays a scenario
// script in virtual time against the real detector (see SCENARIO.md in the
// project docs and detector/scenario).
package main

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/swimwheel/swimwheel/detector/scenario"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "sim" {
		return runSim(args[1:], stdout, stderr)
	}
	return runFleet(args, stdout, stderr)
}

// runSim is `loadgen sim FILE` ("-" reads standard input).
func runSim(args []string, stdout, stderr io.Writer) int {
	if len(args) != 1 {
		fmt.Fprintln(stderr, "usage: loadgen sim FILE")
		return 2
	}
	var in io.Reader = os.Stdin
	if args[0] != "-" {
		f, err := os.Open(args[0])
		if err != nil {
			fmt.Fprintf(stderr, "loadgen sim: %v\n", err)
			return 2
		}
		defer f.Close()
		in = f
	}
	if err := scenario.Run(in, stdout); err != nil {
		var le *scenario.LineError
		if errors.As(err, &le) {
			fmt.Fprintf(stderr, "loadgen sim: %s: %v\n", args[0], err)
			return 2
		}
		fmt.Fprintf(stderr, "loadgen sim: %v\n", err)
		return 1
	}
	return 0
}
