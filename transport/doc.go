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
// recvmmsg). ReadBatch calls recvmmsg(2) with MSG_WAITFORONE: it sleeps in the
// kernel until one datagram is there, then takes every datagram already
// queued, up to Config.Batch, in one syscall. Measured on the development
// machine, this beat both a netpoller loop of recvfrom and recvmmsg on a
// non-blocking socket (which pays an extra EAGAIN round and a netpoller
// wake-up whenever the queue runs dry): the kernel is 80-96% of the receive
// cost, so the fewer crossings, the better. The price is one OS thread parked
// in the kernel per idle socket, which is why the socket count is small.
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
