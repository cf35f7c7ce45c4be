package extension

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

var rewrite = flag.Bool("rewrite", false, "rewrite the expected output of testdata/*.txt")

// TestScenarios replays testdata/*.txt, one scenario a file. Each block is a
// command line, a "----" line, then the expected output up to a blank line.
// Lines starting with '#' between blocks are comments. Commands:
//
//	policy [base=D] [min=D] [max=N] [warn=N]   defaults for omitted keys; prints ok or the Validate error
//	request now=D [deadline=D] [count=C[/T]] [fraction=F]
//	                                           deadline defaults to the one the last decision returned (0 at first)
//	reset                                      starts a new cycle
//
// request and reset print the decision (request only) and then the state.
// go test -run TestScenarios -rewrite regenerates the expected outputs.
func TestScenarios(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "*.txt"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no scenario files: %v", err)
	}
	for _, file := range files {
		t.Run(strings.TrimSuffix(filepath.Base(file), ".txt"), func(t *testing.T) {
			runScenario(t, file)
		})
	}
}

type scenario struct {
	policy   Policy
	state    State
	deadline time.Duration
}

func runScenario(t *testing.T, file string) {
	raw, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(raw), "\n")
	sc := &scenario{policy: DefaultPolicy()}
	var out strings.Builder
	for i := 0; i < len(lines); i++ {
		line := lines[i]
		if strings.TrimSpace(line) == "" || strings.HasPrefix(line, "#") {
			out.WriteString(line + "\n")
			continue
		}
		cmdLine := i + 1
		if i+1 >= len(lines) || lines[i+1] != "----" {
			t.Fatalf("%s:%d: command %q not followed by ----", file, cmdLine, line)
		}
		i += 2
		var want []string
		for ; i < len(lines) && lines[i] != ""; i++ {
			want = append(want, lines[i])
		}
		got, err := sc.run(line)
		if err != nil {
			t.Fatalf("%s:%d: %v", file, cmdLine, err)
		}
		if !*rewrite && got != strings.Join(want, "\n") {
			t.Errorf("%s:%d: %s\ngot:\n%s\nwant:\n%s", file, cmdLine, line, got, strings.Join(want, "\n"))
		}
		out.WriteString(line + "\n----\n" + got + "\n")
		if i < len(lines) {
			out.WriteString("\n")
		}
	}
	if *rewrite {
		text := strings.TrimRight(out.String(), "\n") + "\n"
		if err := os.WriteFile(file, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func (sc *scenario) run(line string) (string, error) {
	fields := strings.Fields(line)
	args := make(map[string]string)
	for _, f := range fields[1:] {
		k, v, ok := strings.Cut(f, "=")
		if !ok {
			return "", fmt.Errorf("argument %q is not key=value", f)
		}
		args[k] = v
	}
	switch fields[0] {
	case "policy":
		p := DefaultPolicy()
		for k, v := range args {
			var err error
			switch k {
			case "base":
				p.Base, err = time.ParseDuration(v)
			case "min":
				p.MinGrant, err = time.ParseDuration(v)
			case "max":
				p.MaxExtensions, err = strconv.Atoi(v)
			case "warn":
				p.WarnRemaining, err = strconv.Atoi(v)
			default:
				err = fmt.Errorf("unknown key %q", k)
			}
			if err != nil {
				return "", err
			}
		}
		if err := p.Validate(); err != nil {
			return "error: " + err.Error(), nil
		}
		sc.policy, sc.state, sc.deadline = p, State{}, 0
		return "ok", nil
	case "reset":
		sc.state.Reset()
		return sc.describeState(), nil
	case "request":
		var req Request
		var now time.Duration
		deadline := sc.deadline
		for k, v := range args {
			var err error
			switch k {
			case "now":
				now, err = time.ParseDuration(v)
			case "deadline":
				deadline, err = time.ParseDuration(v)
			case "count":
				c, tot, _ := strings.Cut(v, "/")
				req.Progress.HasCount = true
				if req.Progress.Completed, err = strconv.ParseUint(c, 10, 64); err == nil && tot != "" {
					req.Progress.Total, err = strconv.ParseUint(tot, 10, 64)
				}
			case "fraction":
				req.Progress.HasFraction = true
				req.Progress.Fraction, err = strconv.ParseFloat(v, 64)
			default:
				err = fmt.Errorf("unknown key %q", k)
			}
			if err != nil {
				return "", err
			}
		}
		d := sc.policy.Decide(&sc.state, req, now, deadline)
		sc.deadline = d.Deadline
		return describeDecision(d) + "\n" + sc.describeState(), nil
	}
	return "", fmt.Errorf("unknown command %q", fields[0])
}

func describeDecision(d Decision) string {
	var b strings.Builder
	if d.Granted {
		fmt.Fprintf(&b, "granted grant=%v", d.Grant)
	} else {
		fmt.Fprintf(&b, "denied %v", d.Reason)
	}
	fmt.Fprintf(&b, " deadline=%v remaining=%d", d.Deadline, d.Remaining)
	if d.Warning {
		b.WriteString(" warning")
	}
	return b.String()
}

func (sc *scenario) describeState() string {
	s := sc.state
	last := s.LastProgress()
	var parts []string
	if last.HasCount {
		parts = append(parts, "count="+strconv.FormatUint(last.Completed, 10))
	}
	if last.HasFraction {
		parts = append(parts, "fraction="+strconv.FormatFloat(last.Fraction, 'g', -1, 64))
	}
	if len(parts) == 0 {
		parts = append(parts, "none")
	}
	return fmt.Sprintf("state used=%d warned=%t last=%s", s.Used(), s.Warned(), strings.Join(parts, ","))
}
