package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/swimwheel/swimwheel/cmd/loadgen/internal/fleet"
)

const fleetUsage = `usage: loadgen [flags]          run a simulated fleet against a manager and report
       loadgen sim FILE         replay a scenario script in virtual time

`

// runFleet is the default job: the fleet benchmark (see README.md, "What
// loadgen does"). `loadgen serve-manager` is the child process it starts.
func runFleet(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == fleet.ServeCommand {
		return fleet.Serve(args[1:], os.Stdin, stdout, stderr)
	}
	cfg := fleet.DefaultConfig()
	var (
		jsonPath, htmlPath, target, partition string
		baseline                              bool
	)
	fs := flag.NewFlagSet("loadgen", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.IntVar(&cfg.Workers, "workers", cfg.Workers, "simulated workers")
	fs.DurationVar(&cfg.Duration, "duration", cfg.Duration, "measured run, from when every worker joined")
	fs.DurationVar(&cfg.Heartbeat, "heartbeat", cfg.Heartbeat, "heartbeat interval")
	fs.DurationVar(&cfg.Base, "base", cfg.Base, "base deadline")
	fs.DurationVar(&cfg.Suspicion, "suspicion", cfg.Suspicion, "suspicion window")
	fs.BoolVar(&cfg.Probing, "probing", cfg.Probing, "SWIM probing")
	fs.Float64Var(&cfg.Loss, "loss", cfg.Loss, "drop probability applied by the workers, each direction")
	fs.Float64Var(&cfg.Crash, "crash", cfg.Crash, "share of workers that crash at 1/4 of the run")
	fs.Float64Var(&cfg.Pause, "pause", cfg.Pause, "share of workers paused at 1/3 of the run for 0.6 x base")
	fs.Float64Var(&cfg.Long, "long", cfg.Long, "share of workers running long jobs (extensions with progress) from 1/6 of the run")
	fs.Float64Var(&cfg.Stuck, "stuck", cfg.Stuck, "share of workers stuck (extensions without progress) from 1/6 of the run")
	fs.StringVar(&partition, "partition", "0", "SHARE[:DURATION] of workers cut off at half the run (default duration 2 x base)")
	fs.Uint64Var(&cfg.Seed, "seed", cfg.Seed, "seed of the fault plan and of -loss")
	fs.StringVar(&jsonPath, "json", "", "write every figure as JSON to `FILE`")
	fs.StringVar(&htmlPath, "html", "", "write a self-contained HTML report to `FILE`")
	fs.StringVar(&target, "target", "", "drive the manager at `ADDR` (key: hex in $"+fleet.KeyEnv+") instead of starting one")
	fs.BoolVar(&baseline, "baseline", false, "also run the same fleet against the naive manager of bench/ and compare")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(stderr, fleetUsage)
			fs.SetOutput(stderr)
			fs.PrintDefaults()
			return 0
		}
		fmt.Fprintf(stderr, "loadgen: %v\n", err)
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "loadgen: unexpected argument %q (flags come first; see -h)\n", fs.Arg(0))
		return 2
	}
	if err := parsePartition(partition, &cfg); err != nil {
		fmt.Fprintf(stderr, "loadgen: %v\n", err)
		return 2
	}
	if target != "" {
		ap, err := netip.ParseAddrPort(target)
		if err != nil {
			fmt.Fprintf(stderr, "loadgen: -target: %q is not host:port (%v)\n", target, err)
			return 2
		}
		if baseline {
			fmt.Fprintln(stderr, "loadgen: -baseline: cannot compare against a manager running elsewhere (-target)")
			return 2
		}
		cfg.Target = ap
	}
	if err := cfg.Validate(); err != nil {
		fmt.Fprintf(stderr, "loadgen: %v\n", err)
		return 2
	}

	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt)
	defer cancel()
	opt := fleet.Options{Live: stderr, Terminal: isTerminal(stderr)}
	rep, err := fleet.Run(ctx, cfg, opt)
	if err != nil {
		fmt.Fprintf(stderr, "loadgen: %v\n", err)
		return 1
	}
	reports := []*fleet.Report{rep}
	fmt.Fprintln(stdout)
	rep.WriteText(stdout)
	if baseline {
		fmt.Fprintln(stderr, "\nbaseline: the same fleet against the naive manager")
		ncfg := cfg
		ncfg.Impl = "naive"
		nrep, err := fleet.Run(ctx, ncfg, opt)
		if err != nil {
			fmt.Fprintf(stderr, "loadgen: baseline: %v\n", err)
			return 1
		}
		reports = append(reports, nrep)
		fmt.Fprintln(stdout)
		nrep.WriteText(stdout)
		fmt.Fprintln(stdout)
		fleet.WriteComparison(stdout, rep, nrep)
	}
	if jsonPath != "" {
		if err := writeJSON(jsonPath, reports); err != nil {
			fmt.Fprintf(stderr, "loadgen: -json: %v\n", err)
			return 1
		}
	}
	if htmlPath != "" {
		if err := writeHTML(htmlPath, reports); err != nil {
			fmt.Fprintf(stderr, "loadgen: -html: %v\n", err)
			return 1
		}
	}
	return 0
}

// parsePartition reads -partition SHARE[:DURATION].
func parsePartition(v string, cfg *fleet.Config) error {
	share, dur, hasDur := strings.Cut(v, ":")
	f, err := strconv.ParseFloat(share, 64)
	if err != nil {
		return &fleet.FlagError{Flag: "partition", Msg: fmt.Sprintf("%q: want SHARE[:DURATION], e.g. 0.2 or 0.2:10s", v)}
	}
	cfg.Partition = f
	if hasDur {
		d, err := time.ParseDuration(dur)
		if err != nil || d <= 0 {
			return &fleet.FlagError{Flag: "partition", Msg: fmt.Sprintf("%q: duration %q is not a positive duration", v, dur)}
		}
		cfg.PartitionFor = d
	}
	return nil
}

func writeJSON(path string, reports []*fleet.Report) error {
	var v any = reports[0]
	if len(reports) > 1 {
		v = map[string]*fleet.Report{"swimwheel": reports[0], "naive": reports[1]}
	}
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

func writeHTML(path string, reports []*fleet.Report) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := fleet.WriteHTML(f, reports); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// isTerminal reports whether w is a terminal, so the live line can be
// redrawn in place.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}
