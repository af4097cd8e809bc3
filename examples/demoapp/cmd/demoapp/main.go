// Command demoapp runs the demo app behind Caddy and the password-reset plugin:
// a login page, a change-password page, seeded users, and the plugin's two hooks.
//
//	RESET_HOOK_SECRET=... demoapp -addr 127.0.0.1:9000 -plugin-url http://localhost:8080
//
// The change-password page calls the plugin's revoke endpoint at -plugin-url
// (default $RESET_PLUGIN_URL, else http://localhost:8080, the demo's Caddy), so
// that reset links sent before the change stop working.
//
// The seeded users and their passwords are listed in the package documentation of
// examples/demoapp and printed at start.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/caddy-password-reset/caddy-password-reset/examples/demoapp"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "demoapp:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("demoapp", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:9000", "address to listen on")
	secret := fs.String("secret", "", "hook secret shared with the Caddyfile (default $RESET_HOOK_SECRET)")
	pluginURL := fs.String("plugin-url", "", "base URL of the site serving the plugin's routes, for the revoke call "+
		"(default $RESET_PLUGIN_URL, else "+demoapp.DefaultPluginURL+")")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *pluginURL == "" {
		*pluginURL = os.Getenv("RESET_PLUGIN_URL")
	}
	if *secret == "" {
		*secret = os.Getenv("RESET_HOOK_SECRET")
	}
	if *secret == "" {
		return errors.New("a hook secret is required: set -secret or RESET_HOOK_SECRET")
	}

	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	app, err := demoapp.New(demoapp.Config{Secret: []byte(*secret), Logger: log, PluginURL: *pluginURL})
	if err != nil {
		return err
	}
	for _, u := range demoapp.DefaultUsers() {
		log.Info("seeded user", "email", u.Email, "password", u.Password, "blocked", u.Blocked)
	}
	return serve(app.Handler(), *addr, log)
}

// serve runs the HTTP server until SIGINT or SIGTERM, then shuts it down
// gracefully.
func serve(h http.Handler, addr string, log *slog.Logger) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	srv := &http.Server{
		Addr:              addr,
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.ListenAndServe() }()
	log.Info("demoapp listening", "addr", "http://"+addr)
	select {
	case err := <-errc:
		return fmt.Errorf("listen on %s: %w", addr, err)
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return srv.Shutdown(shutdownCtx)
}
