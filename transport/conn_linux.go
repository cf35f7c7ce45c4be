//go:build linux

package transport

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

const reusePortSupported = true

// Conn is one UDP socket read with recvmmsg and written with sendmmsg. The
// socket is blocking and stays outside the Go netpoller: ReadBatch takes
// every datagram already queued, up to the batch size, in one non-blocking
// raw syscall, and only when there is none parks its goroutine (and an OS
// thread) in recvmmsg with MSG_WAITFORONE, which returns as soon as one
// datagram is there. Close shuts the socket down, which wakes that reader.
//
// ReadBatch and WriteBatch may run at the same time; calls of the same method
// are serialised by a per-direction lock.
type Conn struct {
	// Immutable after openConn.
	file        *os.File
	rc          syscall.RawConn // holds the fd open while a syscall uses it
	family      int             // unix.AF_INET or unix.AF_INET6
	local       netip.AddrPort
	batch       int
	bufSize     int
	readBuffer  int
	writeBuffer int
	readFn      func(fd uintptr) bool // c.recv, bound once so that calls do not allocate
	writeFn     func(fd uintptr) bool // c.send, likewise

	// Atomic only.
	closed      atomic.Bool
	received    atomic.Uint64
	sent        atomic.Uint64
	dropped     atomic.Uint64 // the kernel's cumulative drop count, highest seen
	truncated   atomic.Uint64
	writeErrors atomic.Uint64
	readCalls   atomic.Uint64
	writeCalls  atomic.Uint64

	// rmu guards all following r* fields: the receive arrays, prebuilt so that
	// rhdrs[i] points at riov[i] (-> rbuf slot i), rnames[i] and roob slot i.
	rmu    sync.Mutex
	rbuf   []byte
	rhdrs  []unix.Mmsghdr
	riov   []unix.Iovec
	rnames []unix.RawSockaddrInet6
	roob   []byte
	rvlen  int           // in: messages asked of recvmmsg
	rgot   int           // out: messages received
	rdirty int           // rhdrs[:rdirty] were written by the kernel since their reset
	rerr   syscall.Errno // out

	// wmu guards all following w* fields: the send arrays, wiov[i] and
	// wnames[i] hung on whdrs[i] once; Base and the name are set per call.
	wmu    sync.Mutex
	whdrs  []unix.Mmsghdr
	wiov   []unix.Iovec
	wnames []unix.RawSockaddrInet6
	widx   []int // whdrs[i] carries ms[widx[i]]
	wfrom  int   // in: first header to send
	wvlen  int   // in: headers to send
	wgot   int   // out
	werr   syscall.Errno
}

var oobSlot = unix.CmsgSpace(4) // one SO_RXQ_OVFL control message (a uint32)

// openConn creates, configures and binds one blocking UDP socket. An invalid
// ap.Addr() means every address: a dual-stack IPv6 socket, or IPv4 only where
// IPv6 is unavailable.
func openConn(ap netip.AddrPort, cfg Config, reusePort bool) (*Conn, error) {
	addr := ap.Addr()
	family := unix.AF_INET6
	if addr.Is4() {
		family = unix.AF_INET
	}
	fd, err := unix.Socket(family, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, unix.IPPROTO_UDP)
	if err != nil && !addr.IsValid() && family == unix.AF_INET6 {
		family = unix.AF_INET
		fd, err = unix.Socket(family, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, unix.IPPROTO_UDP)
	}
	if err != nil {
		return nil, os.NewSyscallError("socket", err)
	}
	c, err := setupSocket(fd, family, ap, cfg, reusePort)
	if err != nil {
		unix.Close(fd)
		return nil, err
	}
	return c, nil
}

