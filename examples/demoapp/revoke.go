package demoapp

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/caddy-password-reset/caddy-password-reset/hook"
)

// RevokePath is the plugin's endpoint for the app's revoke_tickets call, on the
// site that serves the plugin's public routes.
const RevokePath = "/lo/hooks/revoke"

// revokeTimeout bounds the revoke call when Config.Client is nil.
const revokeTimeout = 10 * time.Second

// revoker makes the app's signed revoke_tickets call to the plugin.
type revoker struct {
	url    string
	secret []byte
	client *http.Client
}

func newRevoker(cfg Config) (revoker, error) {
	base := cfg.PluginURL
	if base == "" {
		base = DefaultPluginURL
	}
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return revoker{}, fmt.Errorf("demoapp: the plugin URL %q must be an absolute http or https URL", base)
	}
	client := cfg.Client
	if client == nil {
		// A redirect would carry the signed call elsewhere; the plugin never
		// redirects it.
		client = &http.Client{Timeout: revokeTimeout,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	return revoker{url: u.JoinPath(RevokePath).String(), secret: cfg.Secret, client: client}, nil
}

// revokeTickets asks the plugin to cancel the user's open reset links, and
// checks the plugin's signed answer: 204. Errors say what failed, never the
// secret.
func (rv revoker) revokeTickets(ctx context.Context, userID string) error {
	body, err := json.Marshal(hook.RevokeTicketsRequest{Connection: Connection, UserID: userID})
	if err != nil {
		return fmt.Errorf("encode the revoke call: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, rv.url, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("revoke call: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	sig := hook.Signature{Hook: hook.RevokeTickets, ID: rand.Text(), Timestamp: time.Now()}
	hook.SetHeaders(req.Header, rv.secret, sig, body)
	resp, err := rv.client.Do(req)
	if err != nil {
		var ue *url.Error // drop its repetition of the method and URL
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return fmt.Errorf("the plugin at %s did not answer: %w", rv.url, err)
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(io.LimitReader(resp.Body, hook.MaxBodyBytes+1))
	if err != nil {
		return fmt.Errorf("read the plugin's answer: %w", err)
	}
	if err := hook.VerifyAnswer(resp.Header, rv.secret, sig, resp.StatusCode, answer); err != nil {
		return answerError(resp.StatusCode, err)
	}
	if resp.StatusCode != http.StatusNoContent {
		return fmt.Errorf("the plugin answered %d", resp.StatusCode)
	}
	return nil
}

// answerError explains a plugin answer that does not verify.
func answerError(status int, err error) error {
	switch {
	case errors.Is(err, hook.ErrUnsignedAnswer) && status == http.StatusUnauthorized:
		return errors.New("the plugin refused the call (401): its hook secret for the connection differs from the app's")
	case errors.Is(err, hook.ErrUnsignedAnswer) && status == http.StatusBadRequest:
		return fmt.Errorf("the plugin refused the call (400): it does not know the connection %q", Connection)
	case errors.Is(err, hook.ErrUnsignedAnswer):
		return fmt.Errorf("the plugin's answer (%d) is not signed: is the plugin URL right, and is it hook protocol %s?", status, hook.Version)
	}
	return fmt.Errorf("the plugin's answer (%d) does not verify: %w", status, err)
}
