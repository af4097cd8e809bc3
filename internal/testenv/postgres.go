package testenv

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// Postgres is a real PostgreSQL server (Debian's postgresql package) run by the
// tests: its own cluster, made by initdb in a temporary directory, listening only
// on 127.0.0.1 at a free port, with no Unix socket, and gone with its directory
// at Close (StartPostgres: when the test ends). It can be stopped and started
// again on the same port with the same data, or killed, as a database that goes
// down.
//
// PostgreSQL refuses to run as root: as root, initdb and postgres run as the
// postgres system user that Debian's package creates.
type Postgres struct {
	Addr     string // 127.0.0.1:port
	User     string // the superuser
	Password string // the superuser's password, random for each server

	bin  string // the directory of initdb and postgres
	root string // holds data/, the password file and postgres.log
	port int
	cred *syscall.Credential // whom the server runs as; nil: this process's user
	dbs  atomic.Int64        // databases made by NewDatabase
	opts PostgresOptions     // kept for every start, so a restart is the same server

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{} // closed when cmd has exited; nil before the first start
}

// pgMissing is the failure when PostgreSQL is not installed: test.sh installs it.
const pgMissing = "testenv: PostgreSQL's initdb and postgres are not on PATH nor in /usr/lib/postgresql/*/bin: " +
	"install Debian's postgresql package (test.sh does)"

// StartPostgres starts a new PostgreSQL server for the test and removes it when
// the test ends. initdb and the start take about a second: a package whose
// tests all use one server can share one from TestMain (ListenPostgres).
func StartPostgres(t testing.TB) *Postgres {
	t.Helper()
	p, err := ListenPostgres()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("postgres log (tail):\n%s", p.LogTail(40))
		}
		if err := p.Close(); err != nil {
			t.Errorf("stop postgres: %v", err)
		}
	})
	return p
}

// ListenPostgres starts a new PostgreSQL server, until Close.
func ListenPostgres() (*Postgres, error) { return ListenPostgresWith(PostgresOptions{}) }

// PostgresOptions shape the server ListenPostgresWith starts. The zero value is
// the tests' server (ListenPostgres).
type PostgresOptions struct {
	// Durable makes a commit survive a machine crash, as in production: fsync
	// on, and initdb syncs its files. The tests' fsync off makes a commit far
	// cheaper: a figure compared with a store that syncs (Badger's sync_writes
	// on) needs this.
	Durable bool
	// Settings are more server settings (shared_preload_libraries, say), given
	// as postgres -c name=value after the defaults, so they override them; a
	// name the server does not know fails the start, with its log.
	Settings map[string]string
}

// ListenPostgresWith starts a new PostgreSQL server shaped by o, until Close.
func ListenPostgresWith(o PostgresOptions) (*Postgres, error) {
	bin, err := postgresBin()
	if err != nil {
		return nil, err
	}
	ports, err := FreePorts(1)
	if err != nil {
		return nil, err
	}
	p := &Postgres{User: "postgres", Password: randomHex(12), bin: bin, port: ports[0], opts: o}
	p.Addr = fmt.Sprintf("127.0.0.1:%d", p.port)
	if err := p.init(); err != nil {
		p.Close()
		return nil, err
	}
	if err := p.start(); err != nil {
		p.Close()
		return nil, err
	}
	return p, nil
}

// postgresBin finds the directory that holds initdb and postgres: initdb's on
// PATH (symlinks resolved, as Debian keeps them out of PATH), else the newest
// /usr/lib/postgresql/<version>/bin.
func postgresBin() (string, error) {
	var dirs []string
	if path, err := exec.LookPath("initdb"); err == nil {
		if real, err := filepath.EvalSymlinks(path); err == nil {
			path = real
		}
		dirs = append(dirs, filepath.Dir(path))
	}
	versions, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	slices.SortFunc(versions, func(a, b string) int { return pgVersion(b) - pgVersion(a) })
	dirs = append(dirs, versions...)
	for _, dir := range dirs {
		if isExecutable(filepath.Join(dir, "initdb")) && isExecutable(filepath.Join(dir, "postgres")) {
			return dir, nil
		}
	}
	return "", errors.New(pgMissing)
}

// pgVersion is the major version in /usr/lib/postgresql/<version>/bin, so that
// 10 sorts above 9.
func pgVersion(binDir string) int {
	v, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return v
}

func isExecutable(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b) //nolint:errcheck // crypto/rand.Read does not fail
	return hex.EncodeToString(b)
}