func setupSocket(fd, family int, ap netip.AddrPort, cfg Config, reusePort bool) (*Conn, error) {
	if family == unix.AF_INET6 {
		// Dual stack: IPv4 peers arrive as ::ffff:a.b.c.d and are unmapped.
		if err := unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_V6ONLY, 0); err != nil {
			return nil, os.NewSyscallError("setsockopt IPV6_V6ONLY", err)
		}
	}
	if reusePort {
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEPORT, 1); err != nil {
			return nil, os.NewSyscallError("setsockopt SO_REUSEPORT", err)
		}
	}
	// Each datagram then carries the socket's cumulative drop count.
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RXQ_OVFL, 1); err != nil {
		return nil, os.NewSyscallError("setsockopt SO_RXQ_OVFL", err)
	}
	rb, err := sizeBuffer(fd, unix.SO_RCVBUFFORCE, unix.SO_RCVBUF, cfg.ReadBuffer)
	if err != nil {
		return nil, err
	}
	wb, err := sizeBuffer(fd, unix.SO_SNDBUFFORCE, unix.SO_SNDBUF, cfg.WriteBuffer)
	if err != nil {
		return nil, err
	}
	if err := unix.Bind(fd, bindAddr(family, ap)); err != nil {
		return nil, os.NewSyscallError(fmt.Sprintf("bind %v", ap), err)
	}
	sa, err := unix.Getsockname(fd)
	if err != nil {
		return nil, os.NewSyscallError("getsockname", err)
	}
	var local netip.AddrPort
	switch sa := sa.(type) {
	case *unix.SockaddrInet4:
		local = netip.AddrPortFrom(netip.AddrFrom4(sa.Addr), uint16(sa.Port))
	case *unix.SockaddrInet6:
		local = netip.AddrPortFrom(netip.AddrFrom16(sa.Addr).Unmap(), uint16(sa.Port))
	}
	file := os.NewFile(uintptr(fd), "udp "+local.String())
	rc, err := file.SyscallConn()
	if err != nil {
		// file owns fd now; the caller's Close of fd must not run twice.
		file.Close()
		return nil, err
	}
	c := &Conn{
		file: file, rc: rc, family: family, local: local,
		batch: cfg.Batch, bufSize: cfg.BufSize, readBuffer: rb, writeBuffer: wb,
	}
	c.readFn = c.recv
	c.writeFn = c.send
	c.prebuild()
	return c, nil
}

// sizeBuffer asks for size bytes, first past the rmem_max/wmem_max cap
// (allowed with CAP_NET_ADMIN), else within it, and returns what was granted.
func sizeBuffer(fd, force, plain, size int) (int, error) {
	if unix.SetsockoptInt(fd, unix.SOL_SOCKET, force, size) != nil {
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, plain, size); err != nil {
			return 0, os.NewSyscallError("setsockopt buffer size", err)
		}
	}
	got, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, plain)
	if err != nil {
		return 0, os.NewSyscallError("getsockopt buffer size", err)
	}
	return got, nil
}

func bindAddr(family int, ap netip.AddrPort) unix.Sockaddr {
	if family == unix.AF_INET {
		sa := &unix.SockaddrInet4{Port: int(ap.Port())}
		if ap.Addr().IsValid() {
			sa.Addr = ap.Addr().Unmap().As4()
		}
		return sa
	}
	sa := &unix.SockaddrInet6{Port: int(ap.Port())}
	if ap.Addr().IsValid() {
		sa.Addr = ap.Addr().As16()
	}
	return sa
}

// prebuild allocates the receive and send arrays and links them once.
func (c *Conn) prebuild() {
	n := c.batch
	c.rbuf = make([]byte, n*c.bufSize)
	c.rhdrs = make([]unix.Mmsghdr, n)
	c.riov = make([]unix.Iovec, n)
	c.rnames = make([]unix.RawSockaddrInet6, n)
	c.roob = make([]byte, n*oobSlot)
	for i := range n {
		c.riov[i].Base = &c.rbuf[i*c.bufSize]
		c.riov[i].SetLen(c.bufSize)
		h := &c.rhdrs[i].Hdr
		h.Name = (*byte)(unsafe.Pointer(&c.rnames[i]))
		h.Iov = &c.riov[i]
		h.SetIovlen(1)
		h.Control = &c.roob[i*oobSlot]
	}
	c.resetHeaders(n)
	c.whdrs = make([]unix.Mmsghdr, n)
	c.wiov = make([]unix.Iovec, n)
	c.wnames = make([]unix.RawSockaddrInet6, n)
	c.widx = make([]int, n)
	for i := range n {
		h := &c.whdrs[i].Hdr
		h.Name = (*byte)(unsafe.Pointer(&c.wnames[i]))
		h.Iov = &c.wiov[i]
		h.SetIovlen(1)
	}
}

