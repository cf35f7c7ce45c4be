package wheel

import (
	"errors"
	"fmt"
	"math/bits"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/swimwheel/swimwheel/internal/prefetch"
)

// Time is a monotonic instant in nanoseconds since the wheel's epoch. Zero is
// the caller's choice (for example process start). Durations are time.Duration.
type Time int64

// Defaults and limits of Config.
const (
	DefaultTick     = 10 * time.Millisecond
	DefaultMaxSlots = 1 << 24
	// MaxSlotsLimit is the largest accepted Config.MaxSlots: slot indices keep
	// their top bit free for the bucket links.
	MaxSlotsLimit = 1<<31 - 1
	// MaxShards is the largest accepted Config.Shards.
	MaxShards = 1 << 12
	// MaxTime is the latest deadline a slot can hold: 2^47-1 µs after the epoch
	// (about 4.46 years). Later deadlines are clamped to it.
	MaxTime Time = maxUs * 1000
)

var (
	// ErrConfig is wrapped by every error of Config.Validate.
	ErrConfig = errors.New("wheel: invalid config")
	// ErrFull is returned by Alloc when MaxSlots slots are in use.
	ErrFull = errors.New("wheel: all slots in use")
)

// Config configures a Wheel. The zero value is valid: every zero field takes
// its default.
type Config struct {
	Tick     time.Duration // granularity, a whole number of microseconds; default 10ms
	Shards   int           // power of two; default GOMAXPROCS rounded up to a power of two
	MaxSlots int           // capacity limit; default 1<<24; slots are allocated in chunks on demand
}

// Validate reports the first invalid field, wrapping ErrConfig.
func (c Config) Validate() error {
	switch {
	case c.Tick < 0:
		return fmt.Errorf("%w: Tick %v is negative", ErrConfig, c.Tick)
	case c.Tick != 0 && c.Tick%time.Microsecond != 0:
		return fmt.Errorf("%w: Tick %v is not a whole number of microseconds", ErrConfig, c.Tick)
	case c.Shards < 0:
		return fmt.Errorf("%w: Shards %d is negative", ErrConfig, c.Shards)
	case c.Shards > MaxShards:
		return fmt.Errorf("%w: Shards %d is above %d", ErrConfig, c.Shards, MaxShards)
	case c.Shards&(c.Shards-1) != 0:
		return fmt.Errorf("%w: Shards %d is not a power of two", ErrConfig, c.Shards)
	case c.MaxSlots < 0:
		return fmt.Errorf("%w: MaxSlots %d is negative", ErrConfig, c.MaxSlots)
	case c.MaxSlots > MaxSlotsLimit:
		return fmt.Errorf("%w: MaxSlots %d is above %d", ErrConfig, c.MaxSlots, MaxSlotsLimit)
	}
	return nil
}

func (c Config) withDefaults() Config {
	if c.Tick == 0 {
		c.Tick = DefaultTick
	}
	if c.Shards == 0 {
		c.Shards = 1 << bits.Len(uint(runtime.GOMAXPROCS(0)-1))
		if c.Shards > MaxShards {
			c.Shards = MaxShards
		}
	}
	if c.MaxSlots == 0 {
		c.MaxSlots = DefaultMaxSlots
	}
	return c
}

// Ticket names one life of a slot: a reused slot gets a new Gen so that old
// tickets fail. Allocated slots have odd generations, so the zero Ticket is
// never valid.
type Ticket struct {
	Slot uint32
	Gen  uint16
}

// Expired is one slot handed to Advance's fire callback.
type Expired struct {
	Ticket   Ticket
	Deadline Time // the deadline that expired, exact at the wheel's resolution (1 µs)
}

const (
	maxLevels = 8 // 6 bits a level: 48 bits of ticks, enough for MaxTime at a 1 µs tick
	levelBits = 6
	levelSize = 1 << levelBits
	chunkLog  = 12 // 4096 slots (64 KiB) a chunk
	chunkSize = 1 << chunkLog
	chunkMask = chunkSize - 1
	nilSlot   = ^uint32(0)
	headMark  = uint32(1) << 31 // link.prev of a bucket's first slot: headMark | bucket number
)

// link is a slot's place in a doubly linked list: a bucket while the slot is
// armed, the free list (next only) while it is free, nothing otherwise.
type link struct {
	next, prev uint32
}

