package mail_test

import (
	"bufio"
	"bytes"
	"io"
	netmail "net/mail"
	"net/textproto"
	"slices"
	"strings"
	"testing"
	"time"

	gomail "github.com/emersion/go-message/mail"
	"golang.org/x/net/idna"

	"github.com/caddy-password-reset/caddy-password-reset/internal/mail"
)

func validMessage() *mail.Message {
	return &mail.Message{
		From:    "Example <no-reply@example.com>",
		To:      "user@example.org",
		ReplyTo: "Support <support@example.com>",
		Subject: "Reset your password",
		Text:    "Hello,\n\nOpen this link to choose a new password:\nhttps://example.com/reset#t=abc\n",
		HTML:    "<p>Hello,</p>\n<p><a href=\"https://example.com/reset#t=abc\">Choose a new password</a></p>\n",
		Date:    time.Date(2026, 11, 29, 4, 30, 0, 0, time.FixedZone("CET", 3600)),
	}
}

// parsedMessage is what a reader sees in composed bytes.
type parsedMessage struct {
	header gomail.Header
	keys   []string // header field names in order, canonicalised
	parts  []parsedPart
}

type parsedPart struct {
	contentType string
	params      map[string]string
	body        string
}

func parseComposed(t testing.TB, b []byte) parsedMessage {
	t.Helper()
	r, err := gomail.CreateReader(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("CreateReader: %v\n%s", err, b)
	}
	defer r.Close()
	var pm parsedMessage
	pm.header = r.Header
	for f := r.Header.Fields(); f.Next(); {
		pm.keys = append(pm.keys, f.Key())
	}
	for {
		p, err := r.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("NextPart: %v\n%s", err, b)
		}
		h, ok := p.Header.(*gomail.InlineHeader)
		if !ok {
			t.Fatalf("part header is %T, want an inline part", p.Header)
		}
		ct, params, err := h.ContentType()
		if err != nil {
			t.Fatalf("part Content-Type: %v", err)
		}
		body, err := io.ReadAll(p.Body)
		if err != nil {
			t.Fatalf("read part: %v", err)
		}
		pm.parts = append(pm.parts, parsedPart{contentType: ct, params: params, body: string(body)})
	}
	return pm
}

// wantKeys is the exact header set of a composed message.
func wantKeys(m *mail.Message) []string {
	keys := []string{"Auto-Submitted", "Content-Type", "Date", "From", "Message-Id", "Mime-Version", "Subject", "To"}
	if m.ReplyTo != "" {
		keys = append(keys, "Reply-To")
	}
	if m.HTML == "" {
		keys = append(keys, "Content-Transfer-Encoding")
	}
	slices.Sort(keys)
	return keys
}

func sortedKeys(keys []string) []string {
	keys = slices.Clone(keys)
	slices.Sort(keys)
	return keys
}

// normNewlines maps CRLF and CR to LF: bodies are sent with CRLF line breaks.
func normNewlines(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "\r\n", "\n"), "\r", "\n")
}

func TestMessageRoundTrip(t *testing.T) {
	m := validMessage()
	b, err := m.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	pm := parseComposed(t, b)

	if got, want := sortedKeys(pm.keys), wantKeys(m); !slices.Equal(got, want) {
		t.Errorf("header keys = %v, want %v", got, want)
	}
	checkAddress(t, pm.header, "From", "Example", "no-reply@example.com")
	checkAddress(t, pm.header, "To", "", "user@example.org")
	checkAddress(t, pm.header, "Reply-To", "Support", "support@example.com")
	if s, err := pm.header.Subject(); err != nil || s != m.Subject {
		t.Errorf("Subject = %q, %v; want %q", s, err, m.Subject)
	}
	if d, err := pm.header.Date(); err != nil || !d.Equal(m.Date) {
		t.Errorf("Date = %v, %v; want %v", d, err, m.Date)
	}
	if !strings.Contains(string(b), "Date: Sun, 29 Nov 2026 04:30:00 +0100\r\n") {
		t.Errorf("Date header does not keep the given zone:\n%s", b)
	}
	if id, err := pm.header.MessageID(); err != nil || !strings.HasSuffix(id, "@example.com") {
		t.Errorf("Message-ID = %q, %v; want ...@example.com", id, err)
	}
	if v := pm.header.Get("Mime-Version"); v != "1.0" {
		t.Errorf("MIME-Version = %q", v)
	}
	if v := pm.header.Get("Auto-Submitted"); v != "auto-generated" {
		t.Errorf("Auto-Submitted = %q", v)
	}
	if ct, _, err := pm.header.ContentType(); err != nil || ct != "multipart/alternative" {
		t.Errorf("Content-Type = %q, %v", ct, err)
	}

	if len(pm.parts) != 2 {
		t.Fatalf("got %d parts, want 2", len(pm.parts))
	}
	checkPart(t, pm.parts[0], "text/plain", m.Text)
	checkPart(t, pm.parts[1], "text/html", m.HTML)
	if !bytes.Contains(b, []byte("Content-Transfer-Encoding: quoted-printable\r\n")) {
		t.Errorf("parts are not quoted-printable:\n%s", b)
	}
	checkLines(t, b)
}