// resetHeaders readies rhdrs[:n] for recvmmsg to fill.
func (c *Conn) resetHeaders(n int) {
	for i := range n {
		h := &c.rhdrs[i]
		h.Hdr.Namelen = unix.SizeofSockaddrInet6
		h.Hdr.SetControllen(oobSlot)
		h.Hdr.Flags = 0
		h.Len = 0
	}
}

// recv runs recvmmsg on the fd the RawConn lends, and always reports done:
// the socket is blocking and outside the netpoller, so there is nothing to
// poll for.
//
// It first tries without blocking (MSG_DONTWAIT) in a raw syscall, which
// the runtime does not see: a call that cannot sleep does not need the
// scheduler's help, and a busy socket, read after the manager's linger,
// always has datagrams queued. A scheduled syscall would cost more there:
// sysmon takes the P of any syscall longer than 20µs, which a recvmmsg of a
// full batch is, and each hand-off is a thread wake-up that also keeps
// sysmon polling every 20µs. The price is that the P stays busy for the
// call, about a millisecond for a full batch of 1024 (the largest).
//
// Only when the queue is empty does it sleep, in a scheduled recvmmsg with
// MSG_WAITFORONE that returns once a datagram is there (or Close shuts the
// socket down).
func (c *Conn) recv(fd uintptr) bool {
	r, _, e := unix.RawSyscall6(unix.SYS_RECVMMSG, fd,
		uintptr(unsafe.Pointer(&c.rhdrs[0])), uintptr(c.rvlen), unix.MSG_DONTWAIT, 0, 0)
	if e == unix.EAGAIN {
		r, _, e = unix.Syscall6(unix.SYS_RECVMMSG, fd,
			uintptr(unsafe.Pointer(&c.rhdrs[0])), uintptr(c.rvlen), unix.MSG_WAITFORONE, 0, 0)
	}
	c.rgot, c.rerr = int(r), e
	return true
}

// send runs sendmmsg like recv runs recvmmsg: raw and without blocking
// first, and only if the send buffer is full, scheduled and blocking.
func (c *Conn) send(fd uintptr) bool {
	r, _, e := unix.RawSyscall6(unix.SYS_SENDMMSG, fd,
		uintptr(unsafe.Pointer(&c.whdrs[c.wfrom])), uintptr(c.wvlen), unix.MSG_DONTWAIT, 0, 0)
	if e == unix.EAGAIN {
		r, _, e = unix.Syscall6(unix.SYS_SENDMMSG, fd,
			uintptr(unsafe.Pointer(&c.whdrs[c.wfrom])), uintptr(c.wvlen), 0, 0, 0)
	}
	c.wgot, c.werr = int(r), e
	return true
}

