// Package agent is the worker side of swimwheel: it joins a manager, sends
// heartbeats, answers pings, relays ping-reqs for the manager's indirect
// probes, refutes suspicion by bumping its incarnation, re-joins after an
// eviction, asks for healthcheck extensions during long jobs (AD-26), and
// leaves on Close.
//
// # Layers
//
// Core is the protocol: a deterministic state machine with no goroutine,
// socket or clock read (STYLE.md, rule 1). Packets and the current time go
// in (Handle, Tick, SetBusy, Extend, Leave); packets to send come out in an
// Env's outbox; Next names the earliest of its timers (next join, next
// heartbeat, relay timeouts, the retry of an extension request), so that a
// driver arms one timer for it. Env holds what cores can share: the codec,
// the scratch messages, the outbox and the counters of dropped packets. A
// fleet simulator keeps one Env per goroutine and drives many cores with it;
// a Core is about 250 bytes (TestCoreSize), and heartbeats and ping answers
// allocate nothing (TestHotPathsDoNotAllocate).
//
// Agent wraps one Core and one Env with a mutex and the I/O: Run starts a
// reader goroutine, which hands each received batch to the core and sends
// what it queued, and runs one loop with one timer armed at Core.Next. Its
// Handle, Tick, Next and Outbox drive the core by hand for deterministic
// tests (on transport/memnet in virtual time), instead of Run.
//
// # Protocol, worker side
//
// Every packet is encoded with wire.Codec and signed with the shared
// keyring. Every packet the agent sends carries the next number of one
// wire.Sequence, which starts at the wall clock in nanoseconds when the
// agent is built (Config.FirstSeq overrides), so that the numbers keep
// increasing across restarts and the manager's replay window accepts them.
// Before each join the numbers are raised to the wall clock again (read at
// that moment): a manager that does not know the worker accepts its join
// only with a number close to its own clock (manager.Config.JoinFreshness),
// and one number a packet falls behind the clock within seconds. With FirstSeq set
// they are not raised; such an agent cannot rejoin a manager that holds
// joins to a freshness bound once it has been forgotten.
//
//   - Join{WorkerID, Incarnation} at start, again after a backoff drawn
//     uniformly from [b/2, b], where b starts at JoinBackoffMin and doubles
//     up to JoinBackoffMax (the jitter comes from Config.Seed), until a
//     Welcome arrives. JoinAccepted: keep the ticket, adopt the manager's
//     incarnation if higher, heartbeat every interval (Config, else the
//     Welcome's HeartbeatIntervalMS, else a quarter of its BaseMS, else 1s),
//     the first one at a random point in [interval/2, interval] so that
//     workers started together do not beat together. JoinStaleIncarnation:
//     the manager evicted this ID at Welcome.Incarnation; join at once with
//     that + 1. JoinFull: the backoff goes on.
//   - Heartbeat{Ticket, Incarnation} every interval while joined and not
//     busy.
//   - Ping{Ticket: ours} (from the manager, or from a helper relaying a
//     ping-req): Ack{Ticket, Incarnation, ProbeSeq} to the sender, unless
//     busy. A ping for another ticket (an earlier life) is ignored.
//   - PingReq{ProbeSeq, Ticket: target, Addr, Suspect} from the manager:
//     Ping{target, ProbeSeq, Suspect} to Addr, busy or not (relaying is
//     cheap and helps another worker). The relay is remembered (at most
//     MaxRelays; the oldest gives way, without a nack). The target's
//     Ack with the same ticket and ProbeSeq turns into IndirectAck{target,
//     the ack's incarnation, ProbeSeq} to the manager; without one within
//     RelayTimeout (default 250ms, half the manager's default probe
//     timeout), Nack{target, ProbeSeq}. Any other ack is ignored.
//   - Notice{Ticket: ours}: NoticeSuspect, unless busy: refute, raising our
//     incarnation above the suspected one if it is not already, and send a
//     heartbeat at once. NoticeDead: raise the incarnation past the dead one
//     and join again. NoticeLeft, NoticeUnknown: join again at the same
//     incarnation (if the manager refuses it as stale, the Welcome rule
//     raises it).
//   - ExtensionRequest{Ticket, Incarnation, RequestID, progress, Reason,
//     EstimatedCompletionMS}: sent at once (or at the Welcome when not
//     joined yet), again every ExtensionRetry with the same RequestID until
//     the ExtensionResponse with that RequestID and our ticket arrives.
//   - Leave{Ticket, Incarnation} on Close, sent twice (two sequence
//     numbers) against loss; no reply is expected.
//
// # Busy mode
//
// SetBusy(true), for a long job: heartbeats stop, pings are not answered
// and suspicion is not refuted. Only extension requests keep the worker
// alive, and the manager grants them only while progress increases, so a
// stuck job is evicted although its process lives. This is the project's
// answer to "an ack counts as a heartbeat" (DESIGN.md): an ack means as
// much as a heartbeat, so a worker that could not heartbeat must not ack
// either. Relays go on while busy. SetBusy(false) sends a heartbeat at once.
//
// A busy worker evicted (NoticeDead) does not join again until
// SetBusy(false): its job outlived what the manager allowed and the manager
// has given it up, so the worker comes back as a new life when it is free,
// not as the same one in a loop of join and eviction. Its pending extension
// request, and any started while evicted, is answered at once: denied,
// wire.DenialNotAlive. A busy worker told NoticeUnknown or NoticeLeft (a
// manager that lost its state) joins again at once, so that its extension
// requests have a ticket to travel with.
//
// # Decisions where DESIGN.md is silent
//
//   - A ping carries no incarnation on the wire, so a suspect ping raises
//     ours by one and the ack carries it: the manager suspects us at an
//     incarnation it learnt from us, at most ours. If that ack is lost, the
//     next suspect ping raises it again; incarnations only grow.
//   - Manager messages (Welcome, Notice, PingReq, ExtensionResponse, and
//     Ping from the manager) are accepted only from Config.Manager's address,
//     then checked against one 64-wide wire.ReplayWindow, after the tag
//     verified (a forged number far ahead cannot shut the manager out). The
//     keyring is shared by the whole fleet, so the address check keeps a
//     worker from posing as the manager by accident. Pings from helpers and
//     acks from targets carry other senders' sequence numbers: they are
//     protected by ticket and ProbeSeq matching instead, and a replayed
//     ping earns at most an ack that matches no relay. Note that the window
//     counts numbers, not packets: if the manager numbers all its packets
//     from one sequence, a packet overtaken in the network by a later one to
//     the same worker is dropped, as if lost.
//   - An accepted Welcome while joined refreshes the ticket and interval; a
//     stale or full Welcome while joined is a late answer, ignored.
//   - An extension retry carries the same RequestID, but the manager may
//     judge it as a new request: if the first request was granted and only
//     its response was lost, the retry (same progress) is denied
//     no-progress, and that is the decision returned, although the first
//     grant moved the deadline. A caller that sees no-progress after
//     progress it knows it made may simply ask again with more progress.
//   - A Decision's DeadlineIn counts from the response's arrival; the
//     manager counts from sending, so it reads late by at most the one-way
//     delay.
//   - Run ends when its context ends without a leave (a stop; the manager
//     evicts the worker in time); Close is the departure and sends it.
//
// Dropped packets are counted in Env.Stats (and State.Dropped): by wire
// fault for packets that fail to decode or verify (an unknown key is
// wire.FaultKeyID, a wrong one wire.FaultTag) and wire.FaultReplay for
// replays; Ignored for authentic packets that do not apply.
//
// # Concurrency
//
// Agent's methods are safe for concurrent use. Core and Env are not: one
// goroutine at a time drives a core and its Env.
package agent
