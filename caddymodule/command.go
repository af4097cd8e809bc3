package caddymodule

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	"github.com/spf13/cobra"

	"github.com/caddy-password-reset/caddy-password-reset/hook"
	"github.com/caddy-password-reset/caddy-password-reset/internal/connection"
	"github.com/caddy-password-reset/caddy-password-reset/internal/users"
)

func init() {
	caddycmd.RegisterCommand(caddycmd.Command{
		Name:  "password-reset",
		Usage: "check-hooks|sign [flags]",
		Short: "Checks an app's hooks and signs hook calls, for wiring an app to the plugin",
		Long: `Tools for wiring an app to the password-reset plugin:

  caddy password-reset check-hooks --email alice@example.com [--config Caddyfile]
      calls each database connection's get_user hook as the plugin would and
      says, in plain words, what is wrong with the answer

  caddy password-reset sign --hook get_user --body '{"connection":"db","email":"a@example.com"}'
      prints the headers the plugin sends with that body, for a known-answer
      test of a hook written in another language

  caddy password-reset ticket --email alice@example.com
      prints a password-change link (no email), from the running Caddy

  caddy password-reset outbox [list [--state failed] | retry <id>]
      lists the running Caddy's outbox, or sends a failed mail again

  caddy password-reset backup --to reset.backup
  caddy password-reset restore --from reset.backup --storage 'badger <dir>'
      a consistent copy of the running Caddy's store, and reading one back into
      a store no Caddy uses

Run "caddy password-reset <command> --help" for a command's flags.`,
		CobraFunc: func(cmd *cobra.Command) {
			cmd.AddCommand(checkHooksCommand(), signCommand(), ticketCommand(), outboxCommand(), backupCommand(), restoreCommand())
		},
	})
}

func checkHooksCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "check-hooks --email <address> [--config <file>] [--adapter <name>] [--connection <name>]",
		Short: "Calls the app's get_user hook as the plugin would and explains the answer",
		Long: `Reads the config (as caddy run would: a Caddyfile by default), and for each
database connection whose users are the app's hooks (upstream), or the one named by
--connection, calls get_user for --email, signed with the connection's secret, as the
plugin does. It reports the user the app returned, or what is wrong, in plain words:
the app not reachable, too slow, refusing the signature (the secrets differ), answering
unsigned or with a signature that does not verify, or with the wrong shape.

It sends no email and changes nothing. Placeholders such as {env.HOOK_SECRET} are
read from this command's environment. Exit status 1 when a hook has a problem.`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			email, _ := cmd.Flags().GetString("email")
			config, _ := cmd.Flags().GetString("config")
			adapter, _ := cmd.Flags().GetString("adapter")
			only, _ := cmd.Flags().GetString("connection")
			if email == "" {
				return errors.New("--email is required")
			}
			ok, err := checkHooks(cmd.Context(), cmd.OutOrStdout(), config, adapter, only, email)
			if err != nil {
				return err
			}
			if !ok {
				os.Exit(1)
			}
			return nil
		},
	}
	cmd.Flags().String("email", "", "the address to look up (required)")
	cmd.Flags().StringP("config", "c", "", "the config file (default: the Caddyfile in the current directory)")
	cmd.Flags().StringP("adapter", "a", "", "the config adapter (default: caddyfile for a Caddyfile)")
	cmd.Flags().String("connection", "", "check only this connection")
	return cmd
}

