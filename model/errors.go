package model

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// Error is one problem in a model: where it is, which field (its YAML path, e.g.
// "backends[0].circuitBreaker.rules[0].tripDuration") and what is wrong and allowed.
// Msg never contains a secret value.
type Error struct {
	Pos   Pos
	Field string
	Msg   string
}

// Error formats the problem as "file:line: field: msg".
func (e *Error) Error() string {
	var b strings.Builder
	if p := e.Pos.String(); p != "" {
		b.WriteString(p)
		b.WriteString(": ")
	}
	if e.Field != "" {
		b.WriteString(e.Field)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Errors are all the problems of one load, sorted by file and line.
type Errors []*Error

// Error lists every problem, one per line.
func (es Errors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// AsErrors returns the problems of a failed Load, LoadBytes or LoadFiles.
// Any other error is wrapped as a single Error without a position.
func AsErrors(err error) (Errors, bool) {
	if err == nil {
		return nil, false
	}
	var es Errors
	if errors.As(err, &es) {
		return es, true
	}
	var e *Error
	if errors.As(err, &e) {
		return Errors{e}, true
	}
	return Errors{{Msg: err.Error()}}, false
}

// MaxErrors is how many errors one load reports; the rest are counted in a last line.
const MaxErrors = 100

// errList collects the errors of one load.
type errList struct {
	errs Errors
	// bad holds "file\x00field" of fields that already failed to decode, so that
	// validation does not report a second, derived error for them.
	bad map[string]bool
}

func (l *errList) add(pos Pos, field, msg string) {
	l.errs = append(l.errs, &Error{Pos: pos, Field: field, Msg: msg})
}

func (l *errList) markBad(file, field string) {
	if l.bad == nil {
		l.bad = map[string]bool{}
	}
	l.bad[file+"\x00"+field] = true
}

func (l *errList) isBad(file, field string) bool { return l.bad[file+"\x00"+field] }

// result sorts the errors by file, line and column (stable, so the order of
// discovery breaks ties) and returns them as an error, or nil when there are none.
func (l *errList) result() error {
	if len(l.errs) == 0 {
		return nil
	}
	slices.SortStableFunc(l.errs, func(a, b *Error) int {
		return cmp.Or(
			cmp.Compare(a.Pos.File, b.Pos.File),
			cmp.Compare(a.Pos.Line, b.Pos.Line),
			cmp.Compare(a.Pos.Column, b.Pos.Column),
		)
	})
	if n := len(l.errs); n > MaxErrors {
		// A runaway input (a generated file gone wrong) must not flood logs and status.
		errs := slices.Clone(l.errs[:MaxErrors])
		return append(errs, &Error{Msg: fmt.Sprintf("... and %d more errors", n-MaxErrors)})
	}
	return l.errs
}
