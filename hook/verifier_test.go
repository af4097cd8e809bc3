package hook

import (
	"errors"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// The tests' clock is a variable (now) that they set and the Verifier's Now
// reads; Verify runs on the test's goroutine, so it needs no lock. These tests
// are internal (they read the Verifier's memory) and so cannot use testenv's
// Clock: testenv imports the demo app, which imports hook.

// signedCall returns the headers of a call signed with testSecret.
func signedCall(hookName, id string, at time.Time) http.Header {
	return signedHeader(testSecret, Signature{Hook: hookName, ID: id, Timestamp: at}, testBody)
}

// remembered returns how many calls and buckets v holds.
func (v *Verifier) remembered() (calls, buckets int) {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.calls, len(v.buckets)
}

// TestHookReplayRefused: a recorded call sent again within the window is refused
// (issue 8 item 5: a replayed change_password set bob's password back).
func TestHookReplayRefused(t *testing.T) {
	now := testNow
	v := &Verifier{Secret: testSecret, Now: func() time.Time { return now }}
	call := signedCall(ChangePassword, "call-1", testNow)
	if _, err := v.Verify(call, testBody, ChangePassword); err != nil {
		t.Fatalf("first Verify: %v", err)
	}
	if _, err := v.Verify(call, testBody, ChangePassword); !errors.Is(err, ErrReplayed) {
		t.Fatalf("the same call again = %v, want ErrReplayed", err)
	}
	now = testNow.Add(DefaultTolerance) // the last second of the window
	if _, err := v.Verify(call, testBody, ChangePassword); !errors.Is(err, ErrReplayed) {
		t.Fatalf("the same call at the window's end = %v, want ErrReplayed", err)
	}
	now = testNow.Add(DefaultTolerance + time.Second)
	if _, err := v.Verify(call, testBody, ChangePassword); !errors.Is(err, ErrStale) {
		t.Fatalf("the same call past the window = %v, want ErrStale", err)
	}

	// The ID is remembered per hook, and a forged call is not remembered at all.
	now = testNow
	if _, err := v.Verify(signedCall(GetUser, "call-1", testNow), testBody, GetUser); err != nil {
		t.Errorf("the same ID for another hook: %v", err)
	}
	forged := signedHeader([]byte("not the secret"), Signature{Hook: ChangePassword, ID: "call-2", Timestamp: testNow}, testBody)
	if _, err := v.Verify(forged, testBody, ChangePassword); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("forged call = %v, want ErrBadSignature", err)
	}
	if _, err := v.Verify(signedCall(ChangePassword, "call-2", testNow), testBody, ChangePassword); err != nil {
		t.Errorf("a genuine call with the ID a forgery used: %v", err)
	}

	t.Run("bounded memory", testReplayBoundedMemory)
	t.Run("replays do not push calls out", testReplaysKeepMemory)
	t.Run("expired buckets are dropped", testReplayExpiry)
	t.Run("concurrent replays", testReplayConcurrent)
}

