package testenv

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Caddy is bin/caddy run as a child process with a Caddyfile (CaddyConfig's,
// say), which can be reloaded, killed and measured. The Caddyfile gets the hook
// secret and the admin token from the environment (TESTENV_HOOK_SECRET,
// TESTENV_ADMIN_TOKEN).
type Caddy struct {
	Bin   string // bin/caddy
	Dir   string // holds the Caddyfile, the log and Caddy's XDG directories
	Admin string // the admin endpoint, host:port; the Caddyfile must use it
	Env   []string

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{}
	log    *os.File
	runs   int
}

// NewCaddy returns bin to be run with cfg's admin endpoint, in a directory of the
// test's. When the test ends it is stopped, and the tail of its log is logged if
// the test failed.
func NewCaddy(t testing.TB, bin string, cfg CaddyConfig) *Caddy {
	t.Helper()
	c := &Caddy{Bin: bin, Dir: filepath.Join(t.TempDir(), "caddy"), Admin: fmt.Sprintf("127.0.0.1:%d", cfg.Admin)}
	t.Cleanup(func() {
		if err := c.Stop(); err != nil {
			t.Errorf("stop caddy: %v", err)
		}
		if t.Failed() {
			t.Logf("caddy log (tail):\n%s", c.LogTail(60))
		}
	})
	return c
}

// Start writes caddyfile and runs Caddy with it, and returns once the admin
// endpoint and every address in ready answer.
func (c *Caddy) Start(ctx context.Context, caddyfile string, ready ...string) error {
	if err := os.MkdirAll(c.Dir, 0o755); err != nil {
		return err
	}
	file := filepath.Join(c.Dir, "Caddyfile")
	if err := os.WriteFile(file, []byte(caddyfile), 0o644); err != nil {
		return err
	}
	c.mu.Lock()
	c.runs++
	logFile, err := os.OpenFile(filepath.Join(c.Dir, "caddy.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		c.mu.Unlock()
		return err
	}
	fmt.Fprintf(logFile, "=== run %d\n", c.runs)
	cmd := exec.Command(c.Bin, "run", "--config", file, "--adapter", "caddyfile")
	cmd.Env = append(os.Environ(), c.Env...)
	cmd.Env = append(cmd.Env, "XDG_CONFIG_HOME="+filepath.Join(c.Dir, "config"),
		"XDG_DATA_HOME="+filepath.Join(c.Dir, "data"), "TESTENV_HOOK_SECRET="+HookSecret, "TESTENV_ADMIN_TOKEN="+AdminToken)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		logFile.Close()
		c.mu.Unlock()
		return fmt.Errorf("start caddy: %w", err)
	}
	exited := make(chan struct{})
	c.cmd, c.exited, c.log = cmd, exited, logFile
	c.mu.Unlock()
	go func() {
		cmd.Wait() //nolint:errcheck // the exit is what is waited for
		logFile.Close()
		close(exited)
	}()
	return c.waitReady(ctx, append([]string{c.Admin}, ready...))
}

// waitReady polls the addresses until each accepts a connection.
func (c *Caddy) waitReady(ctx context.Context, addrs []string) error {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for _, addr := range addrs {
		for {
			conn, err := net.DialTimeout("tcp", addr, time.Second)
			if err == nil {
				conn.Close()
				break
			}
			select {
			case <-c.exited:
				return fmt.Errorf("caddy exited while starting:\n%s", c.LogTail(40))
			case <-ctx.Done():
				return fmt.Errorf("caddy not ready on %s: %w\n%s", addr, ctx.Err(), c.LogTail(40))
			case <-tick.C:
			}
		}
	}
	return nil
}

// Reload loads caddyfile into the running Caddy with `caddy reload --force`, as
// an operator would.
func (c *Caddy) Reload(caddyfile string) error {
	file := filepath.Join(c.Dir, "Caddyfile")
	if err := os.WriteFile(file, []byte(caddyfile), 0o644); err != nil {
		return err
	}
	cmd := exec.Command(c.Bin, "reload", "--config", file, "--adapter", "caddyfile", "--address", c.Admin, "--force")
	cmd.Env = append(os.Environ(), c.Env...)
	cmd.Env = append(cmd.Env, "TESTENV_HOOK_SECRET="+HookSecret, "TESTENV_ADMIN_TOKEN="+AdminToken)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("caddy reload: %w\n%s", err, out)
	}
	return nil
}

// Kill sends SIGKILL and waits for the process to be gone.
func (c *Caddy) Kill() error { return c.signal(syscall.SIGKILL) }

// Stop asks Caddy to shut down (SIGTERM, graceful) and waits for it.
func (c *Caddy) Stop() error { return c.signal(syscall.SIGTERM) }

