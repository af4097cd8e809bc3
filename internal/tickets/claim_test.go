package tickets

import (
	"testing"

	"github.com/caddy-password-reset/caddy-password-reset/internal/connection"
)

// TestClaimOutlivesLongestHook (issue 8 item 9): a submit's claim on a ticket
// lasts longer than the longest change_password call the configuration allows,
// with room for the commits around it, so that a slow hook cannot let a second
// submit claim the same ticket and call the hook again.
func TestClaimOutlivesLongestHook(t *testing.T) {
	if ClaimFor < 3*connection.MaxTimeout/2 {
		t.Errorf("claim %s, longest hook call %s: the claim must outlive it by half", ClaimFor, connection.MaxTimeout)
	}
}
