package wheel

import (
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"testing"
	"time"
)

// The model test drives a Wheel and a trivially correct reference with the
// same random operations and compares every answer. The operation language is
// shared with FuzzWheel: a chooser supplies the choices, from a seeded PRNG or
// from the fuzzer's bytes.

type chooser interface {
	intn(n int) int // in [0, n)
	more() bool
}

type randChooser struct {
	r    *rand.Rand
	left int
}

func (c *randChooser) intn(n int) int { return c.r.IntN(n) }
func (c *randChooser) more() bool     { c.left--; return c.left >= 0 }

type byteChooser struct{ b []byte }

func (c *byteChooser) intn(n int) int {
	var v uint64
	if n <= 256 {
		if len(c.b) > 0 {
			v = uint64(c.b[0])
			c.b = c.b[1:]
		}
	} else {
		var buf [8]byte
		k := copy(buf[:], c.b)
		c.b = c.b[k:]
		v = binary.LittleEndian.Uint64(buf[:])
	}
	return int(v % uint64(n))
}
func (c *byteChooser) more() bool { return len(c.b) > 0 }

// refSlot is the reference's view of one slot.
type refSlot struct {
	gen       uint16
	allocated bool
	armed     bool
	pushable  bool
	us        int64 // deadline in µs
	fire      int64 // tick it must fire in
}

type model struct {
	t       testing.TB
	w       *Wheel
	c       chooser
	tick    int64
	tickUs  int64
	capTick int64

	slots    []refSlot
	freeList []uint32 // FIFO
	next     uint32
	cur      int64
	armed    int
	tickets  []Ticket // every ticket handed out, live or stale
	fired    int
	inFire   bool
	ops      int
}

func newModel(t testing.TB, cfg Config, c chooser) *model {
	w, err := New(cfg)
	if err != nil {
		t.Fatalf("New(%+v): %v", cfg, err)
	}
	m := &model{t: t, w: w, c: c, tick: int64(w.Tick()), tickUs: int64(w.Tick() / time.Microsecond),
		slots: make([]refSlot, cfg.MaxSlots)}
	m.capTick = m.fireTick(maxUs) + 1
	return m
}

func (m *model) fireTick(us int64) int64 { return (us + m.tickUs - 1) / m.tickUs }

func (m *model) refUs(d Time) int64 {
	if d <= 0 {
		return 1
	}
	us := (int64(d) + 999) / 1000
	if d >= MaxTime {
		us = maxUs
	}
	return us
}

func (m *model) fail(format string, args ...any) {
	m.t.Helper()
	m.t.Fatalf("op %d (cur tick %d, tick %v, shards %d): %s", m.ops, m.cur, time.Duration(m.tick),
		len(m.w.shards), fmt.Sprintf(format, args...))
}

func (m *model) live(t Ticket) bool {
	return int(t.Slot) < len(m.slots) && m.slots[t.Slot].allocated && m.slots[t.Slot].gen == t.Gen
}

// pickTicket returns a known ticket, sometimes forged.
func (m *model) pickTicket() Ticket {
	if len(m.tickets) == 0 || m.c.intn(16) == 0 {
		return Ticket{Slot: uint32(m.c.intn(len(m.slots) + 2)), Gen: uint16(m.c.intn(4))}
	}
	t := m.tickets[m.c.intn(len(m.tickets))]
	if m.c.intn(32) == 0 {
		t.Gen += uint16(1 + m.c.intn(2))
	}
	return t
}