func (c *Caddy) signal(sig syscall.Signal) error {
	c.mu.Lock()
	cmd, exited := c.cmd, c.exited
	c.mu.Unlock()
	if cmd == nil {
		return nil
	}
	select {
	case <-exited:
		return nil
	default:
	}
	if err := cmd.Process.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return err
	}
	select {
	case <-exited:
		return nil
	case <-time.After(30 * time.Second):
		cmd.Process.Kill() //nolint:errcheck // last resort
		<-exited
		return fmt.Errorf("caddy did not stop within 30s of %s", sig)
	}
}

// Running reports whether the process is alive.
func (c *Caddy) Running() bool {
	c.mu.Lock()
	exited := c.exited
	c.mu.Unlock()
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

// Pid returns the process id.
func (c *Caddy) Pid() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.cmd.Process.Pid
}

// Memory is a process's resident memory, in bytes, from /proc/PID/status.
type Memory struct {
	RSS  int64 // the resident set (VmRSS): Anon + File + shared memory
	Anon int64 // anonymous pages: the Go heap, stacks (RssAnon)
	File int64 // pages of mapped files: the binary, Badger's tables and WAL (RssFile)
}

// Memory returns the process's resident memory.
func (c *Caddy) Memory() (Memory, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", c.Pid()))
	if err != nil {
		return Memory{}, err
	}
	fields := map[string]*int64{}
	var m Memory
	fields["VmRSS:"], fields["RssAnon:"], fields["RssFile:"] = &m.RSS, &m.Anon, &m.File
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) != 3 || f[2] != "kB" || fields[f[0]] == nil {
			continue
		}
		kb, err := strconv.ParseInt(f[1], 10, 64)
		if err != nil {
			return Memory{}, fmt.Errorf("%s in /proc status: %w", f[0], err)
		}
		*fields[f[0]] = kb << 10
		delete(fields, f[0])
	}
	if len(fields) > 0 {
		return Memory{}, fmt.Errorf("/proc/%d/status lacks %d of VmRSS, RssAnon, RssFile", c.Pid(), len(fields))
	}
	return m, nil
}

// CPUTime returns the user and system CPU time the process has used.
func (c *Caddy) CPUTime() (time.Duration, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", c.Pid()))
	if err != nil {
		return 0, err
	}
	// Fields after the command name (which is in parentheses): utime and stime are
	// the 12th and 13th, in clock ticks (100 per second on Linux).
	_, rest, _ := strings.Cut(string(data), ") ")
	f := strings.Fields(rest)
	if len(f) < 13 {
		return 0, errors.New("short /proc stat")
	}
	u, _ := strconv.ParseInt(f[11], 10, 64)
	s, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(u+s) * 10 * time.Millisecond, nil
}

// Goroutines returns the number of goroutines, from the admin endpoint's pprof.
func (c *Caddy) Goroutines() (int, error) {
	body, err := c.AdminGet("/debug/pprof/goroutine?debug=1")
	if err != nil {
		return 0, err
	}
	line, _, _ := strings.Cut(string(body), "\n")
	n, ok := strings.CutPrefix(line, "goroutine profile: total ")
	if !ok {
		return 0, fmt.Errorf("unexpected goroutine profile: %q", line)
	}
	return strconv.Atoi(n)
}

// AdminGet GETs path from the admin endpoint.
func (c *Caddy) AdminGet(path string) ([]byte, error) {
	resp, err := http.Get("http://" + c.Admin + path)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", path, resp.Status)
	}
	return body, nil
}

// Log returns everything Caddy has logged in all its runs.
func (c *Caddy) Log() string {
	data, _ := os.ReadFile(filepath.Join(c.Dir, "caddy.log"))
	return string(data)
}

// LogTail returns the last n lines of the log.
func (c *Caddy) LogTail(n int) string {
	lines := strings.Split(strings.TrimRight(c.Log(), "\n"), "\n")
	return strings.Join(lines[max(len(lines)-n, 0):], "\n")
}

// DiskUsed is the space the files under dir take on disk: allocated blocks, as du
// counts them (Badger's preallocated files are sparse). A store may be in use:
// files it deletes meanwhile are not counted.
func DiskUsed(dir string) (int64, error) {
	var total int64
	err := filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		info, err := d.Info()
		if errors.Is(err, fs.ErrNotExist) {
			return nil // deleted since the directory was read: a compaction's input
		}
		if err != nil {
			return err
		}
		if st, ok := info.Sys().(*syscall.Stat_t); ok {
			total += st.Blocks * 512
		} else {
			total += info.Size()
		}
		return nil
	})
	return total, err
}