func TestMessageTextOnly(t *testing.T) {
	m := validMessage()
	m.HTML = ""
	m.ReplyTo = ""
	b, err := m.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	pm := parseComposed(t, b)
	if got, want := sortedKeys(pm.keys), wantKeys(m); !slices.Equal(got, want) {
		t.Errorf("header keys = %v, want %v", got, want)
	}
	if len(pm.parts) != 1 {
		t.Fatalf("got %d parts, want 1", len(pm.parts))
	}
	checkPart(t, pm.parts[0], "text/plain", m.Text)
}

func TestMessageNonASCII(t *testing.T) {
	m := validMessage()
	m.From = "Exämple Støre <no-reply@example.com>"
	m.Subject = "Réinitialisez votre mot de passe — ıİ 日本語  (dotless ı)"
	m.Text = "Bonjour Zoë,\nvoici le lien : https://example.com/r\n"
	b, err := m.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	header, _, _ := bytes.Cut(b, []byte("\r\n\r\n"))
	for i, c := range header {
		if c >= 0x80 {
			t.Fatalf("header has a raw non-ASCII byte at %d; want RFC 2047 encoding:\n%s", i, header)
		}
	}
	pm := parseComposed(t, b)
	if s, err := pm.header.Subject(); err != nil || s != m.Subject {
		t.Errorf("Subject = %q, %v; want %q", s, err, m.Subject)
	}
	checkAddress(t, pm.header, "From", "Exämple Støre", "no-reply@example.com")
	checkPart(t, pm.parts[0], "text/plain", m.Text)
}

func checkAddress(t *testing.T, h gomail.Header, key, name, addr string) {
	t.Helper()
	l, err := h.AddressList(key)
	if err != nil || len(l) != 1 || l[0].Name != name || l[0].Address != addr {
		t.Errorf("%s = %v, %v; want %q <%s>", key, l, err, name, addr)
	}
}

func checkPart(t *testing.T, p parsedPart, contentType, body string) {
	t.Helper()
	if p.contentType != contentType || p.params["charset"] != "utf-8" {
		t.Errorf("part Content-Type = %q %v, want %q; charset=utf-8", p.contentType, p.params, contentType)
	}
	if got := normNewlines(p.body); got != normNewlines(body) {
		t.Errorf("part %s body = %q, want %q", contentType, got, body)
	}
}

// checkLines asserts CRLF line endings throughout and the RFC 5322 line limit.
func checkLines(t testing.TB, b []byte) {
	t.Helper()
	for i, line := range bytes.Split(b, []byte("\r\n")) {
		if bytes.ContainsAny(line, "\r\n") {
			t.Fatalf("line %d has a bare CR or LF: %q", i+1, line)
		}
		if len(line) > 998 {
			t.Fatalf("line %d is %d bytes long", i+1, len(line))
		}
	}
}