// init makes the directory and the cluster. As root, the directory is made
// under os.TempDir rather than by t.TempDir, whose parents are root's alone
// (0700), and given to the postgres user.
func (p *Postgres) init() error {
	root, err := os.MkdirTemp(os.TempDir(), "testenv-postgres-")
	if err != nil {
		return err
	}
	p.root = root
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			return fmt.Errorf("testenv: running as root, PostgreSQL must run as the postgres user: %w; %s", err, pgMissing)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		p.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
		if err := os.Chown(root, uid, gid); err != nil {
			return err
		}
	}
	pwfile := filepath.Join(root, "pwfile")
	if err := os.WriteFile(pwfile, []byte(p.Password+"\n"), 0o600); err != nil {
		return err
	}
	if p.cred != nil {
		if err := os.Chown(pwfile, int(p.cred.Uid), int(p.cred.Gid)); err != nil {
			return err
		}
	}
	// --no-sync: a test cluster need not survive a machine crash (a durable
	// one must: its first commits are no safer than the files under them).
	// Passwords are checked (scram-sha-256), so that a wrong one is refused as
	// in production.
	args := []string{"-D", p.dataDir(), "-U", p.User, "--pwfile", pwfile,
		"--auth=scram-sha-256", "-E", "UTF8", "--locale=C", "--no-instructions"}
	if !p.opts.Durable {
		args = append(args, "--no-sync")
	}
	cmd := p.command("initdb", args...)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("testenv: initdb: %w\n%s", err, out)
	}
	return os.Remove(pwfile)
}

// Dir is the server's directory (the cluster in data/, postgres.log).
func (p *Postgres) Dir() string { return p.root }

func (p *Postgres) dataDir() string { return filepath.Join(p.root, "data") }
func (p *Postgres) logPath() string { return filepath.Join(p.root, "postgres.log") }

// command runs one of PostgreSQL's programs as the server's user, in a process
// group of its own (signal's last resort kills the group), without the
// caller's PG* variables.
func (p *Postgres) command(name string, args ...string) *exec.Cmd {
	cmd := exec.Command(filepath.Join(p.bin, name), args...)
	cmd.Dir = p.root
	cmd.Env = []string{"LANG=C", "LC_ALL=C", "PATH=" + os.Getenv("PATH"), "TZ=UTC"}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Credential: p.cred}
	return cmd
}

// start runs postgres on the cluster and waits until it takes connections.
func (p *Postgres) start() error {
	p.mu.Lock()
	if p.exited != nil {
		select {
		case <-p.exited:
		default:
			p.mu.Unlock()
			return errors.New("testenv: postgres is already running")
		}
	}
	logFile, err := os.OpenFile(p.logPath(), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		p.mu.Unlock()
		return err
	}
	cmd := p.command("postgres", p.serverArgs()...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		logFile.Close()
		p.mu.Unlock()
		return fmt.Errorf("testenv: start postgres: %w", err)
	}
	exited := make(chan struct{})
	p.cmd, p.exited = cmd, exited
	p.mu.Unlock()
	go func() {
		cmd.Wait() //nolint:errcheck // the exit is what is waited for
		logFile.Close()
		close(exited)
	}()
	return p.waitReady(exited)
}

// serverArgs are postgres's arguments: the defaults, then the options'.
func (p *Postgres) serverArgs() []string {
	// fsync off unless durable: the tests' data need not survive a machine
	// crash, and commits are then cheap. synchronous_commit keeps its default
	// (on), so a commit still waits for its WAL write as in production.
	fsync := map[bool]string{false: "off", true: "on"}[p.opts.Durable]
	args := []string{"-D", p.dataDir(),
		"-c", "listen_addresses=127.0.0.1", "-p", strconv.Itoa(p.port),
		"-c", "unix_socket_directories=",
		"-c", "fsync=" + fsync,
		"-c", "max_connections=300",
		"-c", "shared_buffers=32MB",
		"-c", "logging_collector=off"}
	// Sorted, so that the command line is the same at every start.
	for _, name := range slices.Sorted(maps.Keys(p.opts.Settings)) {
		args = append(args, "-c", name+"="+p.opts.Settings[name])
	}
	return args
}

// waitReady connects until the server answers a query.
func (p *Postgres) waitReady(exited <-chan struct{}) error {
	deadline := time.Now().Add(time.Minute)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err := p.exec(ctx, "postgres", "SELECT 1")
		cancel()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("testenv: postgres not ready on %s: %v\n%s", p.Addr, err, p.LogTail(40))
		}
		select {
		case <-exited:
			return fmt.Errorf("testenv: postgres exited while starting:\n%s", p.LogTail(40))
		case <-tick.C:
		}
	}
}

// exec runs sql on a new connection to database db.
func (p *Postgres) exec(ctx context.Context, db, sql string) error {
	conn, err := pgx.Connect(ctx, p.DSNFor(db))
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	_, err = conn.Exec(ctx, sql)
	return err
}

// DSN is the connection URL of the database postgres.
func (p *Postgres) DSN() string { return p.DSNFor("postgres") }

// DSNFor is the connection URL of database db, as the superuser.
func (p *Postgres) DSNFor(db string) string {
	u := url.URL{Scheme: "postgres", User: url.UserPassword(p.User, p.Password), Host: p.Addr, Path: "/" + db,
		RawQuery: "sslmode=disable"}
	return u.String()
}

// NewDatabase creates an empty database with a name of its own and returns its
// DSN. Databases stay until the server is removed.
func (p *Postgres) NewDatabase(t testing.TB) string {
	t.Helper()
	name := fmt.Sprintf("db%d", p.dbs.Add(1))
	if err := p.Exec(t, "postgres", "CREATE DATABASE "+name); err != nil {
		t.Fatalf("testenv: create database: %v", err)
	}
	return p.DSNFor(name)
}

