// Package fleet is loadgen's fleet benchmark: a simulated fleet of workers
// on loopback UDP driving a manager, a fault plan, and the report.
//
// # Two processes
//
// The manager runs in a child process (the hidden subcommand
// `loadgen serve-manager`, see Serve) so that its CPU (user and system
// apart, from getrusage in the child, microsecond resolution) and its RSS
// (/proc/self/status) are its own, not the fleet's. The child prints its
// address, streams events as compact lines (kind, worker, wall-clock unix
// ns when the manager reported it, reason, incarnation) and answers a stats
// request per line of its stdin; it exits when stdin closes, so it never
// outlives the parent. Joined events are not streamed (the stats count
// them), so the pipe carries only the rare transitions. The key travels in
// the environment (SWIMWHEEL_KEY), which also gives the key of a manager
// driven with -target.
//
// # The workers
//
// W workers are multiplexed over a few sockets (default 8), worker i on
// socket i mod S. Each socket has a sender goroutine paced by a 10 ms
// ticker (the sockets' ticks staggered over the 10 ms) and a reader
// goroutine; both hold the socket's lock while they touch its workers and
// while they encode and send, so one socket's packets leave in sequence
// order: one wire.Sequence serves all sockets, which gives every worker
// increasing numbers, and the manager's 64-wide replay window per worker
// only has to absorb the reordering between sockets, never within one.
//
// The k-th of a socket's n workers heartbeats at k/n of every interval.
// Joins at start are paced (JoinRate, default 20,000/s) so the manager is
// not flooded; the measured run, and the fault plan's clock, start when
// every worker has joined.
//
// A Welcome does not echo the worker ID, so the fleet finds the worker a
// Welcome answers through the incarnation, which Welcome does echo: worker
// i joins with incarnation i<<32, and refutations only add to the low half.
// Pings, notices and extension responses are found by their ticket (a map
// per socket, filled from Welcomes). A ping-req names its target, not the
// helper it was sent to, so any worker of the receiving socket relays it:
// one ping per probe round, then one indirect ack (or, after half a probe
// timeout, one nack) per helper asked, since the manager counts missing
// nacks against its own health.
//
// # Fault plan
//
// Shares of the fleet, disjoint, drawn with the seed. Times scale with the
// duration (at 60 s they are the issue's): long jobs from 1/6 of the run,
// crash at 1/4, pause at 1/3 for 0.6 x base, partition at 1/2 for 2 x base
// (or -partition SHARE:DURATION). A crashed, paused or partitioned worker
// neither sends nor receives; a paused one heartbeats as soon as it
// resumes. A long-job worker sends no heartbeat and answers no ping: it asks
// for an extension every base/3 with a growing item count and checks in
// with a heartbeat every base (fewer requests per cycle than the policy's
// grants, so it is never suspected). A stuck worker asks with the same
// count every time: its first grant is free, the rest are denied
// "no-progress" until it is suspected and evicted; once told "not alive" it
// falls silent. -loss drops packets in both directions inside the workers,
// seeded per socket.
//
// # Figures
//
// Detection latency is measured from the planned crash instant (the
// senders stop within one 10 ms tick of it) on the parent's wall clock to
// the manager's event on the child's wall clock, the same clock. A false
// eviction is an eviction of a worker that had not failed at that time
// (healthy, paused, long-job, or a faulty one before its fault). Heartbeats
// sent and processed are counted over the measured run; the manager's
// count comes from its own counters. The naive baseline (bench/naive) runs
// the same fleet when -baseline is set.
package fleet
