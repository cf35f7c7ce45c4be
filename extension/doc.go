// Package extension is the AD-26 extension policy: whether a worker that is
// alive but busy gets more time before its deadline, and how much.
//
// It is pure: no clock, no I/O, no goroutines, and it imports nothing of the
// project. Instants are time.Duration values measured from the caller's
// epoch; the caller passes now and the worker's current deadline in and
// stores the new deadline and the updated State it gets back.
//
// # Cycle
//
// A cycle is the stretch between two healthy heartbeats of one incarnation.
// It starts with State's zero value or State.Reset, which the caller invokes on
// every healthy heartbeat and when it adopts a new incarnation; it forgets the
// grants used, the last granted progress and the warning. Within a cycle a
// worker may be granted at most MaxExtensions extensions.
//
// # Rules
//
// The caller first denies a worker that is not alive (NotAlive) or speaks an
// old incarnation (StaleIncarnation); both reasons are declared here so all
// reasons live in one place. Policy.Decide then checks, first failure wins:
//
//  1. InvalidProgress: a count with Completed > Total where Total > 0, or a
//     fraction outside [0, 1] or NaN. Total 0 means unknown, so any Completed
//     is valid with it. Fields whose Has flag is false are ignored.
//  2. Exhausted: the grants used this cycle reach MaxExtensions.
//  3. NoProgress: this is not the cycle's first grant, and the progress did not
//     strictly increase over the last granted request: Completed is compared
//     when both carry counts; else Fraction is compared when both carry
//     fractions; else there is no evidence, which is NoProgress. A denied
//     request never becomes the reference.
//
// The first grant of a cycle needs no evidence at all, not even a progress
// report. A worker whose first granted request carried neither a count nor a
// fraction has nothing to be compared with and is denied NoProgress for the
// rest of the cycle: an agent that wants several extensions reports progress
// from the first one.
//
// A grant is the k-th of the cycle (k = 0, 1, ...), Grant(k) =
// max(MinGrant, Base/2^k): 30s, 15s, 7.5s, 3.75s, 1.875s with DefaultPolicy.
// The new deadline is max(current deadline, now) + grant, so a grant is never
// lost to a deadline already in the past nor cut short by one in the future
// (saturating at the largest Duration). The grant that first leaves at most
// WarnRemaining grants carries a warning, once per cycle: with the defaults
// the fourth grant, which leaves one. A denial changes neither the State nor
// the deadline.
//
// # Why counts first
//
// Counts are integers: an increase of one item is visible at any scale,
// whereas a fraction's resolution depends on how the worker rounds it. When
// both requests carry counts, equal counts are no progress even if the
// fraction rose: the fraction is derived, the count is the evidence.
// Total is validated but not compared: a job whose total grows is judged by
// the items it completed.
//
// # Why exact fractions
//
// A worker near the end of a long job moves its fraction by tiny steps: 0.99
// to 0.999 is real progress, and so is 0.995 to 0.996. Rounding or an epsilon
// would deny exactly the workers about to finish. The comparison is therefore
// the plain float64 ">" with no tolerance; 0.999 to 0.999 is no progress. A
// worker cannot inflate progress forever: the fraction is capped at 1 and the
// cycle at MaxExtensions grants.
//
// # Bound on extra time
//
// The grants of a cycle sum to at most
//
//	sum over k < MaxExtensions of max(MinGrant, Base/2^k)
//	    <= Base * (1 + 1/2 + 1/4 + ...) + MaxExtensions*MinGrant
//	    <  2*Base + MaxExtensions*MinGrant
//
// With the defaults the grants sum to 58.125s, under the 65s bound. A stuck
// worker is therefore evicted at the latest base deadline + that sum + probe
// phase + suspicion window after its last healthy heartbeat.
//
// # Decisions where DESIGN.md is silent
//
//   - MaxExtensions 0 disables extensions; it is limited to 255 because State
//     keeps the count in one byte.
//   - MinGrant above Base passes Validate: every grant is then MinGrant.
//   - A negative WarnRemaining is rejected; one at or above MaxExtensions warns
//     on the first grant.
//   - State is 24 bytes and carries no lock; it is the caller's to guard.
package extension