// Exec runs sql as the superuser in database db, for what a test changes on
// the server (ALTER DATABASE ..., say).
func (p *Postgres) Exec(t testing.TB, db, sql string) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), Timeout)
	defer cancel()
	return p.exec(ctx, db, sql)
}

// Stop shuts the server down (fast shutdown: clients are disconnected, open
// transactions rolled back) and waits until it is gone; Start starts it again.
func (p *Postgres) Stop(t testing.TB) {
	t.Helper()
	if err := p.signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
}

// Kill kills the server and its backends at once (SIGKILL), as a crash would;
// Start recovers it.
func (p *Postgres) Kill(t testing.TB) {
	t.Helper()
	if err := p.signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
}

// Start starts the server again after Stop or Kill, on the same port with the
// same data.
func (p *Postgres) Start(t testing.TB) {
	t.Helper()
	if err := p.start(); err != nil {
		t.Fatal(err)
	}
}

// signal sends sig to the postmaster and waits for it to exit. SIGKILL goes to
// every backend too, and waits for them, so that none outlives it.
func (p *Postgres) signal(sig syscall.Signal) error {
	p.mu.Lock()
	cmd, exited := p.cmd, p.exited
	p.mu.Unlock()
	if cmd == nil {
		return nil
	}
	select {
	case <-exited:
		return nil
	default:
	}
	pid := cmd.Process.Pid
	var backends []int
	if sig == syscall.SIGKILL {
		// Each backend is in a session of its own (setsid), out of reach of a
		// signal to the postmaster's group, and dies only when it notices the
		// postmaster gone, still attached to the shared memory until then
		// (the next start refuses it: "pre-existing shared memory block is
		// still in use"). Stopped, the postmaster forks none while they are
		// listed and killed.
		if err := syscall.Kill(pid, syscall.SIGSTOP); err == nil {
			waitFor(func() bool { s, _ := procStat(strconv.Itoa(pid)); return s == "T" || s == "" })
		}
		backends = children(pid)
		for _, b := range backends {
			syscall.Kill(b, syscall.SIGKILL) //nolint:errcheck // gone already is as good
		}
	}
	if err := syscall.Kill(pid, sig); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("testenv: signal postgres: %w", err)
	}
	select {
	case <-exited:
	case <-time.After(time.Minute):
		syscall.Kill(-pid, syscall.SIGKILL) //nolint:errcheck // last resort
		<-exited
		return fmt.Errorf("testenv: postgres did not stop within a minute of %s", sig)
	}
	for _, b := range backends {
		if !waitFor(func() bool { s, _ := procStat(strconv.Itoa(b)); return s == "" || s == "Z" }) {
			return fmt.Errorf("testenv: postgres's backend %d outlived SIGKILL by a minute", b)
		}
	}
	return nil
}

// waitFor polls cond for up to a minute and reports whether it held.
func waitFor(cond func() bool) bool {
	for deadline := time.Now().Add(time.Minute); !cond(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			return false
		}
	}
	return true
}

// procStat is a process's state (R, S, T, Z: a zombie holds no memory any
// more) and parent, "" when it is gone.
func procStat(pid string) (state, ppid string) {
	data, _ := os.ReadFile("/proc/" + pid + "/stat")
	_, rest, _ := bytes.Cut(data, []byte(") ")) // after the command's name
	if f := strings.Fields(string(rest)); len(f) > 1 {
		return f[0], f[1]
	}
	return "", ""
}

// children are the live processes whose parent is pid.
func children(pid int) []int {
	var out []int
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		if state, ppid := procStat(e.Name()); ppid == strconv.Itoa(pid) && state != "Z" {
			n, _ := strconv.Atoi(e.Name())
			out = append(out, n)
		}
	}
	return out
}

// Processes are the server's: the postmaster's pid, then its children's (the
// backends and auxiliary processes), for a benchmark to read their CPU time.
// None when stopped.
func (p *Postgres) Processes() []int {
	if !p.Running() {
		return nil
	}
	p.mu.Lock()
	pid := p.cmd.Process.Pid
	p.mu.Unlock()
	return append([]int{pid}, children(pid)...)
}

// Close stops the server and removes its directory.
func (p *Postgres) Close() error {
	// The postmaster exits after its backends on SIGINT: nothing is left.
	err := p.signal(syscall.SIGINT)
	if p.root != "" {
		err = errors.Join(err, os.RemoveAll(p.root))
	}
	return err
}

// Running reports whether the postmaster is alive.
func (p *Postgres) Running() bool {
	p.mu.Lock()
	exited := p.exited
	p.mu.Unlock()
	if exited == nil {
		return false
	}
	select {
	case <-exited:
		return false
	default:
		return true
	}
}

// LogTail returns the last n lines of the server's log.
func (p *Postgres) LogTail(n int) string {
	data, err := os.ReadFile(p.logPath())
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(string(bytes.TrimRight(data, "\n")), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
