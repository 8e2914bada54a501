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
	// to serve credentials to unauthenticated clients).
	Check func(*model.Model) error
	// AllowShrink applies a reload that removes most of the served listeners or APIs,
	// which is refused otherwise (checkShrink).
	AllowShrink bool
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
	attempts int
	watch    *WatchHealth // nil until Watch starts
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
	return &Reloader{path: path, load: load, apply: apply, opts: opts}
}

// ForServer is a Reloader that loads with opts.Load (default: model.Load plus
// loadOpts) and applies to srv, naming each model by the server's content-hash version.
func ForServer(path string, srv *xds.Server, opts Options, loadOpts ...model.Option) *Reloader {
	opts.Version = srv.Version
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

	m, err := r.loadAndApply()
	res := Result{OK: err == nil, Trigger: trigger, Time: r.opts.Now()}
	log := r.opts.Logger.With("path", r.path, "trigger", trigger)

	r.mu.Lock()
	r.attempts++
	if err == nil {
		res.Version = r.opts.Version()
		r.current, r.lastGood = m, res
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
		// current changes only under reloadMu, which the caller holds.
		if err := checkShrink(r.current, m); err != nil {
			return nil, err
		}
	}
	if err := r.apply(m); err != nil {
		return nil, fmt.Errorf("apply: %w", err)
	}
	return m, nil
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
// (see the package-level Watch).
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
	return Watch(ctx, r.path, opts, func() { r.Reload("file") })
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
