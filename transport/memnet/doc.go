// Package memnet is an in-memory datagram network for deterministic tests of
// the whole stack: endpoints implement transport.PacketConn, so the manager
// and the agent run on it unchanged, with no real socket involved.
//
// Time is virtual. WriteBatch never delivers anything: it copies each
// datagram and schedules it at now + the path's delay. Advance(now) moves the
// clock and puts every datagram due by then into its receiver's queue, in
// order of delivery time, ties broken by the order of sending. A driver that
// runs everything in one goroutine reads with the non-blocking Poll and asks
// Next for the time of the next delivery; goroutine-based code uses the
// blocking ReadBatch, which returns once Advance delivered something or the
// endpoint was closed.
//
// Faults: per-path (SetLink) or default (SetDefault) loss, duplication,
// reordering, fixed delay and jitter; partitions of a set of endpoints from
// the rest, in one direction or both; blocks of a single directed path. Every
// random choice comes from one PCG source seeded by New, drawn in the order of
// the calls, so the same seed and the same sequence of calls give the same
// deliveries, byte for byte. Calls from several goroutines are safe, but only
// a fixed order of calls gives a fixed outcome.
//
// Decisions: a partition or block is judged when a datagram is sent (one
// already in flight still arrives); a destination with no endpoint is judged
// when the datagram is due (an endpoint listening by then receives it); each
// endpoint holds at most SetQueueLimit unread datagrams (default 4096), like a
// socket buffer, and drops the rest. Data returned by Poll and ReadBatch is
// overwritten by the next read on the endpoint, exactly as with UDP sockets,
// so code that keeps it too long fails here too. Stats counts what was sent,
// duplicated, reordered, delivered and dropped, by reason.
//
// One mutex serialises the whole network: it is a test fixture, and a single
// order of events is the point.
package memnet