// pickTime returns an instant around now: past, exact, sub-tick, near, far,
// beyond the range.
func (m *model) pickTime() Time {
	now := m.cur * m.tick
	sub := int64(m.c.intn(int(m.tick)))
	var d int64
	switch m.c.intn(10) {
	case 0:
		d = now - int64(m.c.intn(100))*m.tick - sub
	case 1:
		d = now
	case 2:
		d = now + sub
	case 3, 4:
		d = now + int64(m.c.intn(70))*m.tick + sub
	case 5:
		d = now + int64(m.c.intn(5000))*m.tick + sub
	case 6:
		d = now + int64(m.c.intn(1<<24))*m.tick + sub
	case 7:
		d = now + int64(m.c.intn(1<<30))*m.tick
	case 8:
		d = int64(MaxTime) - int64(m.c.intn(3))*m.tick + int64(m.c.intn(3))*m.tick
	default:
		d = (m.cur + int64(m.c.intn(3))) * m.tick // on a tick boundary
	}
	return Time(d)
}

func (m *model) step() {
	m.ops++
	switch op := m.c.intn(100); {
	case op < 10:
		m.alloc()
	case op < 16:
		m.freeOp()
	case op < 36:
		m.arm()
	case op < 55:
		m.push()
	case op < 60:
		m.pushBatch()
	case op < 66:
		m.cancel()
	case op < 69:
		m.seal()
	case op < 72:
		m.query()
	case op < 76:
		m.nextDeadline()
	default:
		if m.inFire {
			m.arm()
		} else {
			m.advance()
		}
	}
	if got := m.w.Armed(); got != m.armed {
		m.fail("Armed() = %d, reference %d", got, m.armed)
	}
}

func (m *model) alloc() {
	got, err := m.w.Alloc()
	var want Ticket
	switch {
	case len(m.freeList) > 0:
		want.Slot, m.freeList = m.freeList[0], m.freeList[1:]
	case int(m.next) < len(m.slots):
		want.Slot = m.next
		m.next++
	default:
		if !errors.Is(err, ErrFull) {
			m.fail("Alloc with all slots in use: %v, %v; want ErrFull", got, err)
		}
		return
	}
	s := &m.slots[want.Slot]
	s.gen++
	s.allocated = true
	want.Gen = s.gen
	if err != nil || got != want {
		m.fail("Alloc = %v, %v; want %v", got, err, want)
	}
	m.tickets = append(m.tickets, got)
	if len(m.tickets) > 4*len(m.slots)+8 {
		m.tickets = slices.Delete(m.tickets, 0, len(m.slots))
	}
}

func (m *model) freeOp() {
	t := m.pickTicket()
	want := m.live(t)
	if got := m.w.Free(t); got != want {
		m.fail("Free(%v) = %v, want %v", t, got, want)
	}
	if want {
		s := &m.slots[t.Slot]
		if s.armed {
			m.armed--
		}
		*s = refSlot{gen: s.gen + 1}
		m.freeList = append(m.freeList, t.Slot)
	}
}

func (m *model) arm() {
	t := m.pickTicket()
	d := m.pickTime()
	pushable := m.c.intn(4) != 0
	want := m.live(t)
	if got := m.w.Arm(t, d, pushable); got != want {
		m.fail("Arm(%v, %d, %v) = %v, want %v", t, d, pushable, got, want)
	}
	if want {
		s := &m.slots[t.Slot]
		if !s.armed {
			m.armed++
		}
		s.armed, s.pushable, s.us = true, pushable, m.refUs(d)
		s.fire = max(m.fireTick(s.us), m.cur+1)
	}
}

func (m *model) push() {
	t := m.pickTicket()
	d := m.pickTime()
	want := m.live(t) && m.slots[t.Slot].armed && m.slots[t.Slot].pushable
	if got := m.w.PushLater(t, d); got != want {
		m.fail("PushLater(%v, %d) = %v, want %v (slot %+v)", t, d, got, want, m.slots[min(int(t.Slot), len(m.slots)-1)])
	}
	if want {
		s := &m.slots[t.Slot]
		if us := m.refUs(d); us > s.us {
			s.us = us
			s.fire = max(s.fire, m.fireTick(us))
		}
	}
}

