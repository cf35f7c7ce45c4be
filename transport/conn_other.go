//go:build !linux

package transport

import "net/netip"

// Without SO_REUSEPORT semantics to rely on, a Group holds one socket.
const reusePortSupported = false

// Conn is one UDP socket. On this system it is the per-packet fallback: a
// net.UDPConn, one syscall per datagram, ReadBatch returning one message.
type Conn struct {
	*perPacket
}

func openConn(ap netip.AddrPort, cfg Config, _ bool) (*Conn, error) {
	p, err := openPerPacket(ap, cfg)
	if err != nil {
		return nil, err
	}
	return &Conn{p}, nil
}
