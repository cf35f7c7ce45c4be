package transport

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
)

// perPacket is the portable fallback: a net.UDPConn in the netpoller, one
// syscall per datagram. It builds everywhere; conn_other.go uses it as Conn.
type perPacket struct {
	// Immutable after open.
	uc          *net.UDPConn
	local       netip.AddrPort
	bufSize     int
	readBuffer  int
	writeBuffer int

	// Atomic only.
	received    atomic.Uint64
	sent        atomic.Uint64
	truncated   atomic.Uint64
	writeErrors atomic.Uint64
	readCalls   atomic.Uint64
	writeCalls  atomic.Uint64

	// rmu guards buf.
	rmu sync.Mutex
	buf []byte // bufSize+1 bytes: a datagram that fills it was truncated
}

// openPerPacket binds one UDP socket with the standard library.
func openPerPacket(ap netip.AddrPort, cfg Config) (*perPacket, error) {
	ua := &net.UDPAddr{Port: int(ap.Port())}
	if ap.Addr().IsValid() {
		ua.IP = ap.Addr().AsSlice()
	}
	uc, err := net.ListenUDP("udp", ua)
	if err != nil {
		return nil, err
	}
	p := &perPacket{uc: uc, bufSize: cfg.BufSize, buf: make([]byte, cfg.BufSize+1)}
	// The sizes granted are not portably readable; report what was asked
	// only if the kernel accepted the request.
	if uc.SetReadBuffer(cfg.ReadBuffer) == nil {
		p.readBuffer = cfg.ReadBuffer
	}
	if uc.SetWriteBuffer(cfg.WriteBuffer) == nil {
		p.writeBuffer = cfg.WriteBuffer
	}
	la := uc.LocalAddr().(*net.UDPAddr).AddrPort()
	p.local = netip.AddrPortFrom(la.Addr().Unmap(), la.Port())
	return p, nil
}

// ReadBatch returns one datagram per call.
func (p *perPacket) ReadBatch(ms []Message) (int, error) {
	if len(ms) == 0 {
		return 0, nil
	}
	p.rmu.Lock()
	defer p.rmu.Unlock()
	for {
		n, addr, err := p.uc.ReadFromUDPAddrPort(p.buf)
		p.readCalls.Add(1)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return 0, net.ErrClosed
			}
			return 0, err
		}
		if n > p.bufSize {
			p.truncated.Add(1)
			continue
		}
		ms[0] = Message{Addr: netip.AddrPortFrom(addr.Addr().Unmap(), addr.Port()), Data: p.buf[:n:n], N: n}
		p.received.Add(1)
		return 1, nil
	}
}

// WriteBatch sends one datagram per syscall, skipping the ones refused.
func (p *perPacket) WriteBatch(ms []Message) (int, error) {
	sent := 0
	var first error
	for i := range ms {
		m := &ms[i]
		err := checkDest(m.Addr)
		if err == nil {
			p.writeCalls.Add(1)
			_, err = p.uc.WriteToUDPAddrPort(m.Data, m.Addr)
			if errors.Is(err, net.ErrClosed) {
				return sent, net.ErrClosed
			}
		}
		if err != nil {
			p.writeErrors.Add(1)
			if first == nil {
				first = fmt.Errorf("transport: send to %v: %w", m.Addr, err)
			}
			continue
		}
		sent++
	}
	p.sent.Add(uint64(sent))
	return sent, first
}

func (p *perPacket) LocalAddr() netip.AddrPort { return p.local }

func (p *perPacket) Close() error {
	if err := p.uc.Close(); err != nil {
		if errors.Is(err, net.ErrClosed) {
			return net.ErrClosed
		}
		return err
	}
	return nil
}

func (p *perPacket) Stats() Stats {
	return Stats{
		Received:    p.received.Load(),
		Sent:        p.sent.Load(),
		Truncated:   p.truncated.Load(),
		WriteErrors: p.writeErrors.Load(),
		ReadCalls:   p.readCalls.Load(),
		WriteCalls:  p.writeCalls.Load(),
		ReadBuffer:  p.readBuffer,
		WriteBuffer: p.writeBuffer,
	}
}