// checkHooks checks the get_user hook of each connection of the config (or
// the one named only) for email, writing a report to w; ok is false when a
// hook has a problem.
func checkHooks(ctx context.Context, w io.Writer, configFile, adapter, only, email string) (ok bool, err error) {
	app, err := loadAppConfig(configFile, adapter)
	if err != nil {
		return false, err
	}
	cctx, err := quietContext()
	if err != nil {
		return false, err
	}
	ok, checked := true, 0
	for i := range app.Connections {
		cc := &app.Connections[i]
		if cc.UsersRaw == nil || (only != "" && cc.Name != only) {
			continue
		}
		checked++
		mod, err := cctx.LoadModule(cc, "UsersRaw")
		if err != nil {
			fmt.Fprintf(w, "connection %s: the user store's config is refused: %v\n", cc.Name, err)
			ok = false
			continue
		}
		up, isUpstream := mod.(*UpstreamConnection)
		if !isUpstream {
			fmt.Fprintf(w, "connection %s: its users are not the app's hooks (%T): nothing to check\n", cc.Name, mod)
			continue
		}
		up.upstream.Connection = cc.Name
		if !checkGetUser(ctx, w, up, cc.Name, email) {
			ok = false
		}
	}
	if checked == 0 {
		if only != "" {
			return false, fmt.Errorf("no connection %q with hooks (upstream) in the config", only)
		}
		return false, errors.New("no connection with hooks (upstream) in the config")
	}
	return ok, nil
}

// checkGetUser calls get_user once and says what came back.
func checkGetUser(ctx context.Context, w io.Writer, up *UpstreamConnection, conn, email string) bool {
	target := up.upstream.GetUserURL.Redacted()
	start := time.Now()
	user, err := up.GetUser(ctx, hook.GetUserRequest{Connection: conn, Email: email})
	took := time.Since(start).Round(time.Millisecond)
	timeout := up.upstream.Timeout
	if timeout == 0 {
		timeout = connection.DefaultHookTimeout
	}
	fmt.Fprintf(w, "connection %s: get_user at %s, %v\n", conn, target, took)
	switch {
	case errors.Is(err, users.ErrNotFound):
		fmt.Fprintf(w, "  ok: no user has this address (the app answered 404, signed); try an address the app knows\n")
		return true
	case err != nil:
		fmt.Fprintf(w, "  problem: %s\n", explainHookError(err, timeout))
		return false
	}
	fmt.Fprintf(w, "  ok: user_id %q, email %q", user.UserID, user.Email)
	if user.Language != "" {
		fmt.Fprintf(w, ", language %q", user.Language)
	}
	if user.Blocked {
		fmt.Fprintf(w, ", blocked (gets no email)")
	}
	fmt.Fprintln(w)
	if !strings.EqualFold(user.Email, email) {
		fmt.Fprintf(w, "  note: the mail would go to %q, the address the app returned, not to the one asked for\n", user.Email)
	}
	if took > timeout/2 {
		fmt.Fprintf(w, "  note: slow: over half the hook's timeout (%v)\n", timeout)
	}
	return true
}

// explainHookError says what a failed get_user call means for the person
// wiring the app.
func explainHookError(err error, timeout time.Duration) string {
	var netErr net.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &netErr) && netErr.Timeout()):
		return fmt.Sprintf("too slow: no answer within the hook's timeout (%v); %v", timeout, err)
	case isConnRefused(err):
		return fmt.Sprintf("not reachable: nothing listens at that address; is the app running? (%v)", err)
	case errors.Is(err, hook.ErrUnsignedAnswer):
		return err.Error()
	case strings.Contains(err.Error(), "does not verify"):
		return err.Error()
	case strings.Contains(err.Error(), "decode the get_user answer"), strings.Contains(err.Error(), "lacks user_id or email"):
		return fmt.Sprintf("wrong shape: the answer must be a JSON user with user_id and email (README 'get_user'): %v", err)
	case strings.Contains(err.Error(), "get_user answered"):
		return fmt.Sprintf("the app failed: it answered a status other than 200 or 404: %v", err)
	}
	return err.Error()
}

