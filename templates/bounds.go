package templates

import (
	"errors"
	"fmt"
	"strings"

	"github.com/osteele/liquid/parser"
)

// A template renders within bounds: a loop body runs at most maxLoopRuns times
// in one rendering of a part, however the loops nest, and a part is at most
// maxRenderBytes long. Without them one template could make every reset email
// (and the save that compiles it) spin a core or fill memory: a range such as
// (1..100000000), loops nested over a split user name. Liquid has no budget of
// its own, so every for and tablerow body starts with an output that counts:
// {{ budgetVar | tickFilter }} writes nothing and fails the rendering once the
// budget is spent.
const (
	maxLoopRuns    = 10000
	maxRenderBytes = 1 << 20

	budgetVar  = "pwreset_loop_budget"
	tickFilter = "pwreset_loop_tick"
	tickOutput = "{{ " + budgetVar + " | " + tickFilter + " }}"
)

// loopBudget counts one rendering's loop runs.
type loopBudget struct{ left int }

var errTooManyLoops = fmt.Errorf("the template's loops run more than %d times", maxLoopRuns)

// tick is tickFilter: it spends one loop run.
func tick(b *loopBudget) (string, error) {
	if b == nil {
		return "", nil
	}
	if b.left--; b.left < 0 {
		return "", errTooManyLoops
	}
	return "", nil
}

// countLoops inserts tickOutput at the start of every for and tablerow body of
// src, whose template tokens are toks. Nothing else changes, and no line break is
// added, so line numbers stay the operator's.
func countLoops(src string, toks []token) string {
	var b strings.Builder
	last := 0
	for _, t := range toks {
		if t.Type != parser.TagTokenType || (t.Name != "for" && t.Name != "tablerow") {
			continue
		}
		end := t.offset + len(t.Source)
		b.WriteString(src[last:end])
		b.WriteString(tickOutput)
		last = end
	}
	b.WriteString(src[last:])
	return b.String()
}

// limitedBuilder collects a rendering up to max bytes and drops the rest,
// noting that it did: the caller fails the rendering then. (It does not fail the
// write, because Liquid panics on a writer's error; the loop budget bounds the
// work that the dropped bytes cost.)
type limitedBuilder struct {
	strings.Builder
	max      int
	overflow bool
}

var errTooLong = fmt.Errorf("the rendered template is longer than %d bytes", maxRenderBytes)

func (b *limitedBuilder) Write(p []byte) (int, error) {
	if b.overflow || b.Len()+len(p) > b.max {
		b.overflow = true
		return len(p), nil
	}
	return b.Builder.Write(p)
}

// boundError reports whether err is one of the bounds, which name no source.
func boundError(err error) error {
	for _, bound := range []error{errTooManyLoops, errTooLong} {
		if errors.Is(err, bound) || err != nil && strings.Contains(err.Error(), bound.Error()) {
			return bound
		}
	}
	return nil
}
