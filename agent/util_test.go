package agent

import (
	"net/netip"
	"strings"
)

func netip0() netip.AddrPort { return netip.AddrPort{} }

func contains(s, sub string) bool { return strings.Contains(s, sub) }
