package fleet

import (
	"github.com/swimwheel/swimwheel/bench/naive"
	"github.com/swimwheel/swimwheel/detector"
	"github.com/swimwheel/swimwheel/wire"
)

// startNaive serves the naive baseline of bench/naive: the same wire
// format, so the same fleet drives it. It has no probing, brake or LHM.
func startNaive(sf serveFlags, ring *wire.Keyring, onEvents func([]detector.Event)) (*server, error) {
	m, err := naive.New(naive.Config{
		Listen:            sf.addr,
		Keyring:           ring,
		Base:              sf.base,
		Suspicion:         sf.suspicion,
		HeartbeatInterval: sf.heartbeat,
		OnEvents:          onEvents,
	})
	if err != nil {
		return nil, err
	}
	return &server{
		addr: func() string { return m.Addr().String() },
		run:  m.Run,
		stats: func() ManagerStats {
			s := m.Stats()
			return ManagerStats{
				Heartbeats: s.Heartbeats, PacketsIn: s.PacketsIn, PacketsOut: s.PacketsOut,
				Bad: s.Bad, Alive: s.Alive, Suspect: s.Suspect, Workers: s.Workers, Brake: "none",
			}
		},
	}, nil
}
