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

// maxKeptErrors bounds the errors one load holds in memory while it runs; past it they
// are only counted, and a decoder stops reading its document. It is well above
// MaxErrors so that sorting by position still picks the first ones of a normal model.
const maxKeptErrors = 10 * MaxErrors

// errList collects the errors of one load.
type errList struct {
	errs Errors
	// dropped counts errors found after maxKeptErrors were held.
	dropped int
	// stops are the errors that abandoned a document: always reported, whatever their
	// position, since they explain why the list is cut short.
	stops Errors
	// bad holds "file\x00field" of fields that already failed to decode, so that
	// validation does not report a second, derived error for them.
	bad map[string]bool
}

func (l *errList) add(pos Pos, field, msg string) {
	l.addErr(&Error{Pos: pos, Field: field, Msg: msg})
}

func (l *errList) addErr(e *Error) {
	if len(l.errs) >= maxKeptErrors {
		l.dropped++
		return
	}
	l.errs = append(l.errs, e)
}

// full reports whether the list holds as many errors as it keeps.
func (l *errList) full() bool { return len(l.errs) >= maxKeptErrors }

func (l *errList) markBad(file, field string) {
	if l.full() {
		return // nothing more is reported, so nothing needs suppressing
	}
	if l.bad == nil {
		l.bad = map[string]bool{}
	}
	l.bad[file+"\x00"+field] = true
}

func (l *errList) isBad(file, field string) bool { return l.bad[file+"\x00"+field] }

// result sorts the errors by file, line and column (stable, so the order of
// discovery breaks ties) and returns them as an error, or nil when there are none.
func (l *errList) result() error {
	if len(l.errs)+len(l.stops) == 0 {
		return nil
	}
	byPos := func(a, b *Error) int {
		return cmp.Or(
			cmp.Compare(a.Pos.File, b.Pos.File),
			cmp.Compare(a.Pos.Line, b.Pos.Line),
			cmp.Compare(a.Pos.Column, b.Pos.Column),
		)
	}
	slices.SortStableFunc(l.errs, byPos)
	stops := l.stops[:min(len(l.stops), MaxErrors)]
	keep := MaxErrors - len(stops)
	if n := len(l.errs) + l.dropped + len(stops); n > MaxErrors {
		// A runaway input (a generated file gone wrong) must not flood logs and status.
		errs := append(slices.Clone(l.errs[:min(keep, len(l.errs))]), stops...)
		slices.SortStableFunc(errs, byPos)
		return append(errs, &Error{Msg: fmt.Sprintf("... and %d more errors", n-len(errs))})
	}
	errs := append(slices.Clone(l.errs), stops...)
	slices.SortStableFunc(errs, byPos)
	return errs
}