func TestValidateRefuses(t *testing.T) {
	long := strings.Repeat("a", 990)
	tests := []struct {
		name string
		edit func(m *mail.Message)
	}{
		{"CRLF in Subject", func(m *mail.Message) { m.Subject = "Reset\r\nBcc: x@y.z" }},
		{"LF in Subject", func(m *mail.Message) { m.Subject = "Reset\nBcc: x@y.z" }},
		{"CR in Subject", func(m *mail.Message) { m.Subject = "Reset\rBcc: x@y.z" }},
		{"NUL in Subject", func(m *mail.Message) { m.Subject = "Reset\x00" }},
		{"TAB in Subject", func(m *mail.Message) { m.Subject = "Reset\tnow" }},
		{"invalid UTF-8 in Subject", func(m *mail.Message) { m.Subject = "Reset \xff" }},
		{"encoded-word in Subject", func(m *mail.Message) { m.Subject = "=?utf-8?q?Reset=0D=0ABcc:_x@y.z?=" }},
		{"over-long Subject", func(m *mail.Message) { m.Subject = long }},
		{"over-long encoded Subject", func(m *mail.Message) { m.Subject = strings.Repeat("é", 200) }},
		{"empty Subject", func(m *mail.Message) { m.Subject = "" }},
		{"CRLF in To", func(m *mail.Message) { m.To = "a@b.c\r\nBcc: x@y.z" }},
		{"LF in To", func(m *mail.Message) { m.To = "a@b.c\nBcc: x@y.z" }},
		{"two To addresses", func(m *mail.Message) { m.To = "a@b.c, x@y.z" }},
		{"group in To", func(m *mail.Message) { m.To = "undisclosed: a@b.c, x@y.z;" }},
		{"empty To", func(m *mail.Message) { m.To = "" }},
		{"To without domain", func(m *mail.Message) { m.To = "user" }},
		{"angle bracket in quoted local part", func(m *mail.Message) { m.To = `"a>b"@example.org` }},
		{"over-long To", func(m *mail.Message) { m.To = strings.Repeat("a", 250) + "@example.org" }},
		{"CRLF in From display name", func(m *mail.Message) { m.From = "\"Example\r\nBcc: x@y.z\" <no-reply@example.com>" }},
		{"encoded CRLF in From display name", func(m *mail.Message) { m.From = "=?utf-8?q?Example=0D=0ABcc:_x@y.z?= <no-reply@example.com>" }},
		{"NUL in From display name", func(m *mail.Message) { m.From = "\"Ex\x00ample\" <no-reply@example.com>" }},
		{"empty From", func(m *mail.Message) { m.From = "" }},
		{"over-long From display name", func(m *mail.Message) { m.From = "\"" + long + "\" <no-reply@example.com>" }},
		{"From address literal without MessageID", func(m *mail.Message) { m.From = "no-reply@[192.0.2.1]" }},
		{"LF in Reply-To", func(m *mail.Message) { m.ReplyTo = "s@example.com\nBcc: x@y.z" }},
		{"empty Text", func(m *mail.Message) { m.Text = "" }},
		{"invalid UTF-8 in Text", func(m *mail.Message) { m.Text = "a\xc3" }},
		{"NUL in HTML", func(m *mail.Message) { m.HTML = "<p>\x00</p>" }},
		{"CRLF in MessageID", func(m *mail.Message) { m.MessageID = "<a@b\r\nBcc: x@y.z>" }},
		{"space in MessageID", func(m *mail.Message) { m.MessageID = "<a b@example.com>" }},
		{"MessageID without @", func(m *mail.Message) { m.MessageID = "<abc>" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := validMessage()
			tt.edit(m)
			if err := m.Validate(); err == nil {
				t.Fatal("Validate accepted the message")
			} else if !strings.HasPrefix(err.Error(), "mail: ") {
				t.Errorf("error %q lacks the package prefix", err)
			}
			if b, err := m.Bytes(); err == nil {
				t.Fatalf("Bytes composed the message:\n%s", b)
			}
			if _, _, err := m.Envelope(); err == nil {
				t.Fatal("Envelope accepted the message")
			}
		})
	}
}

func TestSubjectLengthLimit(t *testing.T) {
	m := validMessage()
	m.Subject = strings.Repeat("a", 998-len("Subject: "))
	b, err := m.Bytes()
	if err != nil {
		t.Fatalf("a subject that fits one line was refused: %v", err)
	}
	checkLines(t, b)
	pm := parseComposed(t, b)
	if s, _ := pm.header.Subject(); s != m.Subject {
		t.Errorf("long Subject did not round-trip")
	}
	m.Subject += "a"
	if err := m.Validate(); err == nil {
		t.Error("a subject one byte over the line limit was accepted")
	}
}

