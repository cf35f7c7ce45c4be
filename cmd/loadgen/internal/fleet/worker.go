package fleet

import (
	"math/rand/v2"
	"time"

	"github.com/swimwheel/swimwheel/wire"
)

// role is what the fault plan makes of a worker.
type role uint8

const (
	roleHealthy role = iota
	roleCrash
	rolePause
	roleLong
	roleStuck
	rolePartition
	numRoles
)

var roleNames = [numRoles]string{"healthy", "crash", "pause", "long", "stuck", "partition"}

func (r role) String() string { return roleNames[r] }

// worker is one simulated worker. It belongs to one socket and is read and
// written only under that socket's lock.
type worker struct {
	inc       uint64 // high 32 bits: the worker's index (see the package doc)
	ticket    wire.Ticket
	completed uint64        // long jobs: items done, grows per request
	nextExt   time.Duration // busy: next extension request (fleet clock)
	nextCheck time.Duration // long: next check-in heartbeat
	joinAt    time.Duration // last join sent
	reqID     uint32
	role      role
	joined    bool // holds a ticket
	everJoin  bool // joined at least once
	stopped   bool // a busy worker told it was evicted: silent from then on
}

// assignRoles draws the fault sets: disjoint, sizes rounded to the nearest
// worker, from seed.
func assignRoles(ws []worker, cfg *Config) [numRoles]int {
	perm := rand.New(rand.NewPCG(cfg.Seed, 0x5eed)).Perm(len(ws))
	var counts [numRoles]int
	next := 0
	take := func(r role, share float64) {
		n := int(share*float64(len(ws)) + 0.5)
		for ; n > 0 && next < len(perm); n-- {
			ws[perm[next]].role = r
			next++
			counts[r]++
		}
	}
	take(roleCrash, cfg.Crash)
	take(rolePause, cfg.Pause)
	take(roleLong, cfg.Long)
	take(roleStuck, cfg.Stuck)
	take(rolePartition, cfg.Partition)
	counts[roleHealthy] = len(ws) - next
	return counts
}
