package testenv_test

import (
	"context"
	"errors"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/caddy-password-reset/caddy-password-reset/internal/testenv"
)

// query returns the one text value sql yields on dsn.
func query(t *testing.T, dsn, sql string) (string, error) {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), dsn)
	if err != nil {
		return "", err
	}
	defer conn.Close(context.Background())
	var v string
	err = conn.QueryRow(t.Context(), sql).Scan(&v)
	return v, err
}

func TestPostgresStopStartKill(t *testing.T) {
	pg := testenv.StartPostgres(t)
	dsn := pg.NewDatabase(t)
	if _, err := query(t, dsn, "SELECT 'x' FROM (SELECT 1) s WHERE false"); !errors.Is(err, pgx.ErrNoRows) {
		t.Fatalf("query on a new database: %v", err)
	}
	if err := pg.Exec(t, "db1", "CREATE TABLE kept (v text); INSERT INTO kept VALUES ('survives')"); err != nil {
		t.Fatal(err)
	}
	if v, err := query(t, dsn, "SHOW fsync"); err != nil || v != "off" {
		t.Errorf("fsync = %q, %v; want off", v, err)
	}
	if v, err := query(t, dsn, "SHOW synchronous_commit"); err != nil || v != "on" {
		t.Errorf("synchronous_commit = %q, %v; want on (the default)", v, err)
	}
	if v, err := query(t, dsn, "SHOW unix_socket_directories"); err != nil || v != "" {
		t.Errorf("unix_socket_directories = %q, %v; want none", v, err)
	}

	wrong, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	wrong.User = url.UserPassword(pg.User, "not-the-password")
	if _, err := query(t, wrong.String(), "SELECT 'x'"); err == nil {
		t.Error("a wrong password was accepted")
	}

	pg.Stop(t)
	if conn, err := net.Dial("tcp", pg.Addr); err == nil {
		conn.Close()
		t.Fatal("postgres still listens after Stop")
	}
	pg.Start(t)
	if v, err := query(t, dsn, "SELECT v FROM kept"); err != nil || v != "survives" {
		t.Fatalf("after Stop and Start: %q, %v", v, err)
	}

	pg.Kill(t)
	if pg.Running() {
		t.Fatal("postgres runs after Kill")
	}
	pg.Start(t)
	if v, err := query(t, dsn, "SELECT v FROM kept"); err != nil || v != "survives" {
		t.Fatalf("after Kill and Start: %q, %v", v, err)
	}
}

func TestPostgresCloseRemovesEverything(t *testing.T) {
	pg, err := testenv.ListenPostgres()
	if err != nil {
		t.Fatal(err)
	}
	var pid int
	if v, err := query(t, pg.DSN(), "SELECT pg_backend_pid()::text"); err != nil {
		t.Fatal(err)
	} else if pid, err = strconv.Atoi(v); err != nil {
		t.Fatal(err)
	}
	dir := pg.Dir()
	if err := pg.Close(); err != nil {
		t.Fatal(err)
	}
	if pg.Running() {
		t.Error("postgres runs after Close")
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the server's directory %s is still there: %v", dir, err)
	}
	if _, err := os.Stat("/proc/" + strconv.Itoa(pid)); err == nil {
		t.Errorf("backend %d is still running", pid)
	}
	if conn, err := net.Dial("tcp", pg.Addr); err == nil {
		conn.Close()
		t.Error("something still listens on the server's port")
	}
}

func TestPostgresDurableWithSettings(t *testing.T) {
	pg, err := testenv.ListenPostgresWith(testenv.PostgresOptions{Durable: true, Settings: map[string]string{
		"shared_preload_libraries": "pg_stat_statements",
		"max_connections":          "50", // over the default's 300
		"pg_stat_statements.track": "all",
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := pg.Close(); err != nil {
			t.Error(err)
		}
	})
	want := func(setting, value string) {
		t.Helper()
		if v, err := query(t, pg.DSN(), "SHOW "+setting); err != nil || v != value {
			t.Errorf("%s = %q, %v; want %q", setting, v, err, value)
		}
	}
	check := func() {
		t.Helper()
		want("fsync", "on")
		want("max_connections", "50")
		want("pg_stat_statements.track", "all")
		want("shared_preload_libraries", "pg_stat_statements")
	}
	check()
	if err := pg.Exec(t, "postgres", "CREATE EXTENSION pg_stat_statements"); err != nil {
		t.Fatal(err)
	}
	if _, err := query(t, pg.DSN(), "SELECT sum(calls)::text FROM pg_stat_statements"); err != nil {
		t.Errorf("pg_stat_statements: %v", err)
	}
	if procs := pg.Processes(); len(procs) < 3 { // the postmaster, a backend, the checkpointer...
		t.Errorf("Processes while the server runs: %v", procs)
	}
	pg.Stop(t)
	if procs := pg.Processes(); len(procs) != 0 {
		t.Errorf("Processes after Stop: %v", procs)
	}
	pg.Start(t)
	check() // a restart is the same server
}

func TestPostgresUnknownSettingFailsTheStart(t *testing.T) {
	pg, err := testenv.ListenPostgresWith(testenv.PostgresOptions{Settings: map[string]string{"no_such_setting": "1"}})
	if err == nil {
		pg.Close()
		t.Fatal("a server with an unknown setting started")
	}
	if !strings.Contains(err.Error(), "no_such_setting") {
		t.Errorf("the error does not name the setting (it should carry the server's log): %v", err)
	}
}