func TestMessageIDUnique(t *testing.T) {
	seen := make(map[string]bool)
	for range 1000 {
		b, err := validMessage().Bytes()
		if err != nil {
			t.Fatal(err)
		}
		r, err := gomail.CreateReader(bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		id, err := r.Header.MessageID()
		if err != nil {
			t.Fatal(err)
		}
		left, domain, ok := strings.Cut(id, "@")
		if !ok || domain != "example.com" || len(left) < 20 {
			t.Fatalf("Message-ID %q: want <random@example.com>", id)
		}
		if seen[id] {
			t.Fatalf("duplicate Message-ID %q", id)
		}
		seen[id] = true
	}
}

func TestMessageIDGiven(t *testing.T) {
	for _, given := range []string{"<abc.123@example.com>", "abc.123@example.com"} {
		m := validMessage()
		m.MessageID = given
		b, err := m.Bytes()
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Contains(b, []byte("\r\nMessage-Id: <abc.123@example.com>\r\n")) {
			t.Errorf("MessageID %q not used:\n%s", given, b)
		}
	}
}

func TestNewMessageID(t *testing.T) {
	id, err := mail.NewMessageID("Example <no-reply@Exämple.COM>")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(id, "@xn--exmple-cua.com") {
		t.Errorf("NewMessageID = %q, want the A-label of the domain", id)
	}
	m := validMessage()
	m.From = "no-reply@[192.0.2.1]"
	m.MessageID = id
	if err := m.Validate(); err != nil {
		t.Errorf("an address literal with a given MessageID was refused: %v", err)
	}
}

func TestDateDefaultsToNow(t *testing.T) {
	m := validMessage()
	m.Date = time.Time{}
	before := time.Now().Truncate(time.Second)
	b, err := m.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	pm := parseComposed(t, b)
	d, err := pm.header.Date()
	if err != nil || d.Before(before) || d.After(time.Now()) {
		t.Errorf("Date = %v, %v; want now", d, err)
	}
}

func TestEnvelope(t *testing.T) {
	m := validMessage()
	m.To = `"John Doe" <"john doe"@example.org>`
	from, to, err := m.Envelope()
	if err != nil {
		t.Fatal(err)
	}
	if from != "no-reply@example.com" || !slices.Equal(to, []string{`"john doe"@example.org`}) {
		t.Errorf("Envelope = %q, %q", from, to)
	}
}

// FuzzMessage checks the injection-safety contract: whatever passes Validate
// composes into bytes whose header set is exactly the intended one, with the
// intended addresses, subject and bodies.
func FuzzMessage(f *testing.F) {
	v := validMessage()
	f.Add(v.From, v.To, v.ReplyTo, v.Subject, v.Text, v.HTML)
	f.Add(v.From, "a@b.c\r\nBcc: x@y.z", "", "Reset\r\nBcc: x@y.z", "a\r\n.\r\nMAIL FROM:<x@y.z>\r\n", "")
	f.Add("\"Ex\r\nBcc: x@y.z\" <no-reply@example.com>", "a@b.c", "", "s", "t", "")
	f.Add("=?utf-8?q?Ex=0D=0ABcc:_x@y.z?= <no-reply@example.com>", "a@b.c", "", "s", "t", "")
	f.Add(v.From, "a@b.c", "", "Reset\x00", "t\x00", "")
	f.Add("Dotless ı <no-reply@example.com>", "ı@example.org", "İ <i@example.com>", "ıİ şifre sıfırlama", "ı\n", "<p>ı</p>")
	f.Add(v.From, v.To, "", strings.Repeat("a", 989), "t", "")
	f.Add(v.From, v.To, "", strings.Repeat("é ", 80), "t", "")
	f.Add(v.From, v.To, "", "a  b   c ", "line\rbare CR\n\n", "")
	f.Add("\"=?utf-8?q?x?=\" <no-reply@example.com>", `"a b"@example.org`, "", "=?x", "t", "h")
	f.Fuzz(func(t *testing.T, from, to, replyTo, subject, text, html string) {
		m := &mail.Message{From: from, To: to, ReplyTo: replyTo, Subject: subject, Text: text, HTML: html}
		if m.Validate() != nil {
			if _, err := m.Bytes(); err == nil {
				t.Fatal("Bytes composed a message that Validate refused")
			}
			return
		}
		b, err := m.Bytes()
		if err != nil {
			t.Fatalf("Validate passed but Bytes failed: %v", err)
		}
		checkLines(t, b)
		checkRawHeader(t, b, wantKeys(m))

		pm := parseComposed(t, b)
		if got, want := sortedKeys(pm.keys), wantKeys(m); !slices.Equal(got, want) {
			t.Fatalf("header keys = %v, want %v\n%s", got, want, b)
		}
		fuzzAddress(t, pm.header, "From", from)
		fuzzAddress(t, pm.header, "To", to)
		if replyTo != "" {
			fuzzAddress(t, pm.header, "Reply-To", replyTo)
		}
		if got, err := pm.header.Subject(); err != nil || normSpace(got) != normSpace(subject) {
			t.Fatalf("Subject = %q, %v; want %q", got, err, subject)
		}
		want := []string{text}
		if html != "" {
			want = append(want, html)
		}
		if len(pm.parts) != len(want) {
			t.Fatalf("got %d parts, want %d", len(pm.parts), len(want))
		}
		for i, p := range pm.parts {
			if normNewlines(p.body) != normNewlines(want[i]) {
				t.Fatalf("part %d = %q, want %q", i, p.body, want[i])
			}
		}
	})
}

// checkRawHeader reads the header block line by line, without a MIME parser,
// and asserts that every field is an intended one and appears once.
func checkRawHeader(t *testing.T, b []byte, want []string) {
	t.Helper()
	header, _, ok := bytes.Cut(b, []byte("\r\n\r\n"))
	if !ok {
		t.Fatalf("no end of header:\n%s", b)
	}
	var keys []string
	sc := bufio.NewScanner(bytes.NewReader(header))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := strings.TrimSuffix(sc.Text(), "\r")
		if line == "" || line[0] == ' ' || line[0] == '\t' {
			continue // continuation
		}
		k, _, ok := strings.Cut(line, ":")
		if !ok {
			t.Fatalf("header line without a colon: %q", line)
		}
		keys = append(keys, textproto.CanonicalMIMEHeaderKey(k))
	}
	slices.Sort(keys)
	if !slices.Equal(keys, want) {
		t.Fatalf("raw header keys = %v, want %v\n%s", keys, want, header)
	}
}