// ReadBatch implements PacketConn. Datagrams longer than BufSize are counted
// in Stats.Truncated and discarded.
func (c *Conn) ReadBatch(ms []Message) (int, error) {
	if len(ms) == 0 {
		return 0, nil
	}
	c.rmu.Lock()
	defer c.rmu.Unlock()
	vlen := min(len(ms), c.batch)
	for {
		if c.closed.Load() {
			return 0, net.ErrClosed
		}
		// Reset the headers the kernel wrote in the last call: it writes a
		// header's name length, control length, flags and length only for
		// the datagrams it returns, so the rest are still as reset: a call
		// resets as many headers as the one before it returned, not the
		// whole batch.
		c.resetHeaders(c.rdirty)
		c.rvlen = vlen
		if err := c.rc.Read(c.readFn); err != nil {
			return 0, net.ErrClosed // the file is closed
		}
		c.readCalls.Add(1)
		c.rdirty = max(c.rgot, 0) // -1 with an error: nothing written
		switch {
		case c.rerr == unix.EINTR || c.rerr == unix.EAGAIN:
			continue
		case c.rerr != 0:
			if c.closed.Load() {
				return 0, net.ErrClosed
			}
			return 0, os.NewSyscallError("recvmmsg", c.rerr)
		}
		n := 0
		for i := range c.rgot {
			h := &c.rhdrs[i]
			if h.Hdr.Namelen == 0 {
				// A shut-down socket yields one empty message without a
				// source address (a real datagram always has one): Close
				// is under way, and closed is already set.
				if c.closed.Load() {
					return 0, net.ErrClosed
				}
				continue
			}
			c.noteDrops(h, i)
			if h.Hdr.Flags&unix.MSG_TRUNC != 0 {
				c.truncated.Add(1)
				continue
			}
			size := int(h.Len)
			off := i * c.bufSize
			// Field by field: a Message built whole is assembled on the
			// stack and copied in 16-byte moves, each of which waits for
			// the narrower stores that built it.
			m := &ms[n]
			m.Addr = c.peer(i)
			m.Data = c.rbuf[off : off+size : off+size]
			m.N = size
			n++
		}
		if n > 0 {
			c.received.Add(uint64(n))
			return n, nil
		}
	}
}

// noteDrops reads the SO_RXQ_OVFL counter of message i, if the kernel sent
// one (it does once the count is non-zero), and keeps the highest seen.
func (c *Conn) noteDrops(h *unix.Mmsghdr, i int) {
	if int(h.Hdr.Controllen) < unix.CmsgLen(4) {
		return
	}
	oob := c.roob[i*oobSlot : (i+1)*oobSlot]
	cm := (*unix.Cmsghdr)(unsafe.Pointer(&oob[0]))
	if cm.Level != unix.SOL_SOCKET || cm.Type != unix.SO_RXQ_OVFL || int(cm.Len) < unix.CmsgLen(4) {
		return
	}
	v := uint64(*(*uint32)(unsafe.Pointer(&oob[unix.CmsgLen(0)])))
	// Only this reader stores (under rmu), so load-then-store cannot lose a
	// larger value; Stats readers see either the old or the new count.
	if v > c.dropped.Load() {
		c.dropped.Store(v)
	}
}

// peer decodes the source address of received message i.
func (c *Conn) peer(i int) netip.AddrPort {
	sa := &c.rnames[i]
	if sa.Family == unix.AF_INET {
		sa4 := (*unix.RawSockaddrInet4)(unsafe.Pointer(sa))
		return netip.AddrPortFrom(netip.AddrFrom4(sa4.Addr), portOf(&sa4.Port))
	}
	return netip.AddrPortFrom(netip.AddrFrom16(sa.Addr).Unmap(), portOf(&sa.Port))
}

// portOf reads a port stored in network byte order.
func portOf(p *uint16) uint16 {
	b := (*[2]byte)(unsafe.Pointer(p))
	return uint16(b[0])<<8 | uint16(b[1])
}

func putPort(p *uint16, port uint16) {
	b := (*[2]byte)(unsafe.Pointer(p))
	b[0], b[1] = byte(port>>8), byte(port)
}

