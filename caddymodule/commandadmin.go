package caddymodule

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	"github.com/spf13/cobra"

	"github.com/caddy-password-reset/caddy-password-reset/internal/admin"
	"github.com/caddy-password-reset/caddy-password-reset/internal/storecopy"
	"github.com/caddy-password-reset/caddy-password-reset/storage"
)

// The subcommands that talk to the running Caddy through its admin endpoint
// (admin.api.password_reset), and restore, which opens a stopped store.

// adminFlags adds the flags that find the running Caddy's admin endpoint, as
// caddy reload's do.
func adminFlags(cmd *cobra.Command) {
	cmd.Flags().String("address", "", "the admin endpoint of the running Caddy (default: from --config, else localhost:2019)")
	cmd.Flags().StringP("config", "c", "", "the running Caddy's config file, to find its admin endpoint")
	cmd.Flags().StringP("adapter", "a", "", "the config file's adapter")
}

// adminRequest sends one request to the running Caddy's /password-reset/ routes.
func adminRequest(cmd *cobra.Command, method, uri string, body any) (*http.Response, error) {
	addr, _ := cmd.Flags().GetString("address")
	config, _ := cmd.Flags().GetString("config")
	adapter, _ := cmd.Flags().GetString("adapter")
	addr, err := caddycmd.DetermineAdminAPIAddress(addr, nil, config, adapter)
	if err != nil {
		return nil, err
	}
	var r io.Reader
	h := http.Header{}
	if body != nil {
		data, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		r = bytes.NewReader(data)
		h.Set("Content-Type", "application/json")
	}
	resp, err := caddycmd.AdminAPIRequest(addr, method, uri, h, r)
	if err != nil {
		return nil, fmt.Errorf("the running Caddy at %s: %w", addr, err)
	}
	return resp, nil
}

// adminJSON sends a request and decodes the JSON answer into out.
func adminJSON(cmd *cobra.Command, method, uri string, body, out any) error {
	resp, err := adminRequest(cmd, method, uri, body)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	return json.NewDecoder(resp.Body).Decode(out)
}

func ticketCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "ticket --email <address> [--connection <name>] [--client <id>] [--ttl <duration>]",
		Short: "Prints a password-change link for a user, without an email",
		Long: `Asks the running Caddy for a password-change ticket, as the Management API's
tickets/password-change and the dashboard do: the app's get_user hook finds the user,
and the link is printed, not mailed. The audit log records it as made by
"caddy password-reset".`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			email, _ := cmd.Flags().GetString("email")
			conn, _ := cmd.Flags().GetString("connection")
			client, _ := cmd.Flags().GetString("client")
			ttl, _ := cmd.Flags().GetDuration("ttl")
			if email == "" {
				return errors.New("--email is required")
			}
			var out struct {
				Ticket    string    `json:"ticket"`
				ExpiresAt time.Time `json:"expires_at"`
			}
			req := ticketRequest{Email: email, Connection: conn, ClientID: client, TTLSeconds: int(ttl / time.Second)}
			if err := adminJSON(cmd, http.MethodPost, "/password-reset/ticket", req, &out); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s\nexpires %s\n", out.Ticket, out.ExpiresAt.UTC().Format(time.RFC3339))
			return nil
		},
	}
	cmd.Flags().String("email", "", "the user's address (required)")
	cmd.Flags().String("connection", "", "the connection (default: the first database connection)")
	cmd.Flags().String("client", "", "the application (default: the first client)")
	cmd.Flags().Duration("ttl", 0, "the link's lifetime (default: the reset_email template's)")
	adminFlags(cmd)
	return cmd
}

func outboxCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "outbox [list [--state <state>] | retry <id>]",
		Short: "Lists the outbox's mail, or sends a failed mail again",
		Long: `Lists the running Caddy's outbox, newest first (recipients masked), or, with
"retry <id>", queues a failed mail again. States: queued, sending, retrying, sent,
failed.`,
		Args: cobra.MaximumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			switch {
			case len(args) == 0 || (len(args) == 1 && args[0] == "list"):
				return listOutbox(cmd)
			case len(args) == 2 && args[0] == "retry":
				var out map[string]string
				if err := adminJSON(cmd, http.MethodPost, "/password-reset/outbox/retry", map[string]string{"id": args[1]}, &out); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "queued %s again\n", args[1])
				return nil
			}
			return errors.New(`want "outbox", "outbox list" or "outbox retry <id>"`)
		},
	}
	cmd.Flags().String("state", "", "list only the mail in this state")
	adminFlags(cmd)
	return cmd
}

