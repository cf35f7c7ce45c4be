package fleet

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/swimwheel/swimwheel/detector"
)

// child is the manager running in a child process.
type child struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	addr   netip.AddrPort
	stats  chan ManagerStats
	done   chan struct{} // closed when stdout ends
	stderr *tailBuffer
	mu     sync.Mutex // serialises stats requests
}

// startChild runs the manager in a child process and hands its events to
// onEvent (on the child's reader goroutine).
func startChild(cfg *Config, keyHex string, onEvent func(Event)) (*child, error) {
	argv := cfg.ServeCommand
	if len(argv) == 0 {
		exe, err := os.Executable()
		if err != nil {
			return nil, fmt.Errorf("fleet: cannot find this executable to run the manager: %w", err)
		}
		argv = []string{exe, ServeCommand}
	}
	args := append(argv[1:len(argv):len(argv)],
		"-impl", cfg.Impl,
		"-base", cfg.Base.String(),
		"-suspicion", cfg.Suspicion.String(),
		"-heartbeat", cfg.Heartbeat.String(),
		"-probing="+strconv.FormatBool(cfg.Probing),
		"-workers", strconv.Itoa(cfg.Workers),
	)
	cmd := exec.Command(argv[0], args...)
	cmd.Env = append(os.Environ(), KeyEnv+"="+keyHex)
	c := &child{cmd: cmd, stats: make(chan ManagerStats, 1), done: make(chan struct{}), stderr: &tailBuffer{}}
	cmd.Stderr = c.stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	c.stdin = stdin
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("fleet: starting the manager: %w", err)
	}
	lines := bufio.NewReaderSize(stdout, 1<<16)
	first, err := lines.ReadString('\n')
	if err != nil || !strings.HasPrefix(first, "A ") {
		stdin.Close()
		cmd.Wait()
		return nil, fmt.Errorf("fleet: the manager did not start: %s", strings.TrimSpace(c.stderr.String()))
	}
	c.addr, err = netip.ParseAddrPort(strings.TrimSpace(first[2:]))
	if err != nil {
		stdin.Close()
		cmd.Wait()
		return nil, fmt.Errorf("fleet: manager address: %w", err)
	}
	go c.read(lines, onEvent)
	return c, nil
}

func (c *child) read(r *bufio.Reader, onEvent func(Event)) {
	defer close(c.done)
	var totals [detector.EventLHM + 1]uint64 // of the "C" lines so far
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		switch {
		case strings.HasPrefix(line, "E "):
			if ev, err := parseEvent(line[2:]); err == nil {
				onEvent(ev)
			}
		case strings.HasPrefix(line, "C "):
			kind, total, err := parseCount(line[2:])
			if err == nil && int(kind) < len(totals) && total > totals[kind] {
				onEvent(Event{Kind: kind, Worker: -1, Count: total - totals[kind]})
				totals[kind] = total
			}
		case strings.HasPrefix(line, "S "):
			var st ManagerStats
			if json.Unmarshal([]byte(line[2:]), &st) == nil {
				select {
				case c.stats <- st:
				default:
				}
			}
		}
	}
}

var errNoStats = errors.New("fleet: the manager did not answer a stats request")

// Stats asks the child for its statistics.
func (c *child) Stats() (ManagerStats, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, err := io.WriteString(c.stdin, "s\n"); err != nil {
		return ManagerStats{}, err
	}
	select {
	case st := <-c.stats:
		return st, nil
	case <-c.done:
		return ManagerStats{}, fmt.Errorf("fleet: the manager exited: %s", strings.TrimSpace(c.stderr.String()))
	case <-time.After(5 * time.Second):
		return ManagerStats{}, errNoStats
	}
}

// Close ends the child (closing its stdin) and waits for it.
func (c *child) Close() error {
	c.stdin.Close()
	select {
	case <-c.done:
	case <-time.After(10 * time.Second):
		c.cmd.Process.Kill()
	}
	if err := c.cmd.Wait(); err != nil {
		return fmt.Errorf("fleet: manager: %v: %s", err, strings.TrimSpace(c.stderr.String()))
	}
	return nil
}

// tailBuffer keeps the last few KiB written to it (the child's stderr).
type tailBuffer struct {
	mu  sync.Mutex
	buf []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if len(t.buf) > 4096 {
		t.buf = append(t.buf[:0], t.buf[len(t.buf)-4096:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.buf)
}
