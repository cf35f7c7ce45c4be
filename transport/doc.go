// Package transport moves datagrams for the manager and the agent: UDP sockets
// read and written in batches, behind the PacketConn interface that the
// in-memory network of package memnet implements as well.
//
// # Socket model
//
// Listen opens Config.Sockets sockets (default GOMAXPROCS) on one address with
// SO_REUSEPORT; the kernel hashes each flow (source and destination address
// and port) to one of them, so one worker's datagrams always reach the same
// socket, in order. Each socket is meant to be served by one goroutine of the
// caller, which calls ReadBatch in a loop. ListenConn opens a single socket
// without SO_REUSEPORT, for the worker side (usually port 0).
//
// An address with an empty host ("":7946) binds a dual-stack IPv6 socket
// (IPV6_V6ONLY off) that also receives IPv4; an IPv4 host binds an AF_INET
// socket. Addresses handed out are always in their plain form: an IPv4 peer
// of a dual-stack socket is reported as 1.2.3.4, never ::ffff:1.2.3.4. IPv6
// zones (link-local scope) are not supported.
//
// # Blocking sockets outside the netpoller
//
// On Linux each socket is created blocking with unix.Socket and wrapped in an
// os.File only for its syscall.RawConn, which keeps the descriptor open while
// a syscall uses it (so Close cannot let a number be reused under a running
// recvmmsg). ReadBatch first calls recvmmsg(2) with MSG_DONTWAIT as a raw
// syscall, which takes every datagram already queued, up to Config.Batch,
// without the scheduler's involvement; only when the queue is empty does it
// sleep in a scheduled recvmmsg with MSG_WAITFORONE, which returns as soon as
// one datagram is there. WriteBatch does the same with sendmmsg.
//
// Measured with loadgen at 200,000 workers (a heartbeat a second each), the
// raw first try cut the manager's CPU per heartbeat from 1463 to 1177 ns and
// its context switches from 4,900 to 2,900 a second: a scheduled syscall that
// runs longer than 20µs (a full batch does) has its P taken by sysmon, a
// thread wake-up each time, and keeps sysmon itself polling every 20µs. A
// non-blocking socket in the netpoller did worse still (2586 ns, 20,000
// switches a second): every arriving datagram wakes the thread waiting in
// epoll, even while the reader lingers. The kernel is most of the receive
// cost, so the fewer crossings and wake-ups, the better. The price of the
// blocking fallback is one OS thread parked in the kernel per idle socket,
// which is why the socket count is small; the price of the raw call is that
// its P cannot be preempted while the kernel copies a full batch out, so a
// stop-the-world phase of the collector may wait for it, at most about a
// millisecond for 1024 datagrams.
//
// WriteBatch calls sendmmsg(2) for up to Config.Batch messages at a time. The
// message headers, iovecs, address and control buffers are built once per
// socket, so neither direction allocates per datagram or per batch.
//
// Close first marks the conn closed, then shutdown(2)s the socket: that wakes
// a thread blocked in recvmmsg (close(2) alone would not), which returns one
// empty message without an address; ReadBatch then returns net.ErrClosed.
//
// # Drops and truncation
//
// Socket buffers are sized with SO_RCVBUFFORCE/SO_SNDBUFFORCE when the
// process may (CAP_NET_ADMIN), else with SO_RCVBUF/SO_SNDBUF within the
// system's cap; Stats reports what the kernel granted (Linux reports twice the
// payload size, counting its bookkeeping). SO_RXQ_OVFL makes the kernel attach
// the socket's cumulative drop count to each datagram once it is non-zero;
// Stats.Dropped is the highest count seen, so drops show up with the first
// datagram queued after them. A datagram longer than Config.BufSize arrives
// with MSG_TRUNC: it is counted in Stats.Truncated and discarded, never handed
// out cut short.
//
// WriteBatch attempts every message. A message with an unusable destination
// or that the kernel refuses is skipped and counted in Stats.WriteErrors; the
// call returns how many were sent and the first such error.
//
// # Fallback
//
// Elsewhere than Linux, Conn is a plain net.UDPConn in the netpoller, one
// syscall per datagram (ReadBatch returns one message per call), and a Group
// holds one socket. Truncation is detected by reading into a buffer one byte
// longer than BufSize. The interface and the counters are the same, except
// Dropped (always 0) and the granted buffer sizes (the requested ones, or 0).
//
// # Concurrency
//
// A Conn is safe for concurrent use: ReadBatch and WriteBatch each hold a
// per-direction lock, so the reader goroutine and writers do not contend
// with each other. Counters are atomics, read by Stats at any time.
package transport
