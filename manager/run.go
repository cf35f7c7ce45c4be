package manager

import (
	"context"
	"errors"
	"net"
	"sync"
	"time"

	"github.com/swimwheel/swimwheel/transport"
	"github.com/swimwheel/swimwheel/wheel"
)

// Run serves until ctx ends, then shuts down cleanly: the sockets are
// closed, the reader goroutines return, and Run returns nil. It starts one
// reader goroutine per socket and one loop goroutine that owns the detector
// and its single timer. Call it once.
func (m *Manager) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var stopMetrics func()
	if m.cfg.MetricsAddr != "" {
		stop, err := m.serveMetrics(m.cfg.MetricsAddr)
		if err != nil {
			return err
		}
		stopMetrics = stop
	}
	m.log.Info("manager running", "addr", m.Addr().String(), "sockets", len(m.conns))

	var wg sync.WaitGroup
	errc := make(chan error, len(m.conns))
	for _, c := range m.conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := m.read(ctx, c); err != nil {
				errc <- err
				cancel()
			}
		}()
	}
	m.runLoop(ctx)
	// The loop is done: close the sockets so that blocked readers return.
	var closeErr error
	if m.group != nil {
		closeErr = m.group.Close()
	} else {
		for _, c := range m.conns {
			if err := c.Close(); err != nil && closeErr == nil {
				closeErr = err
			}
		}
	}
	wg.Wait()
	if stopMetrics != nil {
		stopMetrics()
	}
	m.log.Info("manager stopped")
	select {
	case err := <-errc:
		return err
	default:
	}
	if errors.Is(closeErr, net.ErrClosed) {
		closeErr = nil
	}
	return closeErr
}

// read is one reader goroutine: batched reads, the heartbeats of each read
// applied on the fast path in one batch, the rest handed to the loop one
// batch per read.
func (m *Manager) read(ctx context.Context, c transport.PacketConn) error {
	var rd reader
	rd.init(m.cfg.Keyring)
	msgs := make([]transport.Message, m.cfg.Transport.Batch)
	short := false
	for {
		if short && m.cfg.ReadLinger > 0 {
			// The last read was short: let the kernel gather the next
			// packets so that this call takes a batch, not one or two.
			// (Waiting here, after the last batch went to the loop, delays
			// no packet already read.)
			time.Sleep(m.cfg.ReadLinger)
		}
		n, err := c.ReadBatch(msgs)
		// A read that did not fill the batch emptied the socket's queue
		// (recvmmsg takes what is there, up to the batch): reading again
		// at once would take the few packets that arrived meanwhile, in a
		// syscall of its own, or block for the next one.
		short = n < len(msgs)
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return nil
			}
			return err
		}
		m.ingest(&rd, m.Now(), msgs[:n])
		if len(rd.cur.items) == 0 {
			continue
		}
		if !m.handOff(ctx, rd.cur) {
			return nil
		}
		select {
		case rd.cur = <-m.free:
		default:
			rd.cur = &batch{items: make([]inbound, 0, 64)}
		}
	}
}

// handOff queues a batch for the loop. It does not wake the loop: the
// loop comes for the queue at least every poll interval (see runLoop), and
// waking it for each of the hundreds of batches a second a busy manager
// reads was most of the Go scheduler's work, and of its thread wake-ups.
// With ReadLinger negative (no batching wanted), or when the queue is full,
// it wakes the loop. It reports false if ctx ended first.
func (m *Manager) handOff(ctx context.Context, b *batch) bool {
	select {
	case m.inbox <- b:
		if m.cfg.ReadLinger < 0 {
			m.kickLoop()
		}
		return true
	default:
	}
	m.kickLoop()
	select {
	case m.inbox <- b:
		return true
	case <-ctx.Done():
		return false
	}
}

// kickLoop wakes the loop if it is not already due to wake.
func (m *Manager) kickLoop() {
	select {
	case m.kick <- struct{}{}:
	default:
	}
}

// runLoop owns the detector. It wakes when its one timer goes off, armed
// at the wheel's next deadline or one poll interval from now, whichever is
// first, or when a reader kicks it (see handOff); it then applies every
// batch the readers queued, runs Advance if the wheel is due, and sends
// what all that produced. The poll interval is the larger of ReadLinger and
// the wheel's tick (10ms by default): a busy wheel is due every tick, so
// one wake-up serves both. A forwarded packet (a join, an ack, an
// extension request) thus waits up to a poll interval in the queue, and
// every packet handed off before a wake-up is applied before that wake-up's
// Advance. The price: an idle manager still wakes once a poll interval (100
// times a second by default).
func (m *Manager) runLoop(ctx context.Context) {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	var want wheel.Time // the wheel's next deadline, as of the last arm
	var armed bool      // there was one (else want is a second later)
	poll := wheel.Time(max(m.cfg.ReadLinger, m.cfg.Detector.Tick))
	arm := func() {
		now := m.Now()
		next, ok := m.det.NextDeadline()
		if !ok {
			next = now + wheel.Time(time.Second)
		}
		want, armed = next, ok
		if m.cfg.ReadLinger > 0 {
			next = min(next, now+poll)
		}
		timer.Reset(max(0, time.Duration(next-now)))
	}
	arm()
	for {
		select {
		case <-ctx.Done():
			return
		case <-m.kick:
		case <-timer.C:
		}
		now := m.Now()
		// Take every batch queued before sending anything, so that replies
		// go out in one sendmmsg, not one each.
		for more := true; more; {
			select {
			case b := <-m.inbox:
				m.process(now, b.items)
				b.items = b.items[:0]
				select {
				case m.free <- b:
				default:
				}
			default:
				more = false
			}
		}
		if now >= want {
			if armed {
				lag := int64(now - want)
				m.stats.tickLagLast.Store(lag)
				if lag > m.stats.tickLagMax.Load() {
					m.stats.tickLagMax.Store(lag)
				}
			}
			m.det.Advance(now)
		}
		m.publish()
		m.out.flush()
		arm()
	}
}