// pushBatch checks PushLaterBatch against the reference applying each
// element as a PushLater, in order; a ticket often repeats within a batch.
func (m *model) pushBatch() {
	n := m.c.intn(9)
	if m.c.intn(8) == 0 {
		n = m.c.intn(2*pushGroup + 2) // several groups
	}
	ps := make([]Push, n)
	for i := range ps {
		t := m.pickTicket()
		if i > 0 && m.c.intn(4) == 0 {
			t = ps[m.c.intn(i)].Ticket
		}
		ps[i] = Push{Ticket: t, Deadline: m.pickTime(), OK: m.c.intn(2) == 0}
	}
	want := make([]bool, len(ps))
	wantN := 0
	for i, p := range ps {
		want[i] = m.live(p.Ticket) && m.slots[p.Ticket.Slot].armed && m.slots[p.Ticket.Slot].pushable
		if !want[i] {
			continue
		}
		wantN++
		s := &m.slots[p.Ticket.Slot]
		if us := m.refUs(p.Deadline); us > s.us {
			s.us = us
			s.fire = max(s.fire, m.fireTick(us))
		}
	}
	if n := m.w.PushLaterBatch(ps); n != wantN {
		m.fail("PushLaterBatch(%v) = %d, want %d", ps, n, wantN)
	}
	for i, p := range ps {
		if p.OK != want[i] {
			m.fail("PushLaterBatch element %d (%v, %d): OK %v, want %v", i, p.Ticket, p.Deadline, p.OK, want[i])
		}
	}
}

func (m *model) cancel() {
	t := m.pickTicket()
	want := m.live(t) && m.slots[t.Slot].armed
	if got := m.w.Cancel(t); got != want {
		m.fail("Cancel(%v) = %v, want %v", t, got, want)
	}
	if want {
		s := &m.slots[t.Slot]
		s.armed, s.pushable, s.us = false, false, 0
		m.armed--
	}
}

func (m *model) seal() {
	t := m.pickTicket()
	wantOK := m.live(t) && m.slots[t.Slot].armed
	d, ok := m.w.Seal(t)
	if ok != wantOK || (ok && d != Time(m.slots[t.Slot].us*1000)) {
		m.fail("Seal(%v) = %d, %v; want %v", t, d, ok, wantOK)
	}
	if ok {
		m.slots[t.Slot].pushable = false
	}
}

func (m *model) query() {
	t := m.pickTicket()
	if got, want := m.w.Valid(t), m.live(t); got != want {
		m.fail("Valid(%v) = %v, want %v", t, got, want)
	}
	d, ok := m.w.Deadline(t)
	wantOK := m.live(t) && m.slots[t.Slot].armed
	if ok != wantOK || (ok && d != Time(m.slots[t.Slot].us*1000)) {
		m.fail("Deadline(%v) = %d, %v; want %v (%+v)", t, d, ok, wantOK, m.slots[min(int(t.Slot), len(m.slots)-1)])
	}
}

// nextDeadline checks that NextDeadline is a lower bound of the earliest
// fire tick, after the cursor.
func (m *model) nextDeadline() {
	got, ok := m.w.NextDeadline()
	if ok != (m.armed > 0) {
		m.fail("NextDeadline ok = %v with %d armed", ok, m.armed)
	}
	if !ok {
		return
	}
	earliest := int64(-1)
	for _, s := range m.slots {
		if s.armed && (earliest < 0 || s.fire < earliest) {
			earliest = s.fire
		}
	}
	if int64(got)%m.tick != 0 || int64(got) <= m.cur*m.tick || int64(got) > earliest*m.tick {
		m.fail("NextDeadline = %d, want a tick time in (%d, %d]", got, m.cur*m.tick, earliest*m.tick)
	}
}

