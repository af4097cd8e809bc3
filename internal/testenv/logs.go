package testenv

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
)

// Logs records what a logger under test writes, for assertions on its lines.
type Logs struct {
	mu    sync.Mutex
	lines []LogLine
}

// LogLine is one record: its level, message and attributes as text.
type LogLine struct {
	Level   slog.Level
	Message string
	Attrs   map[string]string
}

// String is the line as one text, for searching it for secrets.
func (l LogLine) String() string {
	var b strings.Builder
	b.WriteString(l.Message)
	for k, v := range l.Attrs {
		fmt.Fprintf(&b, " %s=%s", k, v)
	}
	return b.String()
}

// NewLogs returns a logger at debug level that records into the returned Logs.
func NewLogs() (*slog.Logger, *Logs) {
	l := &Logs{}
	return slog.New(&logHandler{logs: l}), l
}

// Lines returns the lines so far.
func (l *Logs) Lines() []LogLine {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]LogLine(nil), l.lines...)
}

// Count returns how many lines have message msg.
func (l *Logs) Count(msg string) int {
	n := 0
	for _, line := range l.Lines() {
		if line.Message == msg {
			n++
		}
	}
	return n
}

type logHandler struct {
	logs  *Logs
	attrs []slog.Attr
}

func (h *logHandler) Enabled(context.Context, slog.Level) bool { return true }

func (h *logHandler) Handle(_ context.Context, r slog.Record) error {
	line := LogLine{Level: r.Level, Message: r.Message, Attrs: map[string]string{}}
	for _, a := range h.attrs {
		line.Attrs[a.Key] = a.Value.String()
	}
	r.Attrs(func(a slog.Attr) bool {
		line.Attrs[a.Key] = a.Value.String()
		return true
	})
	h.logs.mu.Lock()
	h.logs.lines = append(h.logs.lines, line)
	h.logs.mu.Unlock()
	return nil
}

func (h *logHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &logHandler{logs: h.logs, attrs: append(append([]slog.Attr(nil), h.attrs...), attrs...)}
}

func (h *logHandler) WithGroup(string) slog.Handler { return h }