func isConnRefused(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

// loadAppConfig reads the config file as caddy run does and returns its
// password_reset app.
func loadAppConfig(configFile, adapter string) (*App, error) {
	data, _, _, err := caddycmd.LoadConfig(configFile, adapter)
	if err != nil {
		return nil, err
	}
	if data == nil {
		return nil, errors.New("no config: give --config, or run in the Caddyfile's directory")
	}
	var cfg struct {
		Apps map[string]json.RawMessage `json:"apps"`
	}
	if err := json.Unmarshal(data, &cfg); err != nil {
		return nil, fmt.Errorf("read the config: %w", err)
	}
	raw, ok := cfg.Apps["password_reset"]
	if !ok {
		return nil, errors.New("the config has no password_reset block")
	}
	var app App
	if err := json.Unmarshal(raw, &app); err != nil {
		return nil, fmt.Errorf("read the password_reset block: %w", err)
	}
	return &app, nil
}

// quietContext is a Caddy context for loading modules outside a running
// Caddy, logging warnings only.
func quietContext() (caddy.Context, error) {
	return caddy.ProvisionContext(&caddy.Config{Logging: &caddy.Logging{
		Logs: map[string]*caddy.CustomLog{"default": {BaseLog: caddy.BaseLog{Level: "WARN"}}},
	}})
}

func signCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "sign --hook <name> --body <json> [--id <id>] [--timestamp <unix seconds>] [--status <code> --answer <body>]",
		Short: "Prints the signature headers of a hook call, and of its answer",
		Long: `Prints the four headers the plugin sends with a hook call whose body is --body
(or standard input with --body -), signed with the hook secret from $RESET_HOOK_SECRET
(or --secret-env NAME: the secret never goes on the command line). --id and --timestamp
fix the call's id and time, for a known-answer test; by default they are random and now.

With --status (and --answer, the answer's body, empty for a 204) it also prints the
signature header the app's answer must carry.`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runSign(cmd)
		},
	}
	cmd.Flags().String("hook", hook.GetUser, "the hook: "+strings.Join([]string{hook.GetUser, hook.ChangePassword, hook.RevokeTickets}, ", "))
	cmd.Flags().String("body", "", "the call's JSON body, exactly as sent; - reads standard input")
	cmd.Flags().String("secret-env", "RESET_HOOK_SECRET", "the environment variable that holds the hook secret")
	cmd.Flags().String("id", "", "the call's id (default: random)")
	cmd.Flags().Int64("timestamp", 0, "the call's time in Unix seconds (default: now)")
	cmd.Flags().Int("status", 0, "also sign an answer with this status")
	cmd.Flags().String("answer", "", "the answer's body, exactly as sent")
	return cmd
}

func runSign(cmd *cobra.Command) error {
	flags := cmd.Flags()
	name, _ := flags.GetString("hook")
	body, _ := flags.GetString("body")
	env, _ := flags.GetString("secret-env")
	id, _ := flags.GetString("id")
	ts, _ := flags.GetInt64("timestamp")
	status, _ := flags.GetInt("status")
	answer, _ := flags.GetString("answer")
	if !slices.Contains([]string{hook.GetUser, hook.ChangePassword, hook.RevokeTickets}, name) {
		return fmt.Errorf("--hook %q: want %s, %s or %s", name, hook.GetUser, hook.ChangePassword, hook.RevokeTickets)
	}
	secret := os.Getenv(env)
	if secret == "" {
		return fmt.Errorf("$%s is empty: put the hook secret in it", env)
	}
	if body == "-" {
		data, err := io.ReadAll(io.LimitReader(cmd.InOrStdin(), hook.MaxBodyBytes+1))
		if err != nil {
			return err
		}
		body = string(data)
	}
	if body == "" || !json.Valid([]byte(body)) {
		return errors.New("--body must be the call's JSON body")
	}
	if id == "" {
		id = rand.Text()
	}
	when := time.Now()
	if ts != 0 {
		when = time.Unix(ts, 0)
	}
	sig := hook.Signature{Hook: name, ID: id, Timestamp: when}
	h := http.Header{}
	hook.SetHeaders(h, []byte(secret), sig, []byte(body))
	out := cmd.OutOrStdout()
	for _, k := range []string{hook.HeaderHook, hook.HeaderID, hook.HeaderTimestamp, hook.HeaderSignature} {
		fmt.Fprintf(out, "%s: %s\n", k, h.Get(k))
	}
	if status != 0 {
		fmt.Fprintf(out, "answer %d %s: %s\n", status, hook.HeaderSignature, hook.SignAnswer([]byte(secret), sig, status, []byte(answer)))
	}
	return nil
}
