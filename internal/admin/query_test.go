package admin_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/caddy-password-reset/caddy-password-reset/internal/admin"
	"github.com/caddy-password-reset/caddy-password-reset/internal/fault"
)

func day(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 0, 0, 0, 0, time.UTC) }

func TestParseLogQuery(t *testing.T) {
	endOf := func(t time.Time) time.Time { return t.AddDate(0, 0, 1).Add(-time.Nanosecond) }
	at := time.Date(2026, 5, 4, 10, 30, 0, 0, time.UTC)
	for q, want := range map[string]admin.LogFilter{
		``:                                  {},
		`type:scpr`:                         {Types: []string{"scpr"}},
		`type:"fcpr"`:                       {Types: []string{"fcpr"}},
		`type:(scpr OR fcpr)`:               {Types: []string{"scpr", "fcpr"}},
		`user_id:"auth0|x y"`:               {UserID: "auth0|x y"},
		`type:scp AND user_id:"user-alice"`: {Types: []string{"scp"}, UserID: "user-alice"},
		`type:scp user_name:alice@example.com connection:"Username-Password-Authentication" client_id:demo-app ip:"192.0.2.1"`: {
			Types: []string{"scp"}, UserName: "alice@example.com", Connection: "Username-Password-Authentication", ClientID: "demo-app", IP: "192.0.2.1"},
		`date:[2026-01-01 TO 2026-12-31]`:               {Since: day(2026, 1, 1), Until: endOf(day(2026, 12, 31))},
		`date:[2026-01-01 TO *]`:                        {Since: day(2026, 1, 1)},
		`date:[* TO 2026-01-01]`:                        {Until: endOf(day(2026, 1, 1))},
		`date:{2026-01-01 TO 2026-01-03}`:               {Since: day(2026, 1, 2), Until: day(2026, 1, 3).Add(-time.Nanosecond)},
		`date:2026-02-03`:                               {Since: day(2026, 2, 3), Until: endOf(day(2026, 2, 3))},
		`date:[2026-05-04T10:30:00Z TO *]`:              {Since: at},
		`date:[2026-05-04T10:30:00 TO *] AND type:fapi`: {Since: at, Types: []string{"fapi"}},
	} {
		got, err := admin.ParseLogQuery(q)
		if err != nil || !slices.Equal(got.Types, want.Types) || got.UserID != want.UserID || got.UserName != want.UserName ||
			got.Connection != want.Connection || got.ClientID != want.ClientID || got.IP != want.IP ||
			!got.Since.Equal(want.Since) || !got.Until.Equal(want.Until) {
			t.Errorf("ParseLogQuery(%q) = %+v, %v; want %+v", q, got, err, want)
		}
	}
	for q, mention := range map[string]string{
		`type:scp OR type:fcp`:            "operator OR",
		`NOT type:scp`:                    "operator NOT",
		`type:scp AND`:                    "operator AND",
		`description:"x"`:                 "Unsupported field description",
		`type:sc*`:                        "Wildcards",
		`type:(scp AND fcp)`:              "joined by OR",
		`type:(scp OR)`:                   "missing",
		`type:SCP`:                        "Unsupported event type",
		`type:scp type:fcp`:               "appears more than once",
		`user_id:"x`:                      "no closing quote",
		`date:[2026-01-01 2026-02-01]`:    "[<from> TO <to>]",
		`date:[2026-02-01 TO 2026-01-01]`: "end is before its start",
		`date:[yesterday TO *]`:           "Unsupported date",
		`date:[2026-01-01 TO *`:           "no closing",
		`alice@example.com`:               "Unsupported query",
		`user_id:`:                        "empty",
	} {
		_, err := admin.ParseLogQuery(q)
		f, ok := fault.As(err)
		if !ok || f.Code != "invalid_query_string" || !strings.Contains(f.Message, mention) || !strings.Contains(f.Message, "date:[<from> TO <to>]") {
			t.Errorf("ParseLogQuery(%q): %v; want a refusal mentioning %q and the supported forms", q, err, mention)
		}
	}
}
