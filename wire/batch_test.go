package wire

import (
	"errors"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestDecodeBatchMatchesDecode: for random batches of genuine packets of
// every type under three keys (of each length), with tags, bodies and key
// IDs corrupted at random and junk mixed in, DecodeBatch gives every packet
// exactly what Decode gives it.
func TestDecodeBatchMatchesDecode(t *testing.T) {
	ring := testRing(t)
	require.NoError(t, ring.Add(2, make([]byte, 16)))
	require.NoError(t, ring.Add(3, make([]byte, 24)))
	c := NewCodec(ring)
	var pool [][]byte
	for _, id := range []uint8{testKeyID, 2, 3} {
		require.NoError(t, ring.SetPrimary(id))
		for _, s := range samples() {
			m := s.m
			m.Seq = testSeq + uint64(len(pool))
			pool = append(pool, encode(t, c, &m))
		}
	}
	// And runs of heartbeats of one key, which fill every lane of a group.
	var hbs [][]byte
	require.NoError(t, ring.SetPrimary(testKeyID))
	for i := range 64 {
		hb := Message{Type: TypeHeartbeat, Ticket: Ticket{Slot: uint32(i), Gen: 1}, Incarnation: uint64(i), Seq: testSeq + uint64(i)}
		hbs = append(hbs, encode(t, c, &hb))
	}
	r := rand.New(rand.NewPCG(7, 8))
	const rounds = 3000
	bad := 0
	for round := range rounds {
		n := 1 + r.IntN(70)
		from := pool
		if round%2 == 1 {
			from = hbs
		}
		pkts := make([][]byte, n)
		for i := range pkts {
			p := append([]byte(nil), from[r.IntN(len(from))]...)
			switch r.IntN(8) {
			case 0:
				p[len(p)-1-r.IntN(TagSize)] ^= 1 << r.IntN(8) // tag
			case 1:
				p[HeaderSize+r.IntN(len(p)-HeaderSize-TagSize)] ^= 1 << r.IntN(8) // body
			case 2:
				p[offsetKeyID] = uint8(r.IntN(5)) // maybe another key, maybe none
			case 3:
				p = p[:r.IntN(len(p))] // truncated
			}
			pkts[i] = p
		}
		ms := make([]Message, n)
		errs := make([]error, n)
		c.DecodeBatch(pkts, ms, errs)
		for i, p := range pkts {
			var want Message
			wantErr := c.Decode(p, &want)
			if wantErr != nil {
				bad++
				require.Error(t, errs[i], "packet %d %x", i, p)
				require.Equal(t, wantErr.Error(), errs[i].Error())
				var we *Error
				require.True(t, errors.As(errs[i], &we))
				continue
			}
			require.NoError(t, errs[i], "packet %d %x", i, p)
			require.True(t, equalMessage(&want, &ms[i]), "packet %d:\n got  %s\n want %s", i, formatMessage(&ms[i]), formatMessage(&want))
		}
	}
	require.Greater(t, bad, rounds, "the corruptions must reach the checks")
}

func TestDecodeBatchAllocatesNothing(t *testing.T) {
	c := NewCodec(testRing(t))
	pkts := make([][]byte, 64)
	for i := range pkts {
		m := Message{Type: TypeHeartbeat, Ticket: Ticket{Slot: uint32(i), Gen: 1}, Incarnation: 1, Seq: uint64(i + 1)}
		pkts[i] = encode(t, c, &m)
	}
	ms := make([]Message, len(pkts))
	errs := make([]error, len(pkts))
	allocs := testing.AllocsPerRun(100, func() { c.DecodeBatch(pkts, ms, errs) })
	require.Zero(t, allocs)
	for i := range errs {
		require.NoError(t, errs[i])
		require.Equal(t, uint32(i), ms[i].Ticket.Slot)
	}
}

// TestTagEqual: equal tags match, and a tag differing in any one bit (or
// in two that could cancel across the halves) does not.
func TestTagEqual(t *testing.T) {
	var want [TagSize]byte
	for i := range want {
		want[i] = byte(7*i + 1)
	}
	got := want
	require.True(t, tagEqual(&want, got[:]))
	for bit := range 8 * TagSize {
		got = want
		got[bit/8] ^= 1 << (bit % 8)
		require.False(t, tagEqual(&want, got[:]), "bit %d", bit)
		got[(bit/8+8)%TagSize] ^= 1 << (bit % 8) // the same bit of the other half
		require.False(t, tagEqual(&want, got[:]), "bits %d and %d", bit, bit+64)
	}
}
