// Package mail composes the password-reset messages and submits them to an SMTP
// relay.
//
// Composing and sending are separate on purpose: a Message is turned into bytes
// once (Message.Bytes), and those bytes, with the envelope from
// Message.Envelope, are what a Sender submits and what a durable queue stores.
// A retry then resends the identical message, with the same Message-ID, instead
// of composing a new one.
//
// Every header value is checked before it is written. The To address comes
// from the application and the Subject may come from a template, so both are
// treated as untrusted: a CR or LF in them must never become a new header line
// (security.md 4.9).
package mail

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	netmail "net/mail"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	gomail "github.com/emersion/go-message/mail"
	"golang.org/x/net/idna"
)

// maxLineLen is the RFC 5322 limit on a header line, CRLF excluded. Header
// values are kept short enough to fit on one line before folding, so the
// writer never has to split inside a word, which would change the value.
const maxLineLen = 998

// maxAddressLen is the RFC 5321 limit on a forward- or reverse-path (256
// octets) minus the angle brackets.
const maxAddressLen = 254

// Message is one outgoing email. The zero value is not valid: From, To, Subject
// and Text are required.
//
// From must be a fixed, configured address. It must never be derived from the
// request (Host header, X-Forwarded-Host): a reset mail whose From points at the
// attacker's domain sends bounces and auto-replies, which may quote the reset
// link, to the attacker (security.md 4.1, WordPress CVE-2017-8295).
type Message struct {
	From    string // RFC 5322 address, may have a display name: "Example <no-reply@example.com>"
	To      string // one recipient address (the address the app returned for the user)
	ReplyTo string // optional
	Subject string
	Text    string // text/plain part; required, because an HTML-only message scores as spam
	HTML    string // text/html part; optional, if empty the message is text only

	// MessageID is optional; if empty, Bytes generates one as
	// <random@domain-of-From>. Set it (see NewMessageID) to know the ID before
	// sending, for example to log it or to recognise a duplicate.
	MessageID string

	// Date is the Date header; the zero value means the time Bytes is called.
	Date time.Time
}

// Validate reports whether m can be composed safely. It parses the addresses
// with net/mail, refuses control characters (CR, LF, NUL, TAB and the rest) and
// invalid UTF-8 in every header value, including display names after their
// RFC 2047 encoded-words are decoded, and refuses values that would not fit on
// one header line.
func (m *Message) Validate() error {
	if _, err := m.parse(); err != nil {
		return err
	}
	return nil
}

// parsed holds the addresses of a validated message.
type parsed struct {
	from, to, replyTo *netmail.Address
	messageID         string // without angle brackets; empty if m.MessageID is empty
	idDomain          string // right side for a generated Message-ID; empty if messageID is set
}

func (m *Message) parse() (*parsed, error) {
	var p parsed
	var err error
	if p.from, err = parseAddress("From", m.From); err != nil {
		return nil, err
	}
	if p.to, err = parseAddress("To", m.To); err != nil {
		return nil, err
	}
	// An internationalised domain travels as its A-label (xn--...), in the
	// envelope and the headers alike, so any relay can carry it; only a
	// non-ASCII local part needs SMTPUTF8.
	if err := asciiDomain(p.from); err != nil {
		return nil, err
	}
	if err := asciiDomain(p.to); err != nil {
		return nil, err
	}
	if m.ReplyTo != "" {
		if p.replyTo, err = parseAddress("Reply-To", m.ReplyTo); err != nil {
			return nil, err
		}
		if err := asciiDomain(p.replyTo); err != nil {
			return nil, err
		}
	}
	if err := checkSubject(m.Subject); err != nil {
		return nil, err
	}
	if err := checkBody("Text", m.Text); err != nil {
		return nil, err
	}
	if m.Text == "" {
		return nil, errors.New("mail: Text is empty")
	}
	if err := checkBody("HTML", m.HTML); err != nil {
		return nil, err
	}
	if m.MessageID != "" {
		if p.messageID, err = parseMessageID(m.MessageID); err != nil {
			return nil, err
		}
	} else if p.idDomain, err = messageIDDomain(p.from); err != nil {
		return nil, err
	}
	return &p, nil
}

// parseAddress parses exactly one RFC 5322 address (no lists, no groups) and
// checks both what was given and what the parser made of it.
func parseAddress(field, s string) (*netmail.Address, error) {
	if s == "" {
		return nil, fmt.Errorf("mail: %s is empty", field)
	}
	if err := checkHeaderText(field, s); err != nil {
		return nil, err
	}
	a, err := netmail.ParseAddress(s)
	if err != nil {
		return nil, fmt.Errorf("mail: %s: %w", field, err)
	}
	// The parser decodes encoded-words in the display name, so a name given as
	// "=?utf-8?q?x=0D=0ABcc:...?=" only shows its CRLF now.
	if err := checkHeaderText(field+" display name", a.Name); err != nil {
		return nil, err
	}
	if err := checkAddrSpec(field, a.Address); err != nil {
		return nil, err
	}
	if n := len(field) + len(": ") + len(a.String()); n > maxLineLen {
		return nil, fmt.Errorf("mail: %s is too long (%d bytes encoded, limit %d)", field, n, maxLineLen)
	}
	return a, nil
}