// setName writes ap as the destination of send header i.
func (c *Conn) setName(i int, ap netip.AddrPort) error {
	if err := checkDest(ap); err != nil {
		return err
	}
	sa := &c.wnames[i]
	h := &c.whdrs[i].Hdr
	if c.family == unix.AF_INET {
		a := ap.Addr().Unmap()
		if !a.Is4() {
			return fmt.Errorf("%w: IPv6 destination %v on an IPv4 socket", ErrAddress, ap)
		}
		sa4 := (*unix.RawSockaddrInet4)(unsafe.Pointer(sa))
		sa4.Family = unix.AF_INET
		putPort(&sa4.Port, ap.Port())
		sa4.Addr = a.As4()
		h.Namelen = unix.SizeofSockaddrInet4
		return nil
	}
	sa.Family = unix.AF_INET6
	putPort(&sa.Port, ap.Port())
	sa.Flowinfo = 0
	sa.Addr = ap.Addr().As16() // IPv4 becomes ::ffff:a.b.c.d
	sa.Scope_id = 0
	h.Namelen = unix.SizeofSockaddrInet6
	return nil
}

// WriteBatch implements PacketConn.
func (c *Conn) WriteBatch(ms []Message) (int, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	sent := 0
	var first error
	fail := func(i int, err error) {
		c.writeErrors.Add(1)
		if first == nil {
			first = fmt.Errorf("transport: send to %v: %w", ms[i].Addr, err)
		}
	}
	for next := 0; next < len(ms); {
		if c.closed.Load() {
			return sent, net.ErrClosed
		}
		k := 0
		for ; next < len(ms) && k < c.batch; next++ {
			m := &ms[next]
			if err := c.setName(k, m.Addr); err != nil {
				fail(next, err)
				continue
			}
			if len(m.Data) > 0 {
				c.wiov[k].Base = &m.Data[0]
			} else {
				c.wiov[k].Base = nil
			}
			c.wiov[k].SetLen(len(m.Data))
			c.widx[k] = next
			k++
		}
		for from := 0; from < k; {
			c.wfrom, c.wvlen = from, k-from
			if err := c.rc.Write(c.writeFn); err != nil {
				return sent, net.ErrClosed
			}
			c.writeCalls.Add(1)
			switch {
			case c.werr == unix.EINTR || c.werr == unix.EAGAIN:
			case c.werr != 0:
				if c.closed.Load() {
					return sent, net.ErrClosed
				}
				// sendmmsg reports an error only for the first message
				// of the call: skip that one and go on.
				fail(c.widx[from], os.NewSyscallError("sendmmsg", c.werr))
				from++
			default:
				from += c.wgot
				sent += c.wgot
				c.sent.Add(uint64(c.wgot))
			}
		}
	}
	// Drop references to the caller's buffers.
	for i := range c.wiov {
		c.wiov[i].Base = nil
	}
	return sent, first
}

// LocalAddr implements PacketConn.
func (c *Conn) LocalAddr() netip.AddrPort { return c.local }

// Close implements PacketConn. It wakes a reader blocked in ReadBatch, which
// then returns net.ErrClosed.
func (c *Conn) Close() error {
	if !c.closed.CompareAndSwap(false, true) {
		return net.ErrClosed
	}
	// closed is stored before the shutdown, so a reader that the shutdown
	// wakes (recvmmsg returns no message) finds it set. close(2) alone would
	// not wake a thread blocked in recvmmsg. On an unconnected UDP socket
	// shutdown reports ENOTCONN but still marks the socket shut and wakes
	// its waiters, so that error is expected.
	var serr error
	cerr := c.rc.Control(func(fd uintptr) {
		serr = unix.Shutdown(int(fd), unix.SHUT_RDWR)
	})
	err := c.file.Close()
	if cerr != nil {
		return cerr
	}
	if serr != nil && !errors.Is(serr, unix.ENOTCONN) {
		return os.NewSyscallError("shutdown", serr)
	}
	return err
}

// Stats returns the counters of this socket.
func (c *Conn) Stats() Stats {
	return Stats{
		Received:    c.received.Load(),
		Sent:        c.sent.Load(),
		Dropped:     c.dropped.Load(),
		Truncated:   c.truncated.Load(),
		WriteErrors: c.writeErrors.Load(),
		ReadCalls:   c.readCalls.Load(),
		WriteCalls:  c.writeCalls.Load(),
		ReadBuffer:  c.readBuffer,
		WriteBuffer: c.writeBuffer,
	}
}