func (m *model) advance() {
	now := m.cur * m.tick
	switch m.c.intn(8) {
	case 0:
	case 1:
		now -= int64(m.c.intn(5)) * m.tick
	case 2, 3:
		now += int64(m.c.intn(3)) * m.tick
	case 4:
		now += int64(m.c.intn(100)) * m.tick
	case 5:
		now += int64(m.c.intn(5000)) * m.tick
	case 6:
		if now < int64(MaxTime)/4 {
			if m.c.intn(8) == 0 {
				now += int64(m.c.intn(1<<28)) * m.tick // days of 10 ms ticks
			} else {
				now += int64(m.c.intn(1<<16)) * m.tick
			}
		}
	default:
		if m.c.intn(2048) == 0 {
			now = int64(MaxTime) + int64(m.c.intn(1<<30))*m.tick // past the end of the range
		}
	}
	now += int64(m.c.intn(int(m.tick))) // anywhere inside the tick
	m.w.Advance(Time(now), m.onFire)
	target := min(now/m.tick, m.capTick)
	if now < 0 {
		target = m.cur
	}
	for i, s := range m.slots {
		if s.armed && s.fire <= target {
			m.fail("Advance(%d): slot %d (deadline %d µs, fire tick %d) did not fire", now, i, s.us, s.fire)
		}
	}
	m.cur = max(m.cur, target)
	if got := m.w.Now(); got != Time(m.cur*m.tick) {
		m.fail("Now() = %d after Advance(%d), want %d", got, now, m.cur*m.tick)
	}
}

func (m *model) onFire(at Time, batch []Expired) {
	if int64(at)%m.tick != 0 {
		m.fail("fire at %d, not a tick time", at)
	}
	t := int64(at) / m.tick
	if t <= m.cur {
		m.fail("fire at tick %d, not after the previous tick %d", t, m.cur)
	}
	var want []Expired
	for i := range m.slots {
		s := &m.slots[i]
		if !s.armed || s.fire > t {
			continue
		}
		if s.fire < t {
			m.fail("slot %d (deadline %d µs) due in tick %d missed, fire is at tick %d", i, s.us, s.fire, t)
		}
		want = append(want, Expired{Ticket{uint32(i), s.gen}, Time(s.us * 1000)})
	}
	slices.SortFunc(want, func(a, b Expired) int {
		if c := cmp.Compare(a.Deadline, b.Deadline); c != 0 {
			return c
		}
		return cmp.Compare(a.Ticket.Slot, b.Ticket.Slot)
	})
	if !slices.Equal(batch, want) {
		m.fail("fire at tick %d: batch %v, want %v", t, batch, want)
	}
	for _, e := range batch {
		if e.Deadline > at {
			m.fail("slot %d fired at %d before its deadline %d", e.Ticket.Slot, at, e.Deadline)
		}
		if d, ok := m.w.Deadline(e.Ticket); ok {
			m.fail("slot %d still armed (%d) inside fire", e.Ticket.Slot, d)
		}
		s := &m.slots[e.Ticket.Slot]
		s.armed, s.pushable, s.us = false, false, 0
	}
	m.armed -= len(batch)
	m.fired += len(batch)
	m.cur = t
	if got := m.w.Now(); got != at {
		m.fail("Now() = %d inside fire at %d", got, at)
	}
	// Operate on the wheel from inside fire: re-arm, push, cancel, free.
	m.inFire = true
	for n := m.c.intn(4); n > 0 && m.c.more(); n-- {
		m.step()
	}
	m.inFire = false
}

// modelConfig picks a configuration from the chooser.
func modelConfig(c chooser) Config {
	ticks := []time.Duration{10 * time.Millisecond, time.Millisecond, time.Microsecond, 7 * time.Microsecond, time.Second}
	return Config{
		Tick:     ticks[c.intn(len(ticks))],
		Shards:   1 << c.intn(4),
		MaxSlots: 1 + c.intn(96),
	}
}

