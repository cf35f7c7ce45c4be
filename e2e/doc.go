// Package e2e holds the end-to-end tests of swimwheel: one manager and a
// fleet of agents over real loopback UDP (manager.Run, agent.Run) and over
// the in-memory network in virtual time (manager.Receive/Advance, agent
// cores driven from one goroutine). It has no API; its tests are the
// acceptance tests of the network issue (crash detection within a bound,
// long jobs kept alive by extensions, stuck jobs evicted, forged, replayed
// and malformed packets counted and without effect, determinism).
//
// # Decisions
//
//   - Timings are shortened so that a run takes seconds: tick 10ms, base
//     deadline 1s, heartbeat interval 200ms, suspicion window 1s, probe
//     timeout 100ms, 3 indirect probes, extension grants of 1s (the minimum
//     grant; base/2^k is below it for k >= 1). The agents' relay timeout is
//     50ms, half the probe timeout, so that helpers' nacks reach the manager
//     before it gives up on the round (a missing nack raises its LHM).
//   - The mass-failure brake engages above 10% of the fleet suspect at once
//     by default; these tests crash exactly 10% plus a stuck worker, so the
//     brake is set to 25% to test the eviction bound itself. The brake has
//     its own scenario tests in detector/scenario.
//   - The eviction bound of a worker that stopped at time c (manager clock)
//     is c + base + [grants] + 2 probe timeouts x (L+1) + suspicion x (L+1)
//     plus 3 ticks and a slack, where L is the highest LHM the manager
//     reported up to the eviction (probe timeouts and suspicion windows are stretched by
//     LHM+1), the 3 ticks are the rounding of the three deadlines of the
//     probe phase and suspicion up to the wheel's tick, and slack covers the
//     time from the stop to the manager's stamp of the last heartbeat the
//     worker sent (network delay and scheduling); the earliest eviction
//     below is loosened by the same slack, for a late heartbeat timer. On
//     the in-memory network
//     slack is the link's largest one-way delay; on loopback it is stated in
//     the test. The earliest eviction is c - heartbeat interval + base +
//     suspicion window.
//   - In these scenarios the LHM reaches its ceiling (8): when 10% of the
//     fleet stops at once, about a quarter of the ping-req rounds pick a
//     stopped helper whose nack never comes, and each such round adds one;
//     in a fleet that heartbeats, no probe round succeeds to take it back
//     down. Suspicion then lasts 9s instead of 1s. The bound above follows
//     the LHM the manager reports, and the virtual-time runs last long
//     enough for the ceiling.
//   - The loopback agents use a per-datagram net.UDPConn in the netpoller
//     (udpConn in this package) instead of transport.ListenConn: a thousand
//     batched blocking sockets would park a thousand OS threads in
//     recvmmsg. The manager keeps the batched sockets of package transport.
package e2e
