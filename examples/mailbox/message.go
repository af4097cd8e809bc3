package mailbox

import (
	"bytes"
	"errors"
	"fmt"
	"html"
	"io"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/emersion/go-message"
	_ "github.com/emersion/go-message/charset" // decode any charset a sender may use
	"github.com/emersion/go-message/mail"
)

// Message is one received mail, parsed. A message that cannot be parsed is kept
// all the same, with ParseError set and whatever could be read.
type Message struct {
	// ID numbers messages in arrival order, from 1.
	ID int `json:"id"`
	// Received is when the box stored the message.
	Received time.Time `json:"received"`

	// EnvelopeFrom and EnvelopeTo are the SMTP MAIL FROM and RCPT TO addresses,
	// where the mail really went, whatever its headers say.
	EnvelopeFrom string   `json:"envelope_from"`
	EnvelopeTo   []string `json:"envelope_to"`
	// AuthUser is the user name given with AUTH, if any.
	AuthUser string `json:"auth_user,omitempty"`
	// TLS tells whether the message came over TLS (STARTTLS).
	TLS bool `json:"tls"`

	// Subject, From and To are the decoded header values.
	Subject string `json:"subject"`
	From    string `json:"from"`
	To      string `json:"to"`
	// Date is the Date header; zero if missing or malformed.
	Date time.Time `json:"date"`
	// MessageID is the Message-ID header without its angle brackets.
	MessageID string `json:"message_id"`
	// Header lists every header field in order, values decoded.
	Header []Field `json:"header"`

	// Text and HTML are the first text/plain and text/html parts, decoded to UTF-8.
	Text string `json:"text"`
	HTML string `json:"html"`
	// Links are the http and https links of the text and HTML parts, in order of
	// appearance, without duplicates.
	Links []string `json:"links"`
	// Attachments are the file names of the parts that are not text.
	Attachments []string `json:"attachments,omitempty"`

	// Raw is the message as received.
	Raw []byte `json:"-"`
	// ParseError says why the message could not be fully parsed.
	ParseError string `json:"parse_error,omitempty"`
}

// Field is one header field.
type Field struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// envelope is what the SMTP session knows about a message besides its bytes.
type envelope struct {
	from     string
	to       []string
	authUser string
	tls      bool
	received time.Time
}

// parse builds a Message from raw. It never fails: parse errors are recorded in
// the Message, since a catcher must show broken mail too.
func parse(raw []byte, env envelope) Message {
	m := Message{
		Received:     env.received,
		EnvelopeFrom: env.from,
		EnvelopeTo:   append([]string(nil), env.to...),
		AuthUser:     env.authUser,
		TLS:          env.tls,
		Raw:          raw,
	}
	if err := m.readMail(bytes.NewReader(raw)); err != nil {
		m.ParseError = err.Error()
	}
	m.Links = extractLinks(m.Text, m.HTML)
	return m
}

// readMail fills the header and body fields from r. It reads as much as it can
// and returns the first error met.
func (m *Message) readMail(r io.Reader) error {
	mr, err := mail.CreateReader(r)
	if mr == nil {
		return fmt.Errorf("read header: %w", err)
	}
	defer mr.Close()
	errs := []error{unknownCharset(err)}
	errs = append(errs, m.readHeader(mr.Header))
	for {
		p, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if p == nil {
			errs = append(errs, fmt.Errorf("read part: %w", err))
			break
		}
		errs = append(errs, unknownCharset(err), m.readPart(p))
	}
	return firstError(errs)
}

// unknownCharset describes an unknown charset error, which go-message returns
// along with a usable reader, and passes other errors through.
func unknownCharset(err error) error {
	if err != nil && message.IsUnknownCharset(err) {
		return fmt.Errorf("unknown charset: %w", err)
	}
	return err
}

func firstError(errs []error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

func (m *Message) readHeader(h mail.Header) error {
	var errs []error
	fields := h.Fields()
	for fields.Next() {
		v, err := fields.Text()
		if err != nil {
			v = fields.Value()
		}
		m.Header = append(m.Header, Field{Key: fields.Key(), Value: v})
	}
	var err error
	if m.Subject, err = h.Subject(); err != nil {
		errs = append(errs, fmt.Errorf("subject: %w", err))
	}
	m.From, _ = h.Text("From")
	m.To, _ = h.Text("To")
	if h.Has("Date") {
		if m.Date, err = h.Date(); err != nil {
			errs = append(errs, fmt.Errorf("date: %w", err))
		}
	}
	if h.Has("Message-Id") {
		if m.MessageID, err = h.MessageID(); err != nil {
			errs = append(errs, fmt.Errorf("message-id: %w", err))
		}
	}
	return firstError(errs)
}

// readPart keeps the first text/plain and text/html inline parts and the names
// of attachments.
func (m *Message) readPart(p *mail.Part) error {
	switch h := p.Header.(type) {
	case *mail.InlineHeader:
		t, _, _ := h.ContentType()
		target := map[string]*string{"text/plain": &m.Text, "text/html": &m.HTML}[t]
		if target == nil || *target != "" {
			return nil
		}
		body, err := io.ReadAll(p.Body)
		if err != nil {
			return fmt.Errorf("read %s part: %w", t, err)
		}
		*target = string(body)
	case *mail.AttachmentHeader:
		name, _ := h.Filename()
		if name == "" {
			name = "(unnamed)"
		}
		m.Attachments = append(m.Attachments, name)
	}
	return nil
}

var (
	// hrefRE finds href attribute values, quoted or not.
	hrefRE = regexp.MustCompile(`(?i)\bhref\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'>]+))`)
	// textURLRE finds URLs in plain text.
	textURLRE = regexp.MustCompile(`(?i)\bhttps?://[^\s<>"']+`)
)

// extractLinks returns the http and https links of the text and HTML parts, in
// order, without duplicates. Other schemes (javascript:, data:, mailto:) are left
// out: the links are shown to be followed.
func extractLinks(text, htmlPart string) []string {
	var links []string
	seen := make(map[string]bool)
	add := func(s string) {
		s = strings.TrimSpace(s)
		u, err := url.Parse(s)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || seen[s] {
			return
		}
		seen[s] = true
		links = append(links, s)
	}
	for _, s := range textURLRE.FindAllString(text, -1) {
		add(strings.TrimRight(s, ".,;:!?)]}"))
	}
	for _, sub := range hrefRE.FindAllStringSubmatch(htmlPart, -1) {
		add(html.UnescapeString(sub[1] + sub[2] + sub[3]))
	}
	return links
}