// A chunk holds the slots [c*chunkSize, c*chunkSize+n), n = chunkSize but
// for the last chunk of a wheel whose MaxSlots is not a multiple of it, in
// one allocation of n words followed by n links and nothing else: no header,
// so a slot costs exactly its 16 bytes, and reaching a slot's word takes one
// load (the chunk's address in the table) and a constant mask. The table
// holds the address of the chunk's first word; word and link compute the
// others with unsafe.Add, always inside the allocation (they check the slot
// against MaxSlots first, and n follows from MaxSlots). The allocation holds
// no pointers, so the collector never scans it. Chunks are never freed or
// moved, so a lock-free reader that found a chunk can use it forever.
//
// A word is the slot's packed deadline|pushable|gen (see word.go). A link is
// guarded by the slot's shard lock while the slot is allocated and by
// Wheel.allocMu while it is free; the word's generation tells which, and its
// atomic store/load orders the hand-over.
func newChunk(n uint32) *atomic.Uint64 {
	// A link is as large and as aligned as a word, so one array of 2n
	// words holds both halves.
	return &make([]atomic.Uint64, 2*n)[0]
}

// chunkLen is n for the chunk holding slot s.
func (w *Wheel) chunkLen(s uint32) uint32 {
	return min(chunkSize, w.maxSlots-s&^chunkMask)
}

// shard owns the buckets of the slots whose index has the shard's number in
// its low bits. Its size is a multiple of a cache line, so neighbouring
// shards' locks never share one.
type shard struct {
	shardState
	_ [cacheLine - unsafe.Sizeof(shardState{})%cacheLine]byte
}

const cacheLine = 64

type shardState struct {
	mu sync.Mutex
	// mu guards all following fields.
	heads    [maxLevels][levelSize]uint32 // first slot of each bucket, nilSlot when empty
	occupied [maxLevels]uint64            // bit b of level L set iff heads[L][b] != nilSlot
	armed    atomic.Int64                 // armed slots of the shard; written under mu, read atomically by Armed
}

// Wheel is a sharded hierarchical timing wheel of atomic deadline slots. Its
// zero value is not usable: create one with New. All methods are safe for
// concurrent use, except that Advance must be called by one goroutine at a
// time (see Advance).
type Wheel struct {
	// Immutable after New.
	tick      time.Duration
	tickUs    int64 // tick in µs
	capTick   int64 // Advance never moves past this tick (the end of the time range)
	levels    int
	shardMask uint32
	maxSlots  uint32
	chunks    []atomic.Pointer[atomic.Uint64] // first word of each chunk; fixed table sized from MaxSlots; entries set once, under allocMu
	shards    []shard
	advancing atomic.Bool  // set while an Advance runs, to catch concurrent or reentrant calls
	cur       atomic.Int64 // the tick the wheel has advanced to; stored only with every shard lock held, so one shard lock is enough to read a value that stays put
	allocMu   sync.Mutex
	// allocMu guards all following fields.
	freeHead uint32 // least recently freed slot, nilSlot if none
	freeTail uint32
	nextSlot uint32 // slots below were handed out at least once
	inUse    int

	// Owned by the goroutine inside Advance.
	batch []Expired
}

// New returns an empty wheel at time zero.
func New(cfg Config) (*Wheel, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	w := &Wheel{
		tick:      cfg.Tick,
		tickUs:    int64(cfg.Tick / time.Microsecond),
		shardMask: uint32(cfg.Shards - 1),
		maxSlots:  uint32(cfg.MaxSlots),
		freeHead:  nilSlot,
		freeTail:  nilSlot,
	}
	w.capTick = w.fireTick(maxUs) + 1
	// Every tick a slot can be filed at is <= capTick+1: enough levels to
	// tell any two of them apart, so that nothing is beyond the top level.
	w.levels = (bits.Len64(uint64(w.capTick+1)) + levelBits - 1) / levelBits
	w.levels = max(w.levels, 1)
	w.chunks = make([]atomic.Pointer[atomic.Uint64], (uint64(w.maxSlots)+chunkMask)>>chunkLog)
	w.shards = make([]shard, cfg.Shards)
	for i := range w.shards {
		for l := range w.shards[i].heads {
			for b := range w.shards[i].heads[l] {
				w.shards[i].heads[l][b] = nilSlot
			}
		}
	}
	return w, nil
}

// Tick returns the wheel's granularity.
func (w *Wheel) Tick() time.Duration { return w.tick }

// Now returns the time the wheel has advanced to, a multiple of Tick.
func (w *Wheel) Now() Time { return Time(w.cur.Load() * int64(w.tick)) }

// Armed returns the number of armed slots.
func (w *Wheel) Armed() int {
	var n int64
	for i := range w.shards {
		n += w.shards[i].armed.Load()
	}
	return int(n)
}

// InUse returns the number of allocated slots.
func (w *Wheel) InUse() int {
	w.allocMu.Lock()
	defer w.allocMu.Unlock()
	return w.inUse
}

// word returns the slot's packed word, nil when the slot was never allocated.
func (w *Wheel) word(s uint32) *atomic.Uint64 {
	if s >= w.maxSlots {
		return nil
	}
	// Acquire: the chunk was fully built (zeroed) before its address was
	// stored.
	c := w.chunks[s>>chunkLog].Load()
	if c == nil {
		return nil
	}
	// s < maxSlots, so s&chunkMask < chunkLen(s): inside the chunk's words.
	return (*atomic.Uint64)(unsafe.Add(unsafe.Pointer(c), uintptr(s&chunkMask)*8))
}

