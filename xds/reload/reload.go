package reload

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/poolpilot/poolpilot/model"
	"github.com/poolpilot/poolpilot/xds"
)

// Result is the outcome of one reload attempt, as shown in /status.
type Result struct {
	OK bool `json:"ok"`
	// Time is when the attempt finished.
	Time time.Time `json:"time"`
	// Trigger says what started it: "startup", "file" or "signal".
	Trigger string `json:"trigger"`
	// Version is the model version served after the attempt: the new one when OK, the
	// last good one (or "" if none) when not.
	Version string `json:"version"`
	// Errors are the problems that rejected the model, one per entry, each starting with
	// file:line when the loader knows it.
	Errors []string `json:"errors,omitempty"`
	// Refused is set when the model was valid but the reload would have removed most of
	// what is served (see checkShrink); Errors says what.
	Refused bool `json:"refused,omitempty"`
}

// LoadFunc reads and validates the model at path (model.Load).
type LoadFunc func(path string) (*model.Model, error)

// ApplyFunc makes m the served configuration atomically, or changes nothing and returns
// an error (xds.Server.Apply).
type ApplyFunc func(m *model.Model) error

// PrepareFunc does the part of applying m that changes nothing served
// (xds.Server.Prepare) and returns the function that serves it (xds.Server.Commit). An
// error of the preparation is returned by commit, so only a preparation that is used
// reports it.
type PrepareFunc func(m *model.Model) (commit func() error)

// Options are the optional parts of a Reloader.
type Options struct {
	// Version names the configuration just applied. ForServer sets it to the
	// server's content-hash version (xds.Server.Version), the one /status and the metrics
	// show; a bare New without it records no version.
	Version func() string
	// Load replaces model.Load in ForServer (serve's embedded model).
	Load LoadFunc
	// Observer, when set, records every attempt and the watch's state (admin.Metrics).
	Observer Observer
	Logger   *slog.Logger
	// Now is the clock; tests may fix it.
	Now func() time.Time
	// Check, when set, must accept a loaded model before it is applied (serve's refusal
	// to serve credentials to unauthenticated clients). Load and Check may run on the
	// watch's speculative load while a signal reload runs them too.
	Check func(*model.Model) error
	// AllowShrink applies a reload that removes most of the served listeners or APIs,
	// which is refused otherwise (checkShrink).
	AllowShrink bool
	// Prepare, when set, lets a file reload do the work of the apply while the watch's
	// quiet period still runs (see Watch); ForServer sets it to the server's Prepare and
	// Commit. Without it the whole apply runs at the end of the quiet period.
	Prepare PrepareFunc
}

// Observer hears every reload attempt and every change of the model watch's state.
// A nil Options.Observer records nothing.
type Observer interface {
	ObserveReload(Result)
	ObserveWatch(up bool)
}

type nopObserver struct{}

func (nopObserver) ObserveReload(Result) {}
func (nopObserver) ObserveWatch(bool)    {}

// Reloader loads the model from disk and applies it, keeping the last good model when a
// load or apply fails. Reloads are serialized: a file change and a SIGHUP arriving
// together run one after the other, never interleaved.
type Reloader struct {
	path  string
	load  LoadFunc
	apply ApplyFunc
	opts  Options

	reloadMu sync.Mutex // held for a whole Load → Apply

	mu       sync.RWMutex
	last     Result
	lastGood Result
	current  *model.Model
	// gen counts the changes of current, so a speculative load can tell that the
	// model its shrink check compared against is no longer the served one.
	gen      uint64
	attempts int
	watch    *WatchHealth // nil until Watch starts
	// prepared counts the file reloads that used a speculative load (tests read it).
	prepared atomic.Int64
}

// WatchHealth is the state of the model watch, as /status shows it.
type WatchHealth struct {
	// Up is false while the model directory is gone and its watch is being re-established.
	Up    bool      `json:"up"`
	Since time.Time `json:"since"`
	Error string    `json:"error,omitempty"`
	// Restored counts the times the watch was lost and re-established.
	Restored int `json:"restored"`
}

