package testenv_test

import (
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/caddy-password-reset/caddy-password-reset/internal/testenv"
)

func TestFrozenClock(t *testing.T) {
	t0 := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	c := testenv.NewFrozenClock(t0)
	if got := c.Now(); !got.Equal(t0) {
		t.Fatalf("Now = %v, want %v", got, t0)
	}
	if got := c.Now(); !got.Equal(t0) {
		t.Fatalf("a frozen clock moved by itself: %v", got)
	}
	c.Advance(90 * time.Second)
	if got := c.Now(); !got.Equal(t0.Add(90 * time.Second)) {
		t.Fatalf("after Advance(90s): %v", got)
	}
}

func TestRunningClock(t *testing.T) {
	var c testenv.Clock
	before := time.Now()
	if got := c.Now(); got.Before(before) {
		t.Fatalf("the zero Clock is behind real time: %v < %v", got, before)
	}
	c.Advance(time.Hour)
	if got := c.Now(); got.Before(before.Add(time.Hour)) {
		t.Fatalf("after Advance(1h): %v, want at least %v", got, before.Add(time.Hour))
	}
}

func TestEventuallyPollsUntilTrue(t *testing.T) {
	calls := 0
	testenv.Poll{Every: time.Millisecond}.Eventually(t, "the third call", func() (bool, error) {
		calls++
		return calls == 3, nil
	})
	if calls != 3 {
		t.Fatalf("cond called %d times, want 3", calls)
	}
}

// send delivers one message with Message-ID id to rcpt over a new connection.
func send(t *testing.T, addr, rcpt, id string) {
	t.Helper()
	c, err := smtp.Dial(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	msg := "Message-ID: <" + id + ">\r\nSubject: hi\r\n\r\nbody\r\n"
	if err := c.SendMail("from@example.com", []string{rcpt}, strings.NewReader(msg)); err != nil {
		t.Fatal(err)
	}
	if err := c.Quit(); err != nil {
		t.Fatal(err)
	}
}

func TestSinkCounts(t *testing.T) {
	s := testenv.StartSink(t, testenv.SinkConfig{})
	send(t, s.Addr, "Alice@example.com", "one@example.com")
	send(t, s.Addr, "alice@example.com", "one@example.com") // resent
	s.KeepRaw(true)
	send(t, s.Addr, "bob@example.com", "two@example.com")
	st := s.Stats()
	if st.Deliveries != 3 || st.Distinct != 2 || st.Recipients != 2 || st.Duplicates() != 1 || st.Sessions != 3 {
		t.Fatalf("stats %+v", st)
	}
	if ids := s.MessageIDs("alice@example.com"); len(ids) != 2 || ids[0] != "one@example.com" {
		t.Errorf("alice's Message-IDs: %v", ids)
	}
	if s.Raw("alice@example.com") != nil || !strings.Contains(string(s.Raw("bob@example.com")), "two@example.com") {
		t.Errorf("kept: alice %q, bob %q; want only what arrived with KeepRaw on", s.Raw("alice@example.com"), s.Raw("bob@example.com"))
	}
	if msgs := s.Messages(); len(msgs) != 1 || msgs[0].From != "from@example.com" || msgs[0].To[0] != "bob@example.com" {
		t.Errorf("messages %+v", msgs)
	}
	s.Reset()
	if st := s.Stats(); st.Deliveries != 0 || s.Raw("bob@example.com") != nil {
		t.Errorf("after Reset: %+v", st)
	}
}

func TestSinkRefusesRecipient(t *testing.T) {
	s := testenv.StartSink(t, testenv.SinkConfig{Rcpt: func(string) error {
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no"}
	}})
	c, err := smtp.Dial(s.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	err = c.SendMail("from@example.com", []string{"x@example.com"}, strings.NewReader("Subject: hi\r\n\r\n"))
	if se := (*smtp.SMTPError)(nil); !errors.As(err, &se) || se.Code != 550 {
		t.Fatalf("SendMail = %v, want a 550", err)
	}
	if n := s.Stats().Deliveries; n != 0 {
		t.Errorf("%d deliveries", n)
	}
}

func TestSinkDownUpAndDrop(t *testing.T) {
	s := testenv.StartSink(t, testenv.SinkConfig{})
	c, err := smtp.Dial(s.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Hello("localhost"); err != nil {
		t.Fatal(err)
	}
	loggedOut := s.NextLogout()
	s.DropConnections()
	<-loggedOut
	if err := s.Down(); err != nil {
		t.Fatal(err)
	}
	if conn, err := net.Dial("tcp", s.Addr); err == nil {
		conn.Close()
		t.Fatal("the sink still listens after Down")
	}
	if err := s.Up(); err != nil {
		t.Fatal(err)
	}
	send(t, s.Addr, "alice@example.com", "after@example.com")
	s.WaitDeliveries(t, 1)
}
