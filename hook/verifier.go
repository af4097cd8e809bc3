package hook

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"
)

// DefaultMaxCalls is how many calls a Verifier remembers unless MaxCalls says
// otherwise: more than 300 calls a second, every second of a 5-minute window.
const DefaultMaxCalls = 100_000

// A Verifier verifies hook calls signed with one secret and refuses a call whose
// hook and ID it has accepted before (a replay of a recorded call) while that call
// is within the tolerance window. It is safe for concurrent use; its zero value,
// with Secret set, uses DefaultTolerance and DefaultMaxCalls. Do not change its
// fields after its first use.
//
// # Memory
//
// A Verifier remembers a 16-byte hash of each accepted call's hook and ID in a
// bucket of the call's timestamp (one bucket per second), and drops a bucket once
// its second is outside the window. It remembers at most MaxCalls calls: 25 to
// 60 bytes each in Go's maps (measured: 2.8 MB for 100,000 calls spread over 5
// minutes), so at most about 6 MB at DefaultMaxCalls, plus one small map per
// second of the window. When it is full, it drops its oldest bucket and from
// then on refuses calls older than the oldest second it still remembers, with
// ErrStale: fresh calls still pass, and an old call cannot be replayed because it
// was forgotten. Only calls whose signature verifies are remembered, so nobody
// without the secret can fill the memory. A flood of more than MaxCalls valid
// calls within one second is refused for the rest of that second.
//
// The memory lives in the process: a restart forgets it, so a call recorded just
// before a restart can be replayed once after it, within the window.
type Verifier struct {
	// Secret is the hook secret shared by both sides. Required.
	Secret []byte
	// Tolerance is how far a call's timestamp may be from Now. Zero means
	// DefaultTolerance.
	Tolerance time.Duration
	// MaxCalls bounds the calls remembered. Zero means DefaultMaxCalls.
	MaxCalls int
	// Now is the clock; nil means time.Now.
	Now func() time.Time

	mu      sync.Mutex
	buckets map[int64]map[callKey]struct{} // by the calls' Unix second
	calls   int                            // in all buckets
	oldest  int64                          // the smallest key of buckets, when there are any
	// floor is one past the newest second ever dropped: a call older than it
	// could be a replay of a forgotten call, so it is refused.
	floor int64
}

// callKey identifies a call by the hash of its hook and ID: a fixed size, so that
// the memory bound does not depend on how long IDs are.
type callKey [16]byte

func keyOf(sig Signature) callKey {
	sum := sha256.Sum256([]byte(sig.Hook + "\x00" + sig.ID))
	return callKey(sum[:16])
}

// Verify checks a call's signature headers in h against body for wantHook (see
// the package function Verify), then refuses it with ErrReplayed if a call with
// the same hook and ID was accepted before. It returns the call, to answer with.
func (v *Verifier) Verify(h http.Header, body []byte, wantHook string) (*Call, error) {
	sig, err := Verify(h, body, v.Secret, wantHook, v.now(), v.tolerance())
	if err != nil {
		return nil, err
	}
	if err := v.remember(sig); err != nil {
		return nil, err
	}
	return newCall(v.Secret, sig, body), nil
}

// VerifyRequest reads r's body (at most MaxBodyBytes) and verifies the call for
// wantHook with Verify. The returned Call holds the body; r.Body is put back too,
// for handlers that decode it.
func (v *Verifier) VerifyRequest(r *http.Request, wantHook string) (*Call, error) {
	body, err := io.ReadAll(io.LimitReader(r.Body, MaxBodyBytes+1))
	if err != nil {
		return nil, fmt.Errorf("hook: read body: %w", err)
	}
	if len(body) > MaxBodyBytes {
		return nil, ErrBodyTooLarge
	}
	call, err := v.Verify(r.Header, body, wantHook)
	if err != nil {
		return nil, err
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	return call, nil
}

// remember records an accepted call, or refuses it as a replay or as older than
// what is still remembered. A replay is refused before any room is made, so
// that replaying recorded calls cannot push genuine ones out.
func (v *Verifier) remember(sig Signature) error {
	sec, key := sig.Timestamp.Unix(), keyOf(sig)
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.buckets == nil {
		v.buckets = make(map[int64]map[callKey]struct{})
	}
	v.expire(v.now().Add(-v.tolerance()).Unix())
	if sec < v.floor {
		return errForgotten
	}
	if _, seen := v.buckets[sec][key]; seen {
		return ErrReplayed
	}
	for v.calls >= v.maxCalls() {
		v.drop(v.oldest)
	}
	if sec < v.floor { // its own second was the oldest, and had to go
		return errForgotten
	}
	b := v.buckets[sec]
	if b == nil {
		b = make(map[callKey]struct{})
		v.buckets[sec] = b
		if len(v.buckets) == 1 || sec < v.oldest {
			v.oldest = sec
		}
	}
	b[key] = struct{}{}
	v.calls++
	return nil
}

// errForgotten refuses a call older than the oldest second a Verifier still
// remembers: it could be the replay of a call that was forgotten.
var errForgotten = fmt.Errorf("%w: older than the oldest call this verifier still remembers (its memory was full)", ErrStale)

// expire drops the buckets of seconds before cutoff: their calls are stale, and
// Verify refuses them before they reach remember.
func (v *Verifier) expire(cutoff int64) {
	for len(v.buckets) > 0 && v.oldest < cutoff {
		v.drop(v.oldest)
	}
}

// drop forgets the bucket of second sec, raises the floor past it, and finds the
// oldest bucket left. The scan is over the buckets (one per second of the
// window), once per dropped bucket.
func (v *Verifier) drop(sec int64) {
	v.calls -= len(v.buckets[sec])
	delete(v.buckets, sec)
	v.floor = max(v.floor, sec+1)
	first := true
	for s := range v.buckets {
		if first || s < v.oldest {
			v.oldest, first = s, false
		}
	}
}

func (v *Verifier) tolerance() time.Duration {
	if v.Tolerance > 0 {
		return v.Tolerance
	}
	return DefaultTolerance
}

func (v *Verifier) maxCalls() int {
	if v.MaxCalls > 0 {
		return v.MaxCalls
	}
	return DefaultMaxCalls
}

func (v *Verifier) now() time.Time {
	if v.Now != nil {
		return v.Now()
	}
	return time.Now()
}