// Prefetch asks the CPU to bring slot s's word into the cache, writable,
// without waiting for it (see internal/prefetch): a caller that knows which
// slots it will push soon issues it early, so that the miss overlaps with
// its other work. It changes nothing; any s is harmless.
func (w *Wheel) Prefetch(s uint32) {
	if wp := w.word(s); wp != nil {
		prefetch.Write(unsafe.Pointer(wp))
	}
}

// PrefetchLinks asks the CPU to bring in slot s's list links, which the
// owner's Arm and Seal of s read and write, without waiting for them. Like
// Prefetch it changes nothing and any s is harmless.
func (w *Wheel) PrefetchLinks(s uint32) {
	if s >= w.maxSlots || w.chunks[s>>chunkLog].Load() == nil {
		return
	}
	prefetch.Write(unsafe.Pointer(w.link(s)))
}

// link returns the slot's links; the slot must exist.
func (w *Wheel) link(s uint32) *link {
	c := w.chunks[s>>chunkLog].Load()
	// The links follow the chunk's n words: inside the allocation too.
	return (*link)(unsafe.Add(unsafe.Pointer(c), uintptr(w.chunkLen(s)+s&chunkMask)*8))
}

func (w *Wheel) shardOf(s uint32) *shard { return &w.shards[s&w.shardMask] }

// Alloc returns a ticket for a free slot, reusing freed slots least recently
// freed first. It returns ErrFull when MaxSlots slots are in use.
func (w *Wheel) Alloc() (Ticket, error) {
	w.allocMu.Lock()
	defer w.allocMu.Unlock()
	var s uint32
	switch {
	case w.freeHead != nilSlot:
		s = w.freeHead
		w.freeHead = w.link(s).next
		if w.freeHead == nilSlot {
			w.freeTail = nilSlot
		}
	case w.nextSlot < w.maxSlots:
		s = w.nextSlot
		if s&chunkMask == 0 {
			// Release: readers that load this address see the zeroed chunk.
			w.chunks[s>>chunkLog].Store(newChunk(w.chunkLen(s)))
		}
		w.nextSlot++
	default:
		return Ticket{}, fmt.Errorf("%w (MaxSlots %d)", ErrFull, w.maxSlots)
	}
	w.inUse++
	*w.link(s) = link{next: nilSlot, prev: nilSlot}
	wp := w.word(s)
	gen := uint16(wp.Load()) + 1 // even (free) to odd (allocated)
	// The links were written above, under allocMu; from this store on the
	// slot's shard lock guards them. A shard-lock holder touches the links
	// only after loading an odd generation from this word, so the store
	// (release) and that load (acquire) order the hand-over.
	wp.Store(pack(gen, 0, false))
	return Ticket{Slot: s, Gen: gen}, nil
}

// Free cancels the slot if armed, bumps its generation so that t and every
// copy of it go stale, and returns the slot to the free list. It returns
// false, changing nothing, if t is stale.
func (w *Wheel) Free(t Ticket) bool {
	wp := w.word(t.Slot)
	if wp == nil {
		return false
	}
	sh := w.shardOf(t.Slot)
	sh.mu.Lock()
	old := wp.Load()
	if !live(old, t.Gen) {
		sh.mu.Unlock()
		return false
	}
	if deadlineUs(old) != 0 {
		w.unlinkLocked(sh, t.Slot)
		sh.armed.Add(-1)
	}
	// An even generation marks the slot free: from here on Arm, Cancel and
	// Free reject every ticket for it without touching its links, and a
	// concurrent PushLater fails on the generation (or on deadline 0).
	wp.Store(pack(t.Gen+1, 0, false))
	sh.mu.Unlock()

	w.allocMu.Lock()
	w.link(t.Slot).next = nilSlot
	if w.freeTail == nilSlot {
		w.freeHead = t.Slot
	} else {
		w.link(w.freeTail).next = t.Slot
	}
	w.freeTail = t.Slot
	w.inUse--
	w.allocMu.Unlock()
	return true
}

// Valid reports whether t names the current life of an allocated slot.
func (w *Wheel) Valid(t Ticket) bool {
	wp := w.word(t.Slot)
	return wp != nil && live(wp.Load(), t.Gen)
}

// Deadline returns the slot's current deadline, ok=false if t is stale or
// the slot is disarmed.
func (w *Wheel) Deadline(t Ticket) (Time, bool) {
	wp := w.word(t.Slot)
	if wp == nil {
		return 0, false
	}
	v := wp.Load()
	if !live(v, t.Gen) || deadlineUs(v) == 0 {
		return 0, false
	}
	return Time(deadlineUs(v) * 1000), true
}
