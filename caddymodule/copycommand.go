package caddymodule

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	"github.com/spf13/cobra"

	"github.com/caddy-password-reset/caddy-password-reset/internal/storecopy"
	"github.com/caddy-password-reset/caddy-password-reset/storage"
)

func init() {
	caddycmd.RegisterCommand(caddycmd.Command{
		Name:  "password-reset-copy",
		Usage: "--from <storage> --to <storage> [--overwrite]",
		Short: "Copies the password-reset state from one storage to another",
		Long: `Copies every ticket, queued job and mail, email template with its versions,
audit entry and rate limit from one storage to another, each as the password_reset
block's storage directive writes it, for example:

  caddy password-reset-copy --from 'badger /var/lib/caddy/password_reset' \
      --to 'postgres {env.PASSWORD_RESET_DSN}'

Stop every Caddy that uses either storage first. The target must be empty unless
--overwrite is given. Queued mail stays sealed with the key it was sealed with:
give the new nodes that key as encryption_key.`,
		CobraFunc: func(cmd *cobra.Command) {
			cmd.Flags().String("from", "", "the storage to copy from, as the storage directive writes it")
			cmd.Flags().String("to", "", "the storage to copy to, as the storage directive writes it")
			cmd.Flags().Bool("overwrite", false, "copy into a storage that is not empty")
			cmd.RunE = caddycmd.WrapCommandFuncForCobra(cmdCopy)
		},
	})
}

func cmdCopy(fl caddycmd.Flags) (int, error) {
	from, to := fl.String("from"), fl.String("to")
	if from == "" || to == "" {
		return caddy.ExitCodeFailedStartup, errors.New("--from and --to are required")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	res, err := copyStorage(ctx, from, to, fl.Bool("overwrite"))
	if err != nil {
		return caddy.ExitCodeFailedStartup, err
	}
	fmt.Printf("copied %d keys (%d bytes); %d expired keys left behind\n", res.Keys, res.Bytes, res.Expired)
	return caddy.ExitCodeSuccess, nil
}

// copyStorage opens the two storages as the app's storage directive would and
// copies the first into the second.
func copyStorage(ctx context.Context, from, to string, overwrite bool) (storecopy.Result, error) {
	// A config of its own, logging warnings only, for the modules' loggers: a
	// Context without one gives them a development logger, at debug level.
	cctx, err := caddy.ProvisionContext(&caddy.Config{Logging: &caddy.Logging{
		Logs: map[string]*caddy.CustomLog{"default": {BaseLog: caddy.BaseLog{Level: "WARN"}}},
	}})
	if err != nil {
		return storecopy.Result{}, err
	}
	src, err := openStorage(cctx, from)
	if err != nil {
		return storecopy.Result{}, fmt.Errorf("--from: %w", err)
	}
	defer src.close()
	dst, err := openStorage(cctx, to)
	if err != nil {
		return storecopy.Result{}, fmt.Errorf("--to: %w", err)
	}
	defer dst.close()
	exp, ok := src.store.(storage.Exporter)
	if !ok {
		return storecopy.Result{}, fmt.Errorf("--from: storage %T cannot list its keys", src.store)
	}
	res, err := storecopy.Copy(ctx, exp, dst.store, storecopy.Options{Overwrite: overwrite})
	if errors.Is(err, storecopy.ErrTargetNotEmpty) {
		err = fmt.Errorf("%w: give --overwrite to copy into it anyway", err)
	}
	return res, err
}

// openedStorage is a provisioned storage module and its store.
type openedStorage struct {
	module caddy.Module
	store  storage.Store
}

func (o openedStorage) close() {
	if c, ok := o.module.(caddy.CleanerUpper); ok {
		c.Cleanup() //nolint:errcheck // nothing to do about it on the way out
	}
}

// openStorage parses directive (e.g. "badger /var/lib/caddy/password_reset") as
// the password_reset block's storage option and provisions its module.
func openStorage(ctx caddy.Context, directive string) (openedStorage, error) {
	tokens, err := caddyfile.Tokenize([]byte("storage "+directive), "flag")
	if err != nil {
		return openedStorage{}, err
	}
	d := caddyfile.NewDispenser(tokens)
	d.Next()
	if !d.NextArg() {
		return openedStorage{}, d.ArgErr()
	}
	name := d.Val()
	unm, err := caddyfile.UnmarshalModule(d, "password_reset.storage."+name)
	if err != nil {
		return openedStorage{}, err
	}
	mod, ok := unm.(caddy.Module)
	if !ok {
		return openedStorage{}, fmt.Errorf("storage %s is not a module", name)
	}
	if p, ok := mod.(caddy.Provisioner); ok {
		if err := p.Provision(ctx); err != nil {
			return openedStorage{}, err
		}
	}
	provider, ok := mod.(StoreProvider)
	if !ok {
		return openedStorage{}, fmt.Errorf("storage %s does not provide a store", name)
	}
	store, err := provider.Open()
	if err != nil {
		if c, ok := mod.(caddy.CleanerUpper); ok {
			c.Cleanup() //nolint:errcheck // the open error is the one to report
		}
		return openedStorage{}, err
	}
	return openedStorage{module: mod, store: store}, nil
}
