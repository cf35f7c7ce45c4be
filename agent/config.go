package agent

import (
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"time"

	"github.com/swimwheel/swimwheel/transport"
	"github.com/swimwheel/swimwheel/wire"
)

// Defaults of the Config fields whose zero value means "default".
const (
	DefaultJoinBackoffMin = 100 * time.Millisecond
	DefaultJoinBackoffMax = 5 * time.Second
	DefaultRelayTimeout   = 250 * time.Millisecond
	DefaultExtensionRetry = 500 * time.Millisecond
	// DefaultHeartbeatInterval applies when neither Config nor the manager's
	// Welcome names an interval (nor a base deadline to derive one from).
	DefaultHeartbeatInterval = time.Second
)

// Errors of this package.
var (
	// ErrConfig is wrapped by every error about an invalid Config field.
	ErrConfig = errors.New("agent: invalid config")
	// ErrClosed: the agent was closed (or its Run returned).
	ErrClosed = errors.New("agent: closed")
	// ErrRunning: Run was called twice.
	ErrRunning = errors.New("agent: already running")
	// ErrReasonLen: an extension reason longer than wire.MaxReasonLen.
	ErrReasonLen = errors.New("agent: extension reason too long")
)

// Config configures an agent. Zero values of the optional fields take the
// defaults named beside them.
type Config struct {
	ID          string         // worker ID, 1..wire.MaxWorkerIDLen bytes
	Manager     netip.AddrPort // the manager's address
	Keyring     *wire.Keyring  // shared with the manager; required by New and NewEnv
	Incarnation uint64         // starting incarnation (default 0)

	// HeartbeatInterval overrides the manager's (Welcome); 0 takes the
	// manager's, or a quarter of its base deadline if it names none.
	HeartbeatInterval time.Duration
	// JoinBackoffMin and JoinBackoffMax bound the exponential backoff of
	// join retries (defaults 100ms and 5s).
	JoinBackoffMin, JoinBackoffMax time.Duration
	// RelayTimeout is how long a helper waits for its target's ack before it
	// reports a nack (default 250ms, half the manager's probe timeout).
	RelayTimeout time.Duration
	// ExtensionRetry is how long an extension request waits for its
	// response before it is sent again (default 500ms).
	ExtensionRetry time.Duration
	// Seed seeds the jitter of join retries and first heartbeats, and the
	// first request ID.
	Seed int64
	// FirstSeq is the first sequence number the agent sends; 0 takes the
	// wall clock in nanoseconds at construction, so that numbers keep
	// increasing across restarts (the manager's replay window drops old ones),
	// and raises them to the wall clock before every join (see the package
	// doc). Set it only for deterministic tests.
	FirstSeq uint64

	// Conn is the socket Run uses; nil opens one with transport.ListenConn on
	// an ephemeral port of the manager's address family. The agent owns it
	// and closes it when Run returns or on Close.
	Conn transport.PacketConn
	// Logger receives transitions (joined, evicted, refuted); nil discards.
	Logger *slog.Logger
}

func configErr(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrConfig}, args...)...)
}

// withDefaults validates the fields the per-worker core reads and fills the
// defaults. The Keyring is checked by the callers that need it.
func (cfg Config) withDefaults() (Config, error) {
	if len(cfg.ID) == 0 {
		return cfg, configErr("ID is empty")
	}
	if len(cfg.ID) > wire.MaxWorkerIDLen {
		return cfg, configErr("ID is %d bytes, at most %d", len(cfg.ID), wire.MaxWorkerIDLen)
	}
	a := cfg.Manager.Addr()
	if !a.IsValid() || cfg.Manager.Port() == 0 {
		return cfg, configErr("Manager %v is not an address with a port", cfg.Manager)
	}
	if a.Zone() != "" {
		return cfg, configErr("Manager %v has an IPv6 zone (not supported)", cfg.Manager)
	}
	if a.IsUnspecified() {
		return cfg, configErr("Manager %v is the unspecified address", cfg.Manager)
	}
	cfg.Manager = netip.AddrPortFrom(a.Unmap(), cfg.Manager.Port())
	for _, d := range []struct {
		name string
		v    time.Duration
	}{
		{"HeartbeatInterval", cfg.HeartbeatInterval},
		{"JoinBackoffMin", cfg.JoinBackoffMin},
		{"JoinBackoffMax", cfg.JoinBackoffMax},
		{"RelayTimeout", cfg.RelayTimeout},
		{"ExtensionRetry", cfg.ExtensionRetry},
	} {
		if d.v < 0 {
			return cfg, configErr("%s %v is negative", d.name, d.v)
		}
	}
	if cfg.JoinBackoffMin == 0 {
		cfg.JoinBackoffMin = DefaultJoinBackoffMin
	}
	if cfg.JoinBackoffMax == 0 {
		cfg.JoinBackoffMax = max(DefaultJoinBackoffMax, cfg.JoinBackoffMin)
	}
	if cfg.JoinBackoffMin > cfg.JoinBackoffMax {
		return cfg, configErr("JoinBackoffMin %v above JoinBackoffMax %v", cfg.JoinBackoffMin, cfg.JoinBackoffMax)
	}
	if cfg.RelayTimeout == 0 {
		cfg.RelayTimeout = DefaultRelayTimeout
	}
	if cfg.ExtensionRetry == 0 {
		cfg.ExtensionRetry = DefaultExtensionRetry
	}
	if cfg.FirstSeq > wire.MaxSeq {
		return cfg, configErr("FirstSeq %d above wire.MaxSeq", cfg.FirstSeq)
	}
	return cfg, nil
}
