package admin_test

import (
	"testing"

	"github.com/caddy-password-reset/caddy-password-reset/internal/admin"
	"github.com/caddy-password-reset/caddy-password-reset/internal/service"
	"github.com/caddy-password-reset/caddy-password-reset/internal/testenv"
)

const (
	conn        = testenv.Conn
	newPassword = "Correct-Horse-9-battery"
)

var ops = admin.Actor{Name: "ops", IP: "192.0.2.1"}

// newStack starts the services on real parts; configure, if given, changes the
// configuration knowing the stack's parts.
func newStack(t *testing.T, configure ...func(*testenv.Stack, *service.Config)) *testenv.Stack {
	t.Helper()
	so := testenv.StackOptions{}
	if len(configure) > 0 {
		so.Configure = configure[0]
	}
	return testenv.NewStackWith(t, so)
}
