// Package detector is swimwheel's manager-side failure detector: a pure state
// machine. Messages (join, heartbeat, ack, indirect ack, nack, extension
// request, leave) and the current time go in; events and messages to send
// come out. It starts no goroutine, opens no socket, reads no clock and draws
// every random choice (probe helpers) from a source seeded by Config.Seed, so
// the same inputs at the same times give the same outputs.
//
// # One authority for time
//
// Every worker owns one slot of a wheel.Wheel, and whatever the worker waits
// for lives in that slot's deadline: the alive deadline, a probe timeout, the
// end of a suspicion window, the end of a dead or left record's retention.
// Heartbeats push it later, extension grants move it, expiry drives every
// transition. There is no other store of deadlines.
//
// # Concurrency
//
// HeartbeatFast, HeartbeatFastBatch, Lookup and Workers may be called from
// any goroutine at any time. Every other method must be called from one goroutine at a time (the
// manager's loop). HeartbeatFast is the hot path: a ticket (slot and
// generation) indexes the worker's record, one atomic load checks the
// incarnation, and one atomic max-store on the wheel slot moves the
// deadline. It applies only to an alive worker in a clean extension cycle,
// which is exactly when its slot is "pushable"; any other case returns false
// and the caller hands the heartbeat to the loop. Before the loop reads and
// rewrites an alive worker's deadline it seals the slot, so that no fast push
// can land in between and be lost. HeartbeatFastBatch is HeartbeatFast over
// a received batch, in order; it loads the records and slot words of up to
// 64 heartbeats before it applies them, so that their cache misses overlap.
//
// Events and messages produced by a call are handed over in one batch each,
// synchronously, at the end of that call (Config.OnEvents, Config.OnSend).
// Per worker they are in order; across workers they are in the order things
// happened.
//
// # Decisions where DESIGN.md is silent
//
//   - A worker's status deadline: alive, the slot's deadline (during a probe
//     round, the probe timeout); suspect, the end of its suspicion window.
//   - An extension request during a probe round ends the round. Granted, the
//     deadline becomes now + grant. Denied, the worker is suspected at once:
//     its deadline is gone and it was refused more time.
//   - A join of a suspect worker is treated as a heartbeat, as for an alive
//     one. A join of a left worker starts a new life at any incarnation; a
//     dead worker needs a higher incarnation.
//   - While suspect, a probing detector pings the worker every probe timeout
//     with the suspect flag set until the window ends.
//   - The local health multiplier rises by one when a ping-req round fails
//     without a single nack from the helpers asked, and when an Advance's first expiry was due more
//     than LateTicks ticks before the Advance ran (judged on real expiries:
//     NextDeadline is only a lower bound); it falls by one when an ack ends a
//     probe round, when an Advance is on time again after a late one, and
//     after every suspicion window (Suspicion) without a change, checked as
//     expiries fire: a fleet that heartbeats is rarely probed, so success
//     of probes alone would leave a raised score up for good.
//     The lhm event is stamped with the tick of that expiry.
//   - The brake looks at the share of the fleet (alive + suspect workers)
//     that is suspect now. Above Brake it engages: evictions pass a GCRA
//     limiter of EvictionRate x fleet per second with one second of burst.
//     Above BrakeStop it stops: due evictions are looked at again every
//     second. Workers held by the brake stay suspect and may still refute.
//     A brake event is emitted at every change of state.
//   - Lifeguard: the suspicion window with c of K confirmations is
//     max(SuspicionMin, Suspicion - (Suspicion-SuspicionMin) x log(c+1)/log(K+1)),
//     and every probe timeout and suspicion window is multiplied by LHM+1.
package detector
