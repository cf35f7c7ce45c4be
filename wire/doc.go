// Package wire is the binary message format of swimwheel: compact, versioned
// messages between a manager and its workers, authenticated with a keyring of
// symmetric keys, with per-sender sequence numbers and a sliding replay
// window. It imports nothing of the project; the manager translates messages
// to and from detector calls.
//
// # Messages
//
// One struct, Message, carries the union of the fields of every type; Type
// says which are meaningful. A receiver keeps one Message per goroutine and
// decodes every packet into it, so decoding allocates nothing. Decode zeroes
// the fields the packet's type does not carry. WorkerID (join) and Reason
// (extension request) alias the packet buffer after Decode: copy them
// (Message.CopyWorkerID, or string(m.Reason)) before reusing the buffer. Their
// capacity is clipped to their length, so an append copies instead of
// overwriting the packet.
//
// Every packet is a 12-byte header, a body whose layout the type fixes, and
// a 16-byte tag. Integers are big-endian. Offsets below count from the start
// of the packet.
//
//	offset size field
//	0      1    version (1)
//	1      1    type (1..12)
//	2      1    key ID: which key of the keyring made the tag
//	3      1    flags: bits defined per type; undefined bits must be 0
//	4      8    sequence number of the sender
//	12     ..   body
//	end-16 16   tag: AES-CMAC over bytes 0..end-16
//
// Every body but a join's starts with the ticket: slot u32 at 12, generation
// u16 at 16. A receiver may thus read the ticket at a fixed offset; it still
// must not trust it before Decode verified the tag.
//
//	type                  body after the ticket (offset size field)      packet bytes
//	1  join               12 8 incarnation, 20 1 id length n (1..64),   37+n (38..101)
//	                      21 n worker ID (no ticket)
//	2  welcome            18 8 incarnation, 26 1 status, 27 4 heartbeat  51
//	                      interval ms, 31 4 base deadline ms
//	3  heartbeat          18 8 incarnation                               42
//	4  notice             18 8 incarnation, 26 1 state (1..4)            43
//	5  ping               18 4 probe seq; flag 0x01 suspect              38
//	6  ack                18 8 incarnation, 26 4 probe seq               46
//	7  ping-req           18 4 probe seq, 22 2 port, 24 4|16 address;   44 or 56
//	                      flag 0x01 suspect, 0x02 address is IPv6
//	8  indirect-ack       18 8 target incarnation, 26 4 probe seq        46
//	9  nack               18 4 probe seq                                 38
//	10 extension-request  18 8 incarnation, 26 4 request ID, 30 4        51+16c+8f+n
//	                      estimated completion ms, then if flag 0x01    (51..139)
//	                      (c): 8 completed, 8 total; then if flag 0x02
//	                      (f): 8 fraction (float64 bits); then 1 reason
//	                      length n (0..64), n reason
//	11 extension-response 18 4 request ID, 22 4 grant ms, 26 4 deadline  48
//	                      in ms, 30 1 remaining, 31 1 denial (0..5);
//	                      flag 0x01 granted, 0x02 warning
//	12 leave              18 8 incarnation                               42
//
// The ticket names the worker a message concerns: the sender of a heartbeat,
// ack, extension request or leave; the addressee of a welcome, notice, ping
// or extension response; the probe target of a ping-req, indirect ack or
// nack. Durations travel as milliseconds in u32 (up to 49 days), and an
// extension response carries the time left until the new deadline
// (DeadlineInMS), not a point in time, since the two ends share no epoch.
// A refused welcome carries the zero ticket. A ping-req address is IPv4 or
// IPv6 without a zone (a zone means nothing on another host); an IPv4-mapped
// IPv6 address travels as IPv6 and decodes as the same address.
//
// Absent optional parts of an extension request are absent on the wire, not
// zeros: the encoding is canonical (one message, one byte string), which
// FuzzDecode checks by re-encoding every packet it accepts.
//
// # Decoding order and errors
//
// Decode checks the version, the type, the flags and the key ID, then the
// exact body length of the type and every length byte and enumerated field,
// and only then the tag, so that junk costs no AES. Every error is an *Error
// from a static table (the error path allocates nothing, so a flood of bad
// packets makes no garbage); its text names what was wrong ("wire: truncated
// heartbeat", "wire: bad version 7", "wire: worker id too long"), errors.Is
// matches it against the Err* sentinels, and its Fault (see FaultOf) is a
// small enum for counting bad packets in an array indexed by Fault. Decode
// does not judge the sequence number or the ticket: that is the receiver's
// business (ReplayWindow, the ticket's generation), after Decode succeeded.
//
// # Authentication
//
// The tag is AES-CMAC (NIST SP 800-38B, RFC 4493) over the header and the
// body, 16 bytes, under the key the header's key ID names. Keys are 16, 24 or
// 32 bytes (AES-128, -192, -256). The comparison is constant-time. CMAC is a
// deterministic MAC: it needs no nonce, so no mistake in sender identities or
// sequence numbers can weaken it, and its security holds far beyond any
// message count a fleet will send under one key (the birthday bound of a
// 128-bit block, around 2^48 messages).
//
// Alternatives measured beside it in BenchmarkDecodeVerifyHeartbeat (figures
// in bench/README.md, section "wire"):
//
//   - HMAC-SHA256 truncated to 16 bytes: the safest textbook choice, but it
//     costs two SHA-256 compressions per message (about 70 ns each here,
//     SHA-NI or not), so decode and verify of a heartbeat took about 200 ns
//     against about 70 ns for CMAC, and the budget for decode,
//     verify and detector update together is 150 ns per heartbeat.
//   - AES-GMAC (AES-GCM with an empty plaintext and the packet as
//     additional data): about as fast as CMAC, but it needs a nonce that
//     never repeats under one key, fleet-wide. The key is shared by the
//     manager and every worker; a sender identity that fits a nonce and is
//     unique over the life of a key does not exist here (tickets are reused,
//     a join has none), and random 96-bit nonces reach the collision bound
//     of 2^32 messages in hours at 200,000 heartbeats a second. One repeated
//     nonce reveals the authentication key and allows forging any message.
//     Not safe here, so not chosen.
//
// CMAC is implemented here (40 lines) on crypto/aes and checked against the
// test vectors of RFC 4493 and SP 800-38B, against an independent reference
// (the standard library's CBC mode), and the golden vectors against
// `openssl mac -cipher AES-256-CBC -macopt hexkey:... CMAC`. Go's AES is
// constant-time only with hardware AES (AES-NI on amd64, the ARMv8 crypto
// extensions); on CPUs without it, its table-based fallback may leak key bits
// through cache timing to a local attacker. Run managers on hardware with AES
// instructions (every server CPU of the last decade has them).
//
// A CMAC is one chain of AES encryptions, each waiting for the one before:
// a heartbeat's two AES-256 blocks spend their time in the instruction's
// latency, with the AES unit mostly idle. Codec.DecodeBatch, which the
// manager's readers call, fills it: on amd64 with AES-NI it runs the CMACs
// of eight consecutive packets of the same key and shape (block count, last
// block full or not) in one assembly routine, their rounds interleaved and
// each lane's state kept in a register, and compares the tags in a pass of
// their own so that the CPU runs one group's chains while it parses the
// next packets. That routine needs the expanded key, which crypto/aes does
// not expose, so the key expansion of FIPS-197 is done here too (checked
// against FIPS-197's example and, through the tags, against crypto/aes for
// random keys of every length). Every tag DecodeBatch computes is tested
// equal to Decode's (TestSumLanesMatchesSum, TestDecodeBatchMatchesDecode,
// and FuzzDecode). A heartbeat's decode and verify took 37-49 ns that way
// against 63-71 ns one packet at a time (BenchmarkDecodeVerifyHeartbeat).
// Elsewhere, and without AES-NI, DecodeBatch verifies one packet at a time
// through crypto/aes.
//
// # Keyring and concurrency
//
// A Keyring is safe for concurrent use: its key set is immutable and
// replaced whole on every change (copy-on-write behind an atomic pointer).
// The primary key signs; every key in the ring verifies. A Codec encodes and
// decodes; it is not safe for concurrent use, so each goroutine (each socket
// reader, each sender) makes its own with NewCodec, which is cheap: the
// expanded AES keys live in the key set and are shared read-only, and the
// Codec owns only a 16-byte scratch block. A Codec loads the key set once per
// message, so a key change reaches every Codec at its next message.
//
// Rotating keys without downtime, across a fleet:
//
//  1. Add the new key (new key ID) on every node. Nothing changes on the
//     wire; every node can now verify it.
//  2. When every node has it, SetPrimary to the new ID everywhere, in any
//     order: nodes that switched sign with the new key, the others still
//     with the old one, and both verify everywhere.
//  3. When no node signs with the old key any more (and packets in flight
//     have drained, a few seconds), Remove the old key everywhere. Packets
//     signed with it then fail with FaultKeyID.
//
// Key IDs are one byte; reuse an ID only after its key was removed
// everywhere.
//
// # Replay
//
// Every packet carries its sender's sequence number (Sequence hands them
// out). A receiver keeps one ReplayWindow per sender (the manager: one per
// worker slot, reset when the slot gets a new owner; a worker: one for its
// manager) and calls Check(m.Seq) after Decode succeeded, never before: a
// forged number far ahead would otherwise shut the real sender out. Check
// accepts a number once: above the highest seen, it is accepted and slides
// the window; within 64 below the highest, it is accepted if not seen
// before; seen before, or 64 or more below the highest, it is rejected, as
// are 0 and numbers above MaxSeq (2^63-1). A recorded heartbeat replayed
// after its worker crashed is thus dropped: its number was seen, or is older
// than the window.
//
// A sender that restarts must not reuse its old numbers, or its receivers
// drop its packets until it overtakes them: seed its Sequence from the wall
// clock in nanoseconds (NewSequence(uint64(time.Now().UnixNano()))), which
// increases across restarts and stays below MaxSeq until the year 2262.
// This matters for joins: a restarted worker gets a new slot and a fresh
// window, but the manager should check its join against the window of the
// slot its worker ID held, so that a recorded join cannot be replayed.
//
// ReplayWindow is 16 bytes and safe for concurrent use without a mutex: the
// manager's socket goroutines may check packets of one worker at once. Its
// state is the highest accepted number and a 64-bit bitmap of the numbers
// below it; the top bit of the first word is a tiny lock, held for a dozen
// instructions by one CAS and released by a store, and a rejection that one
// load of the highest number proves (a duplicate of it, or older than the
// window) takes no lock at all. The comments in replay.go give the ordering
// argument.
//
// # Compatibility
//
// The golden vectors in testdata/ pin the format: one file per message
// variant with the fields and the packet in hex, made with a fixed key and
// sequence number. A change to the layout fails TestGolden; it needs a new
// Version, and `go test ./wire -run TestGolden -update` rewrites the files.
package wire