// New returns a Reloader for the model at path. Nothing is loaded until Reload.
func New(path string, load LoadFunc, apply ApplyFunc, opts Options) *Reloader {
	if opts.Version == nil {
		opts.Version = func() string { return "" }
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Observer == nil {
		opts.Observer = nopObserver{}
	}
	if opts.Prepare == nil {
		opts.Prepare = func(m *model.Model) func() error { return func() error { return apply(m) } }
	}
	return &Reloader{path: path, load: load, apply: apply, opts: opts}
}

// ForServer is a Reloader that loads with opts.Load (default: model.Load plus
// loadOpts) and applies to srv, naming each model by the server's content-hash version.
func ForServer(path string, srv *xds.Server, opts Options, loadOpts ...model.Option) *Reloader {
	opts.Version = srv.Version
	opts.Prepare = func(m *model.Model) func() error {
		p, _ := srv.Prepare(m) // a failed p makes Commit record and return the failure
		return func() error { return srv.Commit(p) }
	}
	load := opts.Load
	if load == nil {
		load = func(p string) (*model.Model, error) { return model.Load(p, loadOpts...) }
	}
	return New(path, load, srv.Apply, opts)
}

// Adopt records m, which the caller has already applied (serve's startup load), as the
// served model, so /status and /readyz reflect it before the first reload.
func (r *Reloader) Adopt(m *model.Model, trigger string) Result {
	r.reloadMu.Lock()
	defer r.reloadMu.Unlock()
	res := Result{OK: true, Trigger: trigger, Time: r.opts.Now(), Version: r.opts.Version()}
	r.mu.Lock()
	r.current, r.last, r.lastGood = m, res, res
	r.gen++
	r.mu.Unlock()
	r.opts.Observer.ObserveReload(res)
	return res
}

// Path is the model file or directory this Reloader reads.
func (r *Reloader) Path() string { return r.path }

// Reload loads the model and applies it. On any failure the served configuration is
// unchanged and the errors are logged (each with its file:line) and recorded until a
// good model arrives.
func (r *Reloader) Reload(trigger string) Result {
	r.reloadMu.Lock()
	defer r.reloadMu.Unlock()
	return r.reloadLocked(trigger, r.loadAndApply)
}

// reloadLocked records and reports the outcome of do, a load and apply; reloadMu must be
// held.
func (r *Reloader) reloadLocked(trigger string, do func() (*model.Model, error)) Result {
	m, err := do()
	res := Result{OK: err == nil, Trigger: trigger, Time: r.opts.Now()}
	log := r.opts.Logger.With("path", r.path, "trigger", trigger)

	r.mu.Lock()
	r.attempts++
	if err == nil {
		res.Version = r.opts.Version()
		r.current, r.lastGood = m, res
		r.gen++
	} else {
		res.Version = r.lastGood.Version
		res.Errors = ErrorLines(err)
		var shrink *ShrinkError
		res.Refused = errors.As(err, &shrink)
	}
	r.last = res
	r.mu.Unlock()

	r.opts.Observer.ObserveReload(res)
	if res.OK {
		log.Info("model reloaded", "version", res.Version)
		return res
	}
	if res.Refused {
		log.Error("model reload refused; the last good model keeps serving", "serving", res.Version, "error", res.Errors[0])
		return res
	}
	if res.Version == "" {
		log.Error("model rejected; nothing is served until a good model arrives", "errors", len(res.Errors))
	} else {
		log.Error("model rejected; the last good model keeps serving", "errors", len(res.Errors), "serving", res.Version)
	}
	for _, e := range res.Errors {
		log.Error("model error", "error", e)
	}
	return res
}

func (r *Reloader) loadAndApply() (*model.Model, error) {
	// current changes only under reloadMu, which the caller holds.
	m, err := r.loadChecked(r.current)
	if err != nil {
		return nil, err
	}
	if err := r.apply(m); err != nil {
		return nil, fmt.Errorf("apply: %w", err)
	}
	return m, nil
}

// loadChecked loads the model and runs every check before the apply: the loader's, the
// Check option and the shrink guard against cur, the served model.
func (r *Reloader) loadChecked(cur *model.Model) (*model.Model, error) {
	m, err := r.load(r.path)
	if err != nil {
		return nil, err
	}
	if m == nil {
		return nil, fmt.Errorf("%s: the loader returned no model", r.path)
	}
	if r.opts.Check != nil {
		if err := r.opts.Check(m); err != nil {
			return nil, err
		}
	}
	if !r.opts.AllowShrink {
		if err := checkShrink(cur, m); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// speculation is a file reload's load, checks and Prepare, begun while the watch's quiet
// period still runs, and kept until the period ends to be used or dropped.
type speculation struct {
	done chan struct{} // closed once the fields below are set
	// gen is the Reloader's gen when it began: the served model it was checked against.
	gen    uint64
	m      *model.Model
	err    error        // of the load or the checks
	commit func() error // when err is nil: serves m, or returns the preparation's error
}

// speculate starts a speculative load on its own goroutine. It takes no lock a reload
// holds: it changes nothing, and reloadFile checks that what it read is still current.
func (r *Reloader) speculate() *speculation {
	r.mu.RLock()
	cur, gen := r.current, r.gen
	r.mu.RUnlock()
	sp := &speculation{done: make(chan struct{}), gen: gen}
	go func() {
		defer close(sp.done)
		if sp.m, sp.err = r.loadChecked(cur); sp.err == nil {
			sp.commit = r.opts.Prepare(sp.m)
		}
	}()
	return sp
}

// reloadFile is a reload at the end of a quiet period of the watch. sp, when not nil,
// began after the period's last file event: it is used (once finished) unless a reload
// served another model since it began, which its shrink check did not compare against.
// Otherwise the model is loaded now, as Reload does.
func (r *Reloader) reloadFile(sp *speculation) Result {
	if sp != nil {
		<-sp.done
	}
	r.reloadMu.Lock()
	defer r.reloadMu.Unlock()
	if sp != nil {
		r.mu.RLock()
		current := sp.gen == r.gen
		r.mu.RUnlock()
		if current {
			r.prepared.Add(1)
			return r.reloadLocked("file", sp.use)
		}
	}
	return r.reloadLocked("file", r.loadAndApply)
}

// use serves the speculative model, with the errors loadAndApply would return.
func (sp *speculation) use() (*model.Model, error) {
	if sp.err != nil {
		return nil, sp.err
	}
	if err := sp.commit(); err != nil {
		return nil, fmt.Errorf("apply: %w", err)
	}
	return sp.m, nil
}

// Last is the most recent attempt; LastGood the most recent applied one (zero if none).
func (r *Reloader) Last() (last, lastGood Result) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.last, r.lastGood
}

// Current is the model being served, nil before the first good load. Callers must not
// modify it.
func (r *Reloader) Current() *model.Model {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.current
}

// Ready reports whether a good model has been applied (its snapshots are set).
func (r *Reloader) Ready() bool {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.current != nil
}

// Attempts counts Reload calls that finished.
func (r *Reloader) Attempts() int {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.attempts
}

// Watch reloads after every debounced change of the model on disk until ctx ends
// (see the package-level Watch). Once the files have been quiet for opts.PrepareAfter
// it loads, checks and prepares the model (Options.Prepare) while the quiet period
// still runs; when the period ends it publishes that result if no file event came after
// the load began, and otherwise drops it, unreported, and reloads as Reload does. The
// outcome is reported as Reload reports it, with trigger "file".
func (r *Reloader) Watch(ctx context.Context, opts WatchOptions) error {
	if opts.Logger == nil {
		opts.Logger = r.opts.Logger
	}
	health := opts.Health
	opts.Health = func(up bool, err error) {
		r.setWatchHealth(up, err)
		if health != nil {
			health(up, err)
		}
	}
	return watch(ctx, r.path, opts, burstHandler{
		speculate: r.speculate,
		fire:      func(sp *speculation) { r.reloadFile(sp) },
	})
}

func (r *Reloader) setWatchHealth(up bool, err error) {
	r.mu.Lock()
	prev := r.watch
	h := &WatchHealth{Up: up, Since: r.opts.Now()}
	if prev != nil {
		h.Restored = prev.Restored
		if prev.Up == up {
			h.Since = prev.Since
		}
		if up && !prev.Up {
			h.Restored++
		}
	}
	if err != nil {
		h.Error = err.Error()
	}
	r.watch = h
	r.mu.Unlock()
	r.opts.Observer.ObserveWatch(up)
}

// Watching is the model watch's state; nil when no watch runs.
func (r *Reloader) Watching() *WatchHealth {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if r.watch == nil {
		return nil
	}
	h := *r.watch
	return &h
}

// ListenSignals starts catching sigs now and returns the loop that reloads on each until
// ctx ends (run it on its own goroutine). Catching before the goroutine starts matters for
// SIGHUP, whose default action ends the process: one sent right at startup must reload,
// not kill.
func (r *Reloader) ListenSignals(sigs ...os.Signal) func(ctx context.Context) {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, sigs...)
	return func(ctx context.Context) {
		defer signal.Stop(ch)
		for {
			select {
			case <-ctx.Done():
				return
			case s := <-ch:
				r.opts.Logger.Info("reloading model on signal", "signal", s.String())
				r.Reload("signal")
			}
		}
	}
}

// ErrorLines flattens err into one line per problem: the members of joined errors and
// of model.Errors, and the lines of a multi-line message.
func ErrorLines(err error) []string {
	if err == nil {
		return nil
	}
	var out []string
	var walk func(error)
	walk = func(e error) {
		if es, ok := e.(interface{ Unwrap() []error }); ok {
			for _, x := range es.Unwrap() {
				walk(x)
			}
			return
		}
		for line := range strings.SplitSeq(e.Error(), "\n") {
			if line = strings.TrimSpace(line); line != "" {
				out = append(out, line)
			}
		}
	}
	walk(err)
	if len(out) == 0 {
		out = []string{fmt.Sprintf("%T with no message", err)}
	}
	return out
}