// testReplayBoundedMemory feeds ten times more calls than the cap, ten a second,
// and checks that the memory never grows past the cap, that fresh calls pass,
// and that neither an old call (forgotten) nor a recent one (remembered) can be
// replayed.
func testReplayBoundedMemory(t *testing.T) {
	const maxCalls, perSecond, total = 100, 10, 1000
	now := testNow
	v := &Verifier{Secret: testSecret, MaxCalls: maxCalls, Now: func() time.Time { return now }}
	at := func(i int) time.Time { return testNow.Add(time.Duration(i/perSecond) * time.Second) }
	for i := range total {
		now = at(i)
		if _, err := v.Verify(signedCall(GetUser, fmt.Sprint("id-", i), at(i)), testBody, GetUser); err != nil {
			t.Fatalf("fresh call %d refused: %v", i, err)
		}
		if calls, buckets := v.remembered(); calls > maxCalls || buckets > maxCalls {
			t.Fatalf("after %d calls the verifier holds %d calls in %d buckets, want at most %d", i+1, calls, buckets, maxCalls)
		}
	}
	// All of these are well within the 5-minute window: only the cap forgot them.
	if _, err := v.Verify(signedCall(GetUser, "id-0", at(0)), testBody, GetUser); !errors.Is(err, ErrStale) {
		t.Errorf("replay of a forgotten call = %v, want ErrStale", err)
	}
	if _, err := v.Verify(signedCall(GetUser, "never-seen", at(0)), testBody, GetUser); !errors.Is(err, ErrStale) {
		t.Errorf("an old call older than the memory = %v, want ErrStale", err)
	}
	last := fmt.Sprint("id-", total-1)
	if _, err := v.Verify(signedCall(GetUser, last, at(total-1)), testBody, GetUser); !errors.Is(err, ErrReplayed) {
		t.Errorf("replay of a remembered call = %v, want ErrReplayed", err)
	}
	if _, err := v.Verify(signedCall(GetUser, "fresh", at(total-1)), testBody, GetUser); err != nil {
		t.Errorf("a fresh call after the flood: %v", err)
	}
}

// testReplaysKeepMemory: with the memory full, replaying recorded calls makes
// no room, so the oldest call is still remembered (refused as a replay, not as
// forgotten).
func testReplaysKeepMemory(t *testing.T) {
	const maxCalls = 10
	now := testNow
	v := &Verifier{Secret: testSecret, MaxCalls: maxCalls, Now: func() time.Time { return now }}
	var calls []http.Header
	for i := range maxCalls {
		at := testNow.Add(time.Duration(i) * time.Second)
		now = at
		calls = append(calls, signedCall(GetUser, fmt.Sprint("id-", i), at))
		if _, err := v.Verify(calls[i], testBody, GetUser); err != nil {
			t.Fatal(err)
		}
	}
	for range 100 {
		if _, err := v.Verify(calls[maxCalls-1], testBody, GetUser); !errors.Is(err, ErrReplayed) {
			t.Fatalf("replay = %v, want ErrReplayed", err)
		}
	}
	if _, err := v.Verify(calls[0], testBody, GetUser); !errors.Is(err, ErrReplayed) {
		t.Errorf("the oldest call after a replay flood = %v, want ErrReplayed (still remembered)", err)
	}
}

// testReplayExpiry: once the window has moved on, the old buckets go.
func testReplayExpiry(t *testing.T) {
	now := testNow
	v := &Verifier{Secret: testSecret, Now: func() time.Time { return now }}
	for i := range 50 {
		at := testNow.Add(time.Duration(i) * time.Second)
		now = at
		if _, err := v.Verify(signedCall(GetUser, fmt.Sprint("id-", i), at), testBody, GetUser); err != nil {
			t.Fatal(err)
		}
	}
	later := testNow.Add(time.Hour)
	now = later
	if _, err := v.Verify(signedCall(GetUser, "later", later), testBody, GetUser); err != nil {
		t.Fatal(err)
	}
	if calls, buckets := v.remembered(); calls != 1 || buckets != 1 {
		t.Errorf("an hour later the verifier holds %d calls in %d buckets, want 1 in 1", calls, buckets)
	}
}

// testReplayConcurrent sends one call from many goroutines at once: exactly one
// is accepted. Run with -race.
func testReplayConcurrent(t *testing.T) {
	v := &Verifier{Secret: testSecret}
	call := signedCall(ChangePassword, "once", time.Now())
	var accepted, replayed atomic.Int32
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			_, err := v.Verify(call.Clone(), testBody, ChangePassword)
			switch {
			case err == nil:
				accepted.Add(1)
			case errors.Is(err, ErrReplayed):
				replayed.Add(1)
			default:
				t.Errorf("Verify: %v", err)
			}
		})
	}
	wg.Wait()
	if accepted.Load() != 1 || replayed.Load() != 15 {
		t.Errorf("accepted %d, refused as replays %d; want 1 and 15", accepted.Load(), replayed.Load())
	}
}
