package agent

import (
	"context"
	"errors"
	"net/netip"
	"testing"
	"time"

	"github.com/swimwheel/swimwheel/extension"
	"github.com/swimwheel/swimwheel/transport"
	"github.com/swimwheel/swimwheel/wire"
)

// loopbackManager is a fake manager on a real UDP socket, served by one
// goroutine: it welcomes joins, drops the first extension request and
// answers the others, and reports every message it receives on got.
type loopbackManager struct {
	conn transport.PacketConn
	got  chan wire.Message
	done chan struct{}
}

func startLoopbackManager(t *testing.T, ring *wire.Keyring) *loopbackManager {
	t.Helper()
	conn, err := transport.ListenConn("127.0.0.1:0", transport.Config{})
	if err != nil {
		t.Fatal(err)
	}
	m := &loopbackManager{conn: conn, got: make(chan wire.Message, 1024), done: make(chan struct{})}
	go m.serve(ring)
	return m
}

func (m *loopbackManager) serve(ring *wire.Keyring) {
	defer close(m.done)
	codec := wire.NewCodec(ring)
	seq := wire.NewSequence(uint64(time.Now().UnixNano()))
	ms := make([]transport.Message, 16)
	buf := make([]byte, wire.MaxMessageSize)
	reply := func(to netip.AddrPort, r wire.Message) {
		r.Seq = seq.Next()
		n, err := codec.Encode(buf, &r)
		if err == nil {
			_, _ = m.conn.WriteBatch([]transport.Message{{Addr: to, Data: buf[:n]}})
		}
	}
	dropped := false
	for {
		n, err := m.conn.ReadBatch(ms)
		if err != nil {
			return
		}
		for _, p := range ms[:n] {
			var msg wire.Message
			if codec.Decode(p.Data, &msg) != nil {
				continue
			}
			msg.WorkerID, msg.Reason = append([]byte(nil), msg.WorkerID...), append([]byte(nil), msg.Reason...)
			switch msg.Type {
			case wire.TypeJoin:
				reply(p.Addr, wire.Message{Type: wire.TypeWelcome, Status: wire.JoinAccepted, Ticket: ticket,
					Incarnation: msg.Incarnation, HeartbeatIntervalMS: 20, BaseMS: 30000})
			case wire.TypeExtensionRequest:
				if !dropped {
					dropped = true
				} else {
					reply(p.Addr, wire.Message{Type: wire.TypeExtensionResponse, Ticket: msg.Ticket, RequestID: msg.RequestID,
						Granted: true, GrantMS: 30000, DeadlineInMS: 45000, Remaining: 4})
				}
			}
			select {
			case m.got <- msg:
			default: // the test stopped listening
			}
		}
	}
}

// await returns the next message of type typ, skipping others.
func (m *loopbackManager) await(ctx context.Context, t *testing.T, typ wire.Type) wire.Message {
	t.Helper()
	for {
		select {
		case msg := <-m.got:
			if msg.Type == typ {
				return msg
			}
		case <-ctx.Done():
			t.Fatalf("no %v before the test deadline", typ)
		}
	}
}

func TestRunOverLoopback(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ring := testRing(t)
	mgr := startLoopbackManager(t, ring)
	defer func() {
		mgr.conn.Close()
		<-mgr.done
	}()

	a, err := New(Config{ID: "loop-1", Manager: mgr.conn.LocalAddr(), Keyring: ring,
		JoinBackoffMin: 10 * time.Millisecond, ExtensionRetry: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	runErr := make(chan error, 1)
	go func() { runErr <- a.Run(ctx) }()

	if j := mgr.await(ctx, t, wire.TypeJoin); string(j.WorkerID) != "loop-1" {
		t.Fatalf("join %+v", j)
	}
	for range 2 {
		if hb := mgr.await(ctx, t, wire.TypeHeartbeat); hb.Ticket != ticket {
			t.Fatalf("heartbeat %+v", hb)
		}
	}
	if s := a.State(); !s.Joined || s.Ticket != ticket {
		t.Fatalf("state %+v", s)
	}

	type result struct {
		d   Decision
		err error
	}
	res := make(chan result, 1)
	go func() {
		d, err := a.RequestExtension(ctx, extension.Progress{Completed: 3, Total: 9, HasCount: true}, "compaction")
		res <- result{d, err}
	}()
	first := mgr.await(ctx, t, wire.TypeExtensionRequest)
	second := mgr.await(ctx, t, wire.TypeExtensionRequest)
	if first.RequestID != second.RequestID || string(second.Reason) != "compaction" || second.Completed != 3 {
		t.Fatalf("requests %+v then %+v", first, second)
	}
	var r result
	select {
	case r = <-res:
	case <-ctx.Done():
		t.Fatal("no decision before the test deadline")
	}
	want := Decision{Granted: true, Grant: 30 * time.Second, DeadlineIn: 45 * time.Second, Remaining: 4}
	if r.err != nil || r.d != want {
		t.Fatalf("decision %+v, %v; want %+v", r.d, r.err, want)
	}

	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if l := mgr.await(ctx, t, wire.TypeLeave); l.Ticket != ticket {
		t.Fatalf("leave %+v", l)
	}
	select {
	case err := <-runErr:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-ctx.Done():
		t.Fatal("Run did not return after Close")
	}
	if _, err := a.RequestExtension(ctx, extension.Progress{}, ""); !errors.Is(err, ErrClosed) {
		t.Errorf("RequestExtension after Close: %v", err)
	}
}

func TestRunStopsWithContext(t *testing.T) {
	deadline, cancelAll := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancelAll()
	ring := testRing(t)
	mgr := startLoopbackManager(t, ring)
	defer func() {
		mgr.conn.Close()
		<-mgr.done
	}()
	a, err := New(Config{ID: "loop-2", Manager: mgr.conn.LocalAddr(), Keyring: ring})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(deadline)
	runErr := make(chan error, 1)
	go func() { runErr <- a.Run(ctx) }()
	mgr.await(deadline, t, wire.TypeJoin)
	cancel()
	select {
	case err := <-runErr:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Run: %v, want context.Canceled", err)
		}
	case <-deadline.Done():
		t.Fatal("Run did not return after its context ended")
	}
	if err := a.Run(deadline); !errors.Is(err, ErrRunning) {
		t.Errorf("second Run: %v", err)
	}
	if err := a.Close(); err != nil {
		t.Errorf("Close after Run: %v", err)
	}
}