// checkAddrSpec refuses addresses that a careless SMTP server could misparse
// in MAIL FROM:<...> or RCPT TO:<...> even when they are legal in quoted form.
func checkAddrSpec(field, addr string) error {
	if len(addr) > maxAddressLen {
		return fmt.Errorf("mail: %s address is too long (%d bytes, limit %d)", field, len(addr), maxAddressLen)
	}
	if i := strings.IndexAny(addr, "<>"); i >= 0 {
		return fmt.Errorf("mail: %s address contains %q", field, addr[i])
	}
	return checkHeaderText(field+" address", addr)
}

// checkHeaderText refuses invalid UTF-8 and control characters. TAB is
// refused too: it has no place in a subject or a name, and a writer may fold
// at it.
func checkHeaderText(field, s string) error {
	if !utf8.ValidString(s) {
		return fmt.Errorf("mail: %s is not valid UTF-8", field)
	}
	for i, r := range s {
		if unicode.IsControl(r) {
			return fmt.Errorf("mail: %s contains control character %U at byte %d", field, r, i)
		}
	}
	return nil
}

// checkSubject applies checkHeaderText and two rules of its own. A Subject
// that already looks like an encoded-word would be written as is (it is plain
// ASCII) but decoded by the reader into something else, possibly containing a
// CRLF. And the encoded value must fit on one header line.
func checkSubject(s string) error {
	if s == "" {
		return errors.New("mail: Subject is empty")
	}
	if err := checkHeaderText("Subject", s); err != nil {
		return err
	}
	if strings.Contains(s, "=?") {
		return errors.New(`mail: Subject contains "=?", which readers would decode as an RFC 2047 encoded-word`)
	}
	var h gomail.Header
	h.SetSubject(s)
	if n := len("Subject: ") + len(h.Get("Subject")); n > maxLineLen {
		return fmt.Errorf("mail: Subject is too long (%d bytes encoded, limit %d)", n, maxLineLen)
	}
	return nil
}

// checkBody refuses what a utf-8 text part cannot carry. Line breaks are
// fine: they are normalised to CRLF when the body is encoded.
func checkBody(field, s string) error {
	if !utf8.ValidString(s) {
		return fmt.Errorf("mail: %s is not valid UTF-8", field)
	}
	if i := strings.IndexByte(s, 0); i >= 0 {
		return fmt.Errorf("mail: %s contains NUL at byte %d", field, i)
	}
	return nil
}

// parseMessageID accepts "<left@right>" or "left@right" and returns the ID
// without brackets. Both sides must be dot-atoms (RFC 5322 3.6.4), which keeps
// the value free of spaces, quotes and brackets.
func parseMessageID(id string) (string, error) {
	inner := id
	if strings.HasPrefix(inner, "<") && strings.HasSuffix(inner, ">") {
		inner = inner[1 : len(inner)-1]
	}
	left, right, ok := strings.Cut(inner, "@")
	if !ok || !isDotAtom(left) || !isDotAtom(right) {
		return "", fmt.Errorf("mail: MessageID %q is not <dot-atom@dot-atom>", id)
	}
	if n := len("Message-Id: <>") + len(inner); n > maxLineLen {
		return "", fmt.Errorf("mail: MessageID is too long (%d bytes)", len(inner))
	}
	return inner, nil
}

