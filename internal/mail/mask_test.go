package mail_test

import (
	"testing"

	"github.com/caddy-password-reset/caddy-password-reset/internal/mail"
)

func TestMaskAddress(t *testing.T) {
	for in, want := range map[string]string{
		"alice@example.com": "a***@example.com", "é@example.com": "é***@example.com", "nobody": "***", "@x": "***",
	} {
		if got := mail.MaskAddress(in); got != want {
			t.Errorf("MaskAddress(%q) = %q, want %q", in, got, want)
		}
	}
	if got := mail.MaskAddresses("550 No such mailbox: <alice@example.com>, bob@example.org"); got != "550 No such mailbox: <a***@example.com>, b***@example.org" {
		t.Errorf("MaskAddresses: %q", got)
	}
}