func fuzzAddress(t *testing.T, h gomail.Header, key, given string) {
	t.Helper()
	want, err := netmail.ParseAddress(given)
	if err != nil {
		t.Fatalf("%s %q passed Validate but does not parse: %v", key, given, err)
	}
	l, err := h.AddressList(key)
	if err != nil || len(l) != 1 {
		t.Fatalf("%s = %v, %v; want one address", key, l, err)
	}
	// Addresses travel with an internationalised domain as its A-label.
	if at := strings.LastIndexByte(want.Address, '@'); at >= 0 && !isASCII(want.Address[at+1:]) {
		if ascii, err := idna.Lookup.ToASCII(want.Address[at+1:]); err == nil {
			want.Address = want.Address[:at+1] + ascii
		}
	}
	if l[0].Address != want.Address || normSpace(l[0].Name) != normSpace(want.Name) {
		t.Fatalf("%s = %q <%s>, want %q <%s>", key, l[0].Name, l[0].Address, want.Name, want.Address)
	}
}

// normSpace collapses runs of spaces and trims them: header unfolding in the
// reader does the same, which is not a change of meaning.
func normSpace(s string) string {
	return strings.Join(strings.FieldsFunc(s, func(r rune) bool { return r == ' ' }), " ")
}

func BenchmarkCompose(b *testing.B) {
	m := validMessage()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := m.Bytes(); err != nil {
			b.Fatal(err)
		}
	}
}

func isASCII(s string) bool {
	for i := range len(s) {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}
