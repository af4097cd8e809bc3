// Command mailbox is a local mail catcher for the demo: point the plugin's SMTP
// settings at it and read the mail it sends in a browser.
//
//	mailbox -smtp 127.0.0.1:1025 -http 127.0.0.1:8025
//
// Messages are kept in memory (the last -keep of them) and lost on exit.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/caddy-password-reset/caddy-password-reset/examples/mailbox"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "mailbox:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("mailbox", flag.ContinueOnError)
	smtpAddr := fs.String("smtp", "127.0.0.1:1025", "SMTP address to listen on")
	httpAddr := fs.String("http", "127.0.0.1:8025", "web UI address to listen on")
	keep := fs.Int("keep", mailbox.DefaultKeep, "how many messages to keep")
	remote := fs.Bool("allow-remote", false, "accept SMTP connections from non-loopback peers")
	if err := fs.Parse(args); err != nil {
		return err
	}

	logger := log.New(os.Stderr, "mailbox: ", log.LstdFlags)
	box := mailbox.New(mailbox.Config{Keep: *keep, AllowRemote: *remote, ErrorLog: logger})
	smtpLn, err := net.Listen("tcp", *smtpAddr)
	if err != nil {
		return fmt.Errorf("listen for SMTP: %w", err)
	}
	web := &http.Server{Addr: *httpAddr, Handler: box.Handler(), ReadHeaderTimeout: 10 * time.Second}

	errc := make(chan error, 2)
	go func() { errc <- box.ServeSMTP(smtpLn) }()
	go func() { errc <- web.ListenAndServe() }()
	logger.Printf("SMTP on %s, web UI on http://%s", smtpLn.Addr(), *httpAddr)

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	select {
	case err = <-errc:
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return errors.Join(err, box.Close(), web.Shutdown(shutdownCtx))
}
