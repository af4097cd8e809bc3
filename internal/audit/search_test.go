package audit

import (
	"context"
	"slices"
	"testing"
	"time"

	badgerstore "github.com/caddy-password-reset/caddy-password-reset/storage/badger"
)

// newLog is a log in a Badger store on disk, on a clock the test moves.
func newLog(t *testing.T) (*Log, *time.Time) {
	t.Helper()
	store, err := badgerstore.Open(badgerstore.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	return New(store, 0, func() time.Time { return now }), &now
}

// seed writes one entry a day from March 1st: scpr for alice, fcpr for an
// unknown address, scp for alice, sapi by ops.
func seed(t *testing.T, l *Log, now *time.Time) {
	t.Helper()
	for _, e := range []Entry{
		{Type: ResetRequestHandled, UserID: "user-alice", UserName: "alice@example.com", Connection: "db", IP: "192.0.2.1"},
		{Type: ResetRequestFailed, UserName: "nobody@example.com", Connection: "db", IP: "192.0.2.9"},
		{Type: PasswordReset, UserID: "user-alice", UserName: "alice@example.com", Connection: "db", ClientID: "app"},
		{Type: APIOperation, Actor: "ops", Target: "/api/v2/tickets/password-change"},
	} {
		if err := l.Write(context.Background(), e); err != nil {
			t.Fatal(err)
		}
		*now = now.Add(24 * time.Hour)
	}
}

func types(entries []Entry) []string {
	var out []string
	for _, e := range entries {
		out = append(out, e.Type)
	}
	return out
}

// TestSearch: a filter selects on each field, dates included at both ends;
// pages and totals count what it selects; ascending reverses the order.
func TestSearch(t *testing.T) {
	l, now := newLog(t)
	seed(t, l, now)
	day := func(d int) time.Time { return time.Date(2026, 3, d, 0, 0, 0, 0, time.UTC) }
	for _, tt := range []struct {
		name string
		f    Filter
		want []string
	}{
		{"all", Filter{}, []string{"sapi", "scp", "fcpr", "scpr"}},
		{"types", Filter{Types: []string{"scpr", "fcpr"}}, []string{"fcpr", "scpr"}},
		{"user_id", Filter{UserID: "user-alice"}, []string{"scp", "scpr"}},
		{"user_name ignores case", Filter{UserName: "NOBODY@example.com"}, []string{"fcpr"}},
		{"connection and client", Filter{Connection: "db", ClientID: "app"}, []string{"scp"}},
		{"ip", Filter{IP: "192.0.2.9"}, []string{"fcpr"}},
		{"since", Filter{Since: day(3).Add(12 * time.Hour)}, []string{"sapi", "scp"}},
		{"until", Filter{Until: day(2).Add(12 * time.Hour)}, []string{"fcpr", "scpr"}},
		{"one day", Filter{Since: day(2), Until: day(3).Add(-time.Nanosecond)}, []string{"fcpr"}},
		{"both ends included", Filter{Since: day(2).Add(12 * time.Hour), Until: day(3).Add(12 * time.Hour)}, []string{"scp", "fcpr"}},
		{"before every entry", Filter{Until: time.Date(1900, 1, 1, 0, 0, 0, 0, time.UTC)}, nil},
		{"far future", Filter{Until: time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)}, []string{"sapi", "scp", "fcpr", "scpr"}},
		{"nothing", Filter{Types: []string{"f"}}, nil},
	} {
		got, total, err := l.Search(context.Background(), tt.f, 0, 100, false)
		if err != nil {
			t.Fatal(err)
		}
		if got == nil || !slices.Equal(types(got), tt.want) || total != len(tt.want) {
			t.Errorf("%s: %v (total %d), want %v", tt.name, types(got), total, tt.want)
		}
	}
	page, total, err := l.Search(context.Background(), Filter{}, 1, 3, true)
	if err != nil || total != 4 || !slices.Equal(types(page), []string{"sapi"}) {
		t.Errorf("page 1 of 3, oldest first: %v %d %v", types(page), total, err)
	}
}

// TestAfter: checkpoint reading returns the entries written after an id,
// oldest first, take at a time; a reader that keeps the last id sees each
// entry once.
func TestAfter(t *testing.T) {
	l, now := newLog(t)
	seed(t, l, now)
	all, _, err := l.Search(context.Background(), Filter{}, 0, 100, true)
	if err != nil {
		t.Fatal(err)
	}
	var seen []string
	for from := all[0].ID; ; {
		got, err := l.After(context.Background(), from, 2)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) == 0 {
			break
		}
		seen = append(seen, types(got)...)
		from = got[len(got)-1].ID
	}
	if !slices.Equal(seen, []string{"fcpr", "scp", "sapi"}) {
		t.Errorf("read after the first entry: %v", seen)
	}
	for _, id := range []string{all[0].ID, "7427173683917963102-npw4qur7"} {
		if !ValidID(id) {
			t.Errorf("ValidID(%q) = false", id)
		}
	}
	for _, id := range []string{"", "x", "7427173683917963102", "742717368391796310-npw4qur7", "7427173683917963102-NPW4QUR7", "../../etc-passwd1"} {
		if ValidID(id) {
			t.Errorf("ValidID(%q) = true", id)
		}
	}
}