// isDotAtom reports whether s is an RFC 5322 dot-atom-text of ASCII atext.
func isDotAtom(s string) bool {
	if s == "" || s[0] == '.' || s[len(s)-1] == '.' || strings.Contains(s, "..") {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case strings.IndexByte("!#$%&'*+-/=?^_`{|}~.", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// NewMessageID returns a new Message-ID, without angle brackets, whose right
// side is the domain of the From address. Spam filters penalise a missing
// Message-ID and one whose domain is unrelated to the sender (peers.md 8).
// The left side is 128 bits of randomness, so IDs do not collide and do not
// reveal anything (time, host, count) about the sender.
func NewMessageID(from string) (string, error) {
	a, err := parseAddress("From", from)
	if err != nil {
		return "", err
	}
	domain, err := messageIDDomain(a)
	if err != nil {
		return "", err
	}
	return newMessageID(domain), nil
}

func newMessageID(domain string) string {
	return rand.Text() + "@" + domain
}

// asciiDomain rewrites a's domain to its A-label when it is internationalised.
func asciiDomain(a *netmail.Address) error {
	at := strings.LastIndexByte(a.Address, '@')
	if at < 0 || isASCII(a.Address[at+1:]) {
		return nil
	}
	ascii, err := idna.Lookup.ToASCII(a.Address[at+1:])
	if err != nil {
		return fmt.Errorf("mail: address %q has a domain that is not a valid internationalised name: %w", a.Address, err)
	}
	a.Address = a.Address[:at+1] + ascii
	return nil
}

// messageIDDomain returns the domain of from in the ASCII form a Message-ID
// needs: an internationalised domain becomes its A-label. An address literal
// such as [192.0.2.1] is refused; such a sender must set MessageID.
func messageIDDomain(from *netmail.Address) (string, error) {
	at := strings.LastIndexByte(from.Address, '@')
	if at < 0 {
		return "", fmt.Errorf("mail: From address %q has no domain", from.Address)
	}
	domain := from.Address[at+1:]
	if isDotAtom(domain) {
		return domain, nil
	}
	ascii, err := idna.Lookup.ToASCII(domain)
	if err != nil || !isDotAtom(ascii) {
		return "", fmt.Errorf("mail: From domain %q cannot be used in a Message-ID; set MessageID", domain)
	}
	return ascii, nil
}

// Bytes validates m and returns the message in RFC 5322 form with CRLF line
// endings: multipart/alternative with the text part first (or text/plain alone
// when HTML is empty), quoted-printable bodies, RFC 2047 encoding for non-ASCII
// subjects and names, and the headers spam filters look for (Message-ID, Date,
// MIME-Version). It also sets Auto-Submitted: auto-generated (RFC 3834) so that
// vacation responders do not answer the reset mail.
//
// Bytes does not modify m: if MessageID or Date is empty, each call generates a
// new one. Compose once and keep the bytes to resend the same message.
func (m *Message) Bytes() ([]byte, error) {
	p, err := m.parse()
	if err != nil {
		return nil, err
	}
	id := p.messageID
	if id == "" {
		id = newMessageID(p.idDomain)
	}
	date := m.Date
	if date.IsZero() {
		date = time.Now()
	}

	var buf bytes.Buffer
	buf.Grow(1024 + len(m.Text) + len(m.HTML))
	if err := m.write(&buf, header(p, m.Subject, id, date)); err != nil {
		return nil, fmt.Errorf("mail: compose: %w", err)
	}
	return buf.Bytes(), nil
}

// header builds the top-level header. go-message writes fields in the reverse
// order of insertion, so they are set from last to first.
func header(p *parsed, subject, id string, date time.Time) gomail.Header {
	var h gomail.Header
	h.Set("Auto-Submitted", "auto-generated")
	h.Set("MIME-Version", "1.0")
	h.SetMessageID(id)
	h.SetSubject(subject)
	if p.replyTo != nil {
		h.SetAddressList("Reply-To", []*gomail.Address{p.replyTo})
	}
	h.SetAddressList("To", []*gomail.Address{p.to})
	h.SetAddressList("From", []*gomail.Address{p.from})
	h.SetDate(date)
	return h
}

// write writes the header and the body parts to w.
func (m *Message) write(w io.Writer, h gomail.Header) error {
	if m.HTML == "" {
		h.SetContentType("text/plain", map[string]string{"charset": "utf-8"})
		body, err := gomail.CreateSingleInlineWriter(w, h)
		if err != nil {
			return err
		}
		return writeAndClose(body, m.Text)
	}

	mw, err := gomail.CreateInlineWriter(w, h)
	if err != nil {
		return err
	}
	if err := writePart(mw, "text/plain", m.Text); err != nil {
		return err
	}
	if err := writePart(mw, "text/html", m.HTML); err != nil {
		return err
	}
	return mw.Close()
}

// writePart adds one quoted-printable utf-8 part. Quoted-printable keeps ASCII
// text readable in the raw message and never produces a line over 76
// characters, whatever the template contains.
func writePart(mw *gomail.InlineWriter, contentType, body string) error {
	var h gomail.InlineHeader
	h.SetContentType(contentType, map[string]string{"charset": "utf-8"})
	h.Set("Content-Transfer-Encoding", "quoted-printable")
	pw, err := mw.CreatePart(h)
	if err != nil {
		return err
	}
	return writeAndClose(pw, body)
}

func writeAndClose(w io.WriteCloser, s string) error {
	if _, err := io.WriteString(w, s); err != nil {
		w.Close()
		return err
	}
	return w.Close()
}

// Envelope returns the bare addresses for MAIL FROM and RCPT TO. A local part
// that needs quoting (`"john doe"@example.com`) is returned quoted, as RFC 5321
// requires; net/mail's Address field holds it unquoted.
func (m *Message) Envelope() (from string, to []string, err error) {
	p, err := m.parse()
	if err != nil {
		return "", nil, err
	}
	return envelopeAddress(p.from), []string{envelopeAddress(p.to)}, nil
}

func envelopeAddress(a *netmail.Address) string {
	s := (&netmail.Address{Address: a.Address}).String()
	return strings.TrimSuffix(strings.TrimPrefix(s, "<"), ">")
}
