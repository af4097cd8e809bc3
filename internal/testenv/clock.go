package testenv

import (
	"sync"
	"time"
)

// Clock is the tests' one fake clock. Its zero value runs with real time plus an
// offset that Advance moves forward: tests expire tickets or refill rate limits
// at once, and the workers' backoffs, which wait on real timers, keep working
// because it never stops. A frozen Clock (NewFrozenClock) stands still at its
// time until Advance moves it, for tests that compute exact times (a queue item's
// not_before, a bucket's refill).
type Clock struct {
	mu     sync.Mutex
	frozen bool
	at     time.Time     // frozen: the clock's time
	offset time.Duration // running: what Advance added to the real time
}

// NewFrozenClock returns a clock that shows at until Advance moves it.
func NewFrozenClock(at time.Time) *Clock {
	return &Clock{frozen: true, at: at}
}

// Now is the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.frozen {
		return c.at
	}
	return time.Now().Add(c.offset)
}

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.frozen {
		c.at = c.at.Add(d)
		return
	}
	c.offset += d
}
