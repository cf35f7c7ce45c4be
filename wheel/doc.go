// Package wheel is a sharded hierarchical timing wheel of atomic deadline
// slots: the one authority for every deadline of the failure detector.
//
// A slot is a dense index with one 64-bit atomic word (deadline, pushable
// flag, generation) and 8 bytes of bucket links: 16 bytes per slot, buckets
// included (bucket heads are fixed per-shard arrays). Slots are allocated in
// chunks of 4096 on demand, up to Config.MaxSlots; chunks are never freed. A
// chunk is one allocation of its words followed by its links, with no
// header, and the last chunk is sized exactly to MaxSlots, so a fleet of
// armed slots costs exactly 16 bytes a slot.
//
// # Time and resolution
//
// Time is nanoseconds since an epoch of the caller's choice. Deadlines are
// stored in microseconds, rounded up (so a deadline never fires early), in 47
// bits: the wheel covers MaxTime, about 4.46 years after its epoch. A deadline
// at or before the epoch is stored as 1 µs, one after MaxTime is clamped to
// MaxTime, and Advance never moves past the tick after MaxTime's: a wheel
// that has reached it fires nothing more, so an embedder must not run one
// wheel for more than 4.4 years. Tick
// must be a whole number of microseconds; Deadline and Expired.Deadline report
// the stored, rounded-up value.
//
// # Lateness guarantee
//
// A deadline d fires in the first tick at or after it: in Advance's tick at
// ceil(d/Tick)*Tick, never before d and less than one tick after it. A slot
// armed (or pushed) to a deadline at or before Now() fires in the next tick,
// Now()+Tick. Every armed deadline fires exactly once unless it is cancelled,
// re-armed or freed first; a moved deadline fires at its new time only.
// Within one Advance, ticks fire in increasing order and each tick's batch is
// sorted by (Deadline, Slot), so the output does not depend on the shard
// count.
//
// # Generations
//
// A Ticket is a slot plus its 16-bit generation. Alloc makes the generation
// odd, Free makes it even, so the zero Ticket and every ticket of a freed slot
// are invalid, and a slot has 32768 lives before a generation repeats. A
// ticket kept across 32768 reuses of its slot would be valid again: with
// least-recently-freed-first reuse that takes 32768 times the whole free list
// turning over, far longer than a stale packet lives.
//
// # Concurrency
//
// PushLater, PushLaterBatch, Valid, Deadline, Now and Armed are lock-free and may run on any
// goroutine at any time, Advance included. Arm, Cancel and Free take the
// slot's shard lock (shard = slot & (Shards-1)); Alloc and Free take one
// allocation lock. Advance must be called by one goroutine at a time; it takes
// every shard lock while it moves the cursor and collects a tick's expired
// slots, and none while it calls fire, which may call any method but Advance.
// PushLater never touches bucket links: a pushed slot stays in the bucket it
// was filed in and is re-filed when that bucket comes due (lazy re-filing).
//
// # Batches
//
// PushLaterBatch is PushLater over a slice, element by element in order,
// for callers that receive heartbeats in batches (recvmmsg delivers up to
// 64). At a million slots the word array is larger than the cache, and a
// lone PushLater waits for one cache (and often TLB) miss that its locked
// CAS keeps from overlapping with the next one's. The batch first prefetches
// the words of up to 64 slots for writing (internal/prefetch: PREFETCHW on
// amd64, nothing elsewhere), so that their misses overlap, then runs the CAS
// loops on lines already in the cache. The prefetches decide nothing: each
// push decides on its own CAS loop's load.
//
// # Levels
//
// Level L has 64 buckets of 64^L ticks. New computes enough levels to hold
// every tick up to MaxTime (6 at a 10 ms tick, 8 at 1 µs), so no deadline is
// beyond the top level and no overflow list is needed. A slot is filed at the
// level of the highest 6-bit digit in which its fire tick and the cursor
// differ; buckets are cascaded top level first when the cursor reaches their
// first tick. Per-level 64-bit occupancy bitmaps find the next non-empty
// bucket, so Advance jumps over idle stretches and NextDeadline (a lower bound:
// the first tick of the next non-empty bucket) costs O(shards * levels).
package wheel