func TestModel(t *testing.T) {
	runs, opsPerRun := 40, 5_000 // 200k operations
	if os.Getenv("SWIMWHEEL_LONG") == "1" {
		runs, opsPerRun = 400, 10_000
	}
	total := 0
	for run := range runs {
		c := &randChooser{r: rand.New(rand.NewPCG(uint64(run), 0x5eed)), left: opsPerRun}
		m := newModel(t, modelConfig(c), c)
		for c.more() {
			m.step()
			if m.ops%256 == 0 {
				checkInvariants(t, m.w)
			}
		}
		checkInvariants(t, m.w)
		total += m.ops
		if testing.Verbose() {
			t.Logf("run %d: %+v fired %d", run, m.w.tick, m.fired)
		}
		if m.fired == 0 {
			t.Errorf("run %d fired nothing", run)
		}
	}
	t.Logf("%d operations", total)
}

func FuzzWheel(f *testing.F) {
	f.Add([]byte{0, 1, 5, 0, 0, 0, 0, 30, 3, 50, 100, 90, 0})
	f.Add([]byte("\x01\x00\x10\x05\x05\x05\x20\x20\x20\x60\x60\x60\x60\x60\x01\x02\x03"))
	r := rand.New(rand.NewPCG(1, 2))
	for range 4 {
		b := make([]byte, 200)
		for i := range b {
			b[i] = byte(r.Uint32())
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c := &byteChooser{b: data}
		m := newModel(t, modelConfig(c), c)
		for c.more() {
			m.step()
		}
		checkInvariants(t, m.w)
		// Drain: everything armed fires, at its tick, unless the wheel
		// already stands at the end of its range, where nothing fires any more.
		if m.cur >= m.capTick {
			return
		}
		m.w.Advance(MaxTime+Time(2*m.tick), m.onFire)
		if m.w.Armed() != 0 || m.armed != 0 {
			t.Fatalf("%d slots still armed after advancing past MaxTime", m.w.Armed())
		}
	})
}

// checkInvariants walks every bucket: each armed slot is in exactly one
// bucket, each bucket's links and occupancy bit agree, and every bucket comes
// due after the cursor and no later than its slots' fire ticks.
func checkInvariants(t testing.TB, w *Wheel) {
	t.Helper()
	w.lockAll()
	defer w.unlockAll()
	cur := w.cur.Load()
	seen := map[uint32]bool{}
	for si := range w.shards {
		sh := &w.shards[si]
		for level := range maxLevels {
			for b := range uint32(levelSize) {
				head := sh.heads[level][b]
				if (head != nilSlot) != (sh.occupied[level]&(1<<b) != 0) {
					t.Fatalf("shard %d level %d bucket %d: head %d, occupancy bit disagrees", si, level, b, head)
				}
				if head == nilSlot {
					continue
				}
				if level >= w.levels {
					t.Fatalf("slot %d at level %d, above the top level %d", head, level, w.levels-1)
				}
				shift := uint(levelBits * level)
				if uint32(cur>>shift)&(levelSize-1) >= b {
					t.Fatalf("shard %d level %d bucket %d is not after the cursor %d", si, level, b, cur)
				}
				due := cur>>(shift+levelBits)<<(shift+levelBits) | int64(b)<<shift
				prev := headMark | uint32(level)<<levelBits | b
				for s := head; s != nilSlot; s = w.link(s).next {
					if seen[s] {
						t.Fatalf("slot %d in two buckets", s)
					}
					seen[s] = true
					if s&w.shardMask != uint32(si) {
						t.Fatalf("slot %d in shard %d", s, si)
					}
					if w.link(s).prev != prev {
						t.Fatalf("slot %d: prev %x, want %x", s, w.link(s).prev, prev)
					}
					prev = s
					v := w.word(s).Load()
					if deadlineUs(v) == 0 || generation(v)&1 == 0 {
						t.Fatalf("slot %d in a bucket but disarmed or free (%x)", s, v)
					}
					if ft := max(w.fireTick(deadlineUs(v)), cur+1); due > ft {
						t.Fatalf("slot %d (fire tick %d) filed in a bucket due at %d", s, ft, due)
					}
				}
			}
		}
	}
	if len(seen) != w.Armed() {
		t.Fatalf("%d slots in buckets, Armed() = %d", len(seen), w.Armed())
	}
}
