package testenv

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emersion/go-message/mail"
)

// RequestBody is Auth0's change_password request for email, as JSON.
func RequestBody(email string) string {
	return fmt.Sprintf(`{"client_id":%q,"email":%q,"connection":%q}`, ClientID, email, Conn)
}

// Outcome is what one request got: a status, or the error that left it without
// one (a connection cut by a kill, say).
type Outcome struct {
	Email  string
	Status int
	Body   string
	Err    error
}

// NewClient returns an HTTP client keeping up to conns connections open, with a
// timeout per request.
func NewClient(conns int, timeout time.Duration) *http.Client {
	return &http.Client{Timeout: timeout, Transport: &http.Transport{
		MaxIdleConns: conns, MaxIdleConnsPerHost: conns, IdleConnTimeout: time.Minute,
	}}
}

// PostReset sends one change_password request for email to base (http://host:port).
func PostReset(ctx context.Context, c *http.Client, base, email string) Outcome {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/dbconnections/change_password",
		strings.NewReader(RequestBody(email)))
	if err != nil {
		return Outcome{Email: email, Err: err}
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		return Outcome{Email: email, Err: err}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return Outcome{Email: email, Status: resp.StatusCode, Body: string(body), Err: err}
}

// Burst sends one request per email, concurrency at a time, and returns the
// outcomes in the order of emails. It stops sending when ctx ends.
func Burst(ctx context.Context, c *http.Client, base string, emails []string, concurrency int) []Outcome {
	out := make([]Outcome, len(emails))
	var next atomic.Int64
	var wg sync.WaitGroup
	for range concurrency {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= len(emails) {
					return
				}
				if ctx.Err() != nil {
					out[i] = Outcome{Email: emails[i], Err: ctx.Err()}
					continue
				}
				out[i] = PostReset(ctx, c, base, emails[i])
			}
		})
	}
	wg.Wait()
	return out
}

var ticketLink = regexp.MustCompile(`https?://[^\s"<>]*/lo/reset\?ticket=[A-Za-z0-9_-]{43}`)

// RawResetLink returns the reset link in a raw reset email (one the Sink kept), or
// "". ResetLink finds it in a message the Mailbox caught.
func RawResetLink(raw []byte) string {
	r, err := mail.CreateReader(bytes.NewReader(raw))
	if err != nil {
		return ""
	}
	for {
		p, err := r.NextPart()
		if err != nil {
			return ""
		}
		if _, ok := p.Header.(*mail.InlineHeader); !ok {
			continue
		}
		body, err := io.ReadAll(p.Body)
		if err != nil {
			return ""
		}
		if link := ticketLink.Find(body); link != nil {
			return string(link)
		}
	}
}

// Get fetches u with client and returns the status and body.
func Get(ctx context.Context, client *http.Client, u string) (int, string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return 0, "", err
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body), err
}