func listOutbox(cmd *cobra.Command) error {
	state, _ := cmd.Flags().GetString("state")
	uri := "/password-reset/outbox"
	if state != "" {
		uri += "?" + url.Values{"state": {state}}.Encode()
	}
	var msgs []admin.OutboxMessage
	if err := adminJSON(cmd, http.MethodGet, uri, nil, &msgs); err != nil {
		return err
	}
	tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tSTATE\tTEMPLATE\tTO\tATTEMPTS\tCREATED\tLAST ERROR")
	for _, m := range msgs {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\t%s\n", m.ID, m.State, m.Template, strings.Join(m.To, ", "),
			m.Attempts, m.CreatedAt.UTC().Format(time.RFC3339), m.LastError)
	}
	return tw.Flush()
}

func backupCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "backup --to <file>",
		Short: "Writes a consistent copy of the running Caddy's store to a file",
		Long: `Asks the running Caddy for a copy of its store (Badger's backup stream: one
snapshot, consistent while Caddy serves) and writes it to --to, replacing the file
only once the copy is complete. Queued mail in it stays sealed: keep the key
(encryption_key, or password_reset.key in Caddy's data directory) apart from the
backup, and with it. With storage postgres, back up with pg_dump instead.`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			to, _ := cmd.Flags().GetString("to")
			if to == "" {
				return errors.New("--to is required")
			}
			resp, err := adminRequest(cmd, http.MethodGet, "/password-reset/backup", nil)
			if err != nil {
				return err
			}
			defer resp.Body.Close()
			n, err := writeFileAtomically(to, resp.Body)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "wrote %d bytes to %s\n", n, to)
			return nil
		},
	}
	cmd.Flags().String("to", "", "the file to write (required)")
	adminFlags(cmd)
	return cmd
}

// writeFileAtomically writes r to a temporary file beside path and renames it
// into place once complete, so that a broken stream leaves no half backup.
func writeFileAtomically(path string, r io.Reader) (int64, error) {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return 0, err
	}
	defer os.Remove(tmp.Name()) //nolint:errcheck // gone after the rename
	n, err := io.Copy(tmp, r)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return n, fmt.Errorf("write %s: %w", path, err)
	}
	return n, os.Rename(tmp.Name(), path)
}

func restoreCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "restore --from <file> --storage <storage> [--overwrite]",
		Short: "Reads a backup into a store that no Caddy uses",
		Long: `Reads a file written by "caddy password-reset backup" into the store --storage
names, as the password_reset block's storage directive writes it, for example:

  caddy password-reset restore --from reset.backup --storage 'badger /var/lib/caddy/password_reset'

Stop the Caddy that uses the store first (Badger's directory lock refuses otherwise).
The store must be empty unless --overwrite is given.`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			from, _ := cmd.Flags().GetString("from")
			to, _ := cmd.Flags().GetString("storage")
			overwrite, _ := cmd.Flags().GetBool("overwrite")
			if from == "" || to == "" {
				return errors.New("--from and --storage are required")
			}
			if err := restoreStore(cmd.Context(), from, to, overwrite); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "restored %s into %s\n", from, to)
			return nil
		},
	}
	cmd.Flags().String("from", "", "the backup file (required)")
	cmd.Flags().String("storage", "", "the storage to restore into, as the storage directive writes it (required)")
	cmd.Flags().Bool("overwrite", false, "restore into a store that is not empty")
	return cmd
}

// restoreStore opens the storage directive's store and reads the backup
// file into it.
func restoreStore(ctx context.Context, from, directive string, overwrite bool) error {
	f, err := os.Open(from)
	if err != nil {
		return err
	}
	defer f.Close()
	cctx, err := quietContext()
	if err != nil {
		return err
	}
	dst, err := openStorage(cctx, directive)
	if err != nil {
		return fmt.Errorf("--storage: %w (is a Caddy still using it?)", err)
	}
	defer dst.close()
	b, ok := dst.store.(storage.Backuper)
	if !ok {
		return fmt.Errorf("--storage: %T has no restore of its own: use the database's tools", dst.store)
	}
	if !overwrite {
		if empty, err := storecopy.IsEmpty(ctx, dst.store); err != nil || !empty {
			if err == nil {
				err = errors.New("the store is not empty: give --overwrite to restore into it anyway")
			}
			return err
		}
	}
	return b.Restore(f)
}
