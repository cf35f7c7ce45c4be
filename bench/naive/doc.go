// Package naive is the baseline manager that swimwheel's manager is measured
// against: what a Go developer writes first. It exists to be measured against
// in the same run (cmd/loadgen -baseline starts it in a child process and
// drives it with the same simulated fleet), never to be used. Do not embed it:
// use package manager.
//
// It speaks the same wire format as the real manager, with the same
// authentication, so that the fleet runs against it unchanged:
//
//   - one goroutine reads the socket with net.UDPConn.ReadFromUDPAddrPort,
//     one packet per call, and writes each reply with one
//     WriteToUDPAddrPort per packet;
//   - every packet is decoded and verified by a wire.Codec (the same
//     keyring), and the sender's wire.ReplayWindow is checked, as the real
//     manager does, so that both pay for the same authentication;
//   - workers live in a map[string]*worker under one sync.Mutex. The
//     tickets handed out in Welcome are indexes into a slice (under the same
//     mutex) that maps a ticket to the worker's ID, so a heartbeat costs a
//     slice index and then the map lookup a first version makes;
//   - each worker has one time.AfterFunc timer, Reset on every heartbeat to
//     its deadline (max(deadline, now+Base)). The same timer is re-armed for
//     each later phase: when the deadline passes the worker is suspected and
//     the timer re-armed for the suspicion window; when that passes too, the
//     worker is evicted and the timer re-armed for the retention of its
//     record; then the record is forgotten and its slot reused under a new
//     generation;
//   - extension requests are judged by extension.Policy.Decide on the
//     extension.State kept in the worker; a grant Resets the timer to the new
//     deadline.
//
// The transitions follow DESIGN.md's table like the detector does: a join
// of an unknown or left worker makes it alive; a dead worker re-joins only
// with a higher incarnation (else Welcome says stale-incarnation); a join of
// a known live worker counts as a heartbeat. A heartbeat with a lower
// incarnation is ignored; a heartbeat resets the extension cycle; a suspect
// worker is refuted only by a higher incarnation, and a heartbeat at the
// suspected incarnation is answered with a Notice "suspect". Heartbeats and
// extension requests of dead, left or unknown workers are answered with a
// Notice (dead, left, unknown) so that agents re-join, as the real manager
// does. A leave at the current incarnation or later marks the worker left.
//
// Deliberately absent, because a first version does not have them: no SWIM
// probing (no ping, no ping-req: a worker whose deadline passes is suspected
// at once, and acks, indirect acks and nacks are dropped as unexpected), no
// Lifeguard local health multiplier, no confirmations from peer managers
// (the suspicion window is fixed), no mass-failure brake, no batched system
// calls, no SO_REUSEPORT shards. No effort is made to avoid allocation per
// packet.
//
// Decisions where DESIGN.md is silent:
//
//   - Concurrency: the reader goroutine and the timers' goroutines all take
//     the one mutex. OnEvents is called with that mutex held, one event per
//     call, from whichever goroutine produced the event (the reader for
//     joined, refuted, extended, denied and left; a timer for suspected and
//     evicted), so that the events of one worker arrive in order. It must
//     not block for long and must not call back into the Manager, except
//     Stats, which reads atomic counters only.
//   - Sockets: the receive and send buffers are asked for 4 MiB each with
//     SetReadBuffer and SetWriteBuffer, the size the transport package asks
//     for, so that a comparison measures the handling, not a buffer knob
//     (the kernel caps both at net.core.rmem_max and wmem_max).
//   - Capacity: at most MaxWorkers workers (records of dead and left workers
//     included); a join beyond that is answered with Welcome "full".
//   - A send error (a worker's socket is gone) is counted and the reply
//     dropped; a read error other than the socket closing at shutdown ends
//     Run with that error.
//   - Event times (Event.At, Event.Deadline) are durations since New, like
//     the real manager's clock.
package naive
