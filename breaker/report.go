package breaker

import (
	"errors"
	"fmt"
	"time"
)

// Source names where a report came from, for the status page and logs.
type Source string

const (
	// SourceLRS is Envoy's or a gRPC client's load report: totals only, no status codes.
	SourceLRS Source = "lrs"
	// SourceAccessLog is a per-attempt access log: exact status codes and reasons.
	SourceAccessLog Source = "accesslog"
)

// Report is what one proxy saw of one backend since its previous report.
type Report struct {
	// Node is the reporting node's id, bounded in length by the source.
	Node string
	// Region is the reporting node's region (the region its ADS stream declared), not
	// the backend's: it selects the window a region-scoped rule evaluates.
	Region string
	// Backend is the model backend the counts are about.
	Backend string
	// At is when the counts were taken; the engine counts them at that time.
	At time.Time
	// Span is how long before At the counts began (a load report's
	// load_report_interval); 0 when the source does not say. A report whose oldest count
	// is more than 2 reporting intervals old is stale: a client that could not report
	// for a minute sends a minute of failures at once, which must not trip a rule
	// "within 15s".
	Span   time.Duration
	Source Source
	Counts Counts
}

// Counts are one report's request counts. Issued, Succeeded and Failed are deltas since
// the reporter's previous report; InProgress is a level at report time.
type Counts struct {
	Issued     uint64
	Succeeded  uint64
	Failed     uint64
	InProgress uint64
	// Classes tells Failed apart when the source can (an access log); nil when it cannot
	// (a load report), and then every failure counts against the rule.
	Classes *Failures
}

// Failures are failed requests by cause. Their sum may be less than Counts.Failed (a
// failure of no listed cause); with Classes set, only the causes the rule names count.
type Failures struct {
	ConnectFailure uint64 // the connection could not be made
	Reset          uint64 // the connection was reset mid-request
	Timeout        uint64 // no answer in time
	// Status counts responses by HTTP status code, one entry per code.
	Status []StatusCount
}

// StatusCount is how many responses had status Code.
type StatusCount struct {
	Code int
	N    uint64
}

// failures is how many of c's failures count against a rule that matches m.
func (c Counts) failures(m Match) uint64 {
	if c.Classes == nil {
		return c.Failed
	}
	f := c.Classes
	var n uint64
	if m.ConnectionFailure {
		n = addSat(n, addSat(f.ConnectFailure, f.Reset))
	}
	if m.Timeout {
		n = addSat(n, f.Timeout)
	}
	for _, s := range f.Status {
		if m.code(s.Code) {
			n = addSat(n, s.N)
		}
	}
	return min(n, c.Failed)
}

// check rejects counts beyond limit (a client that sends a negative number as a uint64
// sends about 1.8e19).
func (c Counts) check(limit uint64) error {
	for _, v := range []struct {
		name string
		n    uint64
	}{{"issued", c.Issued}, {"succeeded", c.Succeeded}, {"failed", c.Failed}, {"in progress", c.InProgress}} {
		if v.n > limit {
			return fmt.Errorf("%w: %s %d is more than %d", ErrAbsurd, v.name, v.n, limit)
		}
	}
	if f := c.Classes; f != nil {
		if f.ConnectFailure > limit || f.Reset > limit || f.Timeout > limit {
			return fmt.Errorf("%w: a failure class is more than %d", ErrAbsurd, limit)
		}
		if len(f.Status) > maxStatusCodes {
			return fmt.Errorf("%w: %d status codes, at most %d", ErrAbsurd, len(f.Status), maxStatusCodes)
		}
		for _, s := range f.Status {
			if s.Code < 100 || s.Code > 599 || s.N > limit {
				return fmt.Errorf("%w: status %d count %d (codes 100–599, counts up to %d)", ErrAbsurd, s.Code, s.N, limit)
			}
		}
	}
	return nil
}

// maxStatusCodes bounds Failures.Status: 100–599 has 500 codes.
const maxStatusCodes = 500

// Why Record ignores a report. Use errors.Is.
var (
	ErrUnknownBackend = errors.New("backend has no breaker rule")
	ErrStale          = errors.New("report is stale")
	ErrAbsurd         = errors.New("count out of range")
	ErrTooManyRegions = errors.New("too many reporting regions")
)

// addSat adds without wrapping around.
func addSat(a, b uint64) uint64 {
	if s := a + b; s >= a {
		return s
	}
	return ^uint64(0)
}
