// Package manager is the I/O shell around the detector: what an embedder
// runs. It owns the sockets, the goroutines and the clock, feeds the
// detector, and sends what the detector wants sent.
//
//	m, err := manager.New(manager.Config{
//		Listen:   "0.0.0.0:7946",
//		Detector: detector.DefaultConfig(),
//		Keyring:  ring,
//		OnEvents: func(evs []detector.Event) { ... },
//	})
//	...
//	err = m.Run(ctx) // until ctx ends
//
// # Goroutines
//
// Run starts one reader goroutine per socket (several sockets share the
// port through SO_REUSEPORT; by default one for every two cores, see
// Config.Transport) and one loop goroutine. A reader takes each
// recvmmsg batch in passes: it decodes and verifies every packet, checks
// each sender's replay window (the windows sit in a dense 16-byte-a-worker
// array, warmed before they are checked so that the cache misses of a batch
// overlap), and applies all the plain heartbeats of the batch at once
// through the detector's lock-free HeartbeatFastBatch: a ticket indexes the
// worker's slot, one atomic max-store moves its deadline. Everything else
// (joins, acks, extension requests, leaves, and heartbeats the fast path
// refuses) is copied, in arrival order, into a reusable batch and handed to
// the loop with one channel send per received batch. After a short read a
// reader lingers (ReadLinger, 5ms) so that the kernel gathers the next
// packets into one batch. The loop owns the detector. Its one timer is
// armed at the wheel's next deadline or a poll interval from now (the
// longer of ReadLinger and the wheel's tick), whichever is first; when it
// goes off, the loop applies the batches the readers queued (readers do
// not wake it unless the queue is full), calls Advance if the wheel is
// due, and sends replies, pings and ping-reqs in batches.
// There is no timer per worker and no scan of the fleet.
//
// Receive and Advance are the same core without goroutines: a caller that
// owns the clock (a deterministic test on an in-memory network, a
// simulation) drives them directly.
//
// # Security
//
// Every packet is authenticated with the keyring (wire). Each worker slot
// keeps a 64-wide replay window over the worker's sequence numbers, checked
// after the tag verified; a join of a known worker must be newer than what
// its slot saw. A helper's indirect ack or nack carries no sender ticket; it
// counts only for the probe round under way (its ProbeSeq), so a recorded
// one replayed later is ignored. Agents start their sequence numbers at the
// wall clock in nanoseconds so that they keep increasing across restarts.
// A join of an unknown (never seen, or forgotten after retention) worker
// must carry a sequence number within Config.JoinFreshness (a quarter of the
// retention by default) of the manager's wall clock: agents raise their
// numbers to the wall clock before each join, and a recorded join replayed
// after its worker was forgotten is older than the retention, so it is
// dropped and counted in Stats.StaleJoins. The price is that a worker whose
// clock is off from the manager's by more than JoinFreshness cannot join
// (the counter, exported to Prometheus, tells an operator why);
// JoinFreshness -1 turns the check off. A restarted manager has forgotten
// everyone: joins recorded in the last JoinFreshness before the restart can
// be replayed once, each making a record evicted a base deadline plus a
// suspicion window later.
//
// # Observability
//
// Stats returns counters (packets in and out, bad packets by fault,
// authentication failures, replays, events by kind, tick lag, LHM, brake
// state); with MetricsAddr set they are also served as Prometheus text on
// /metrics and through expvar on /debug/vars. Logs go to Config.Logger
// (log/slog).
package manager
