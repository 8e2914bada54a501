package reload

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/fsnotify/fsnotify"
)

// Default debounce timings. A burst of writes (an editor's save, a ConfigMap swap, a
// `cp -r` of a directory) becomes one reload once the files have been quiet for
// DefaultDebounce; a stream of writes that never goes quiet still reloads after
// DefaultMaxWait, so a busy writer cannot starve reloads.
const (
	DefaultDebounce = 200 * time.Millisecond
	DefaultMaxWait  = 2 * time.Second
)

// WatchOptions tune Watch. Zero values take the defaults above.
type WatchOptions struct {
	// Debounce is the quiet period after the last relevant event before onChange runs.
	Debounce time.Duration
	// MaxWait bounds the time from the first event of a burst to onChange.
	MaxWait time.Duration
	// PrepareAfter is how long the files must have been quiet before Reloader.Watch
	// starts loading, checking and preparing the model, while the quiet period still
	// runs; the reload at the end of the period then only publishes it. Zero is
	// Debounce/4: a burst whose writes come closer together than that (an editor's save,
	// a rename over the file, a ConfigMap swap) never starts one it then drops, and the
	// rest of the period covers most of a load and translation. A negative value, or one
	// of at least Debounce, loads only once the quiet period has ended.
	PrepareAfter time.Duration
	Logger       *slog.Logger
	// Health, when set, is called with up=true once the watch is in place and after it is
	// re-established, and with up=false (and why) while the model directory is gone.
	Health func(up bool, err error)

	// Ready, when set, is closed once the watch is in place (tests edit files after it).
	Ready chan struct{}
}

func (o WatchOptions) health(up bool, err error) {
	if o.Health != nil {
		o.Health(up, err)
	}
}

func (o WatchOptions) withDefaults() WatchOptions {
	if o.Debounce <= 0 {
		o.Debounce = DefaultDebounce
	}
	if o.MaxWait <= 0 {
		o.MaxWait = DefaultMaxWait
	}
	if o.MaxWait < o.Debounce {
		o.MaxWait = o.Debounce
	}
	if o.PrepareAfter == 0 {
		o.PrepareAfter = o.Debounce / 4
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o
}

// Back-off of the attempts to watch the model directory again after it vanished.
const (
	watchRetryMin = 100 * time.Millisecond
	watchRetryMax = 5 * time.Second
)

// Watch calls onChange (never concurrently) after each debounced burst of changes to the
// model at path, a file or a directory of *.yaml files, until ctx ends. It returns nil
// when ctx ends, or an error when the watch cannot be set up.
//
// It watches a directory, never a file: the model directory itself, or a single file's
// parent. A file watch is lost when an editor saves by writing a new file and renaming it
// over the old one, and it never sees a Kubernetes ConfigMap update, which swaps the
// `..data` symlink and leaves the file's own name untouched.
//
// The watched directory can itself go (rm -rf and recreate, mv aside): its watch dies with
// it. Watch also watches the directory's parent, so it sees the directory come back, and
// retries with back-off (watchRetryMin to watchRetryMax) in case the parent went too;
// once the directory is watched again it logs so and reloads. opts.Health hears every
// change of state.
func Watch(ctx context.Context, path string, opts WatchOptions, onChange func()) error {
	return watch(ctx, path, opts, burstHandler{fire: func(*speculation) { onChange() }})
}

// burstHandler is what the debouncer does for a burst of file events.
type burstHandler struct {
	// speculate, when set, starts a speculative reload (its own goroutine) once the
	// files have been quiet for WatchOptions.PrepareAfter.
	speculate func() *speculation
	// fire runs at the end of the burst, with the speculation begun after the burst's
	// last event, or nil.
	fire func(*speculation)
}

func watch(ctx context.Context, path string, opts WatchOptions, h burstHandler) error {
	opts = opts.withDefaults()
	if opts.PrepareAfter < 0 || opts.PrepareAfter >= opts.Debounce {
		h.speculate = nil
	}
	dir, relevant, err := watchTarget(path)
	if err != nil {
		return err
	}
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return fmt.Errorf("watch %s: %w", path, err)
	}
	defer func() { _ = w.Close() }()
	if err := w.Add(dir); err != nil {
		return fmt.Errorf("watch %s: %w", dir, err)
	}
	dir = filepath.Clean(dir)
	parent := filepath.Dir(dir)
	if parent != dir {
		if err := w.Add(parent); err != nil {
			// Not fatal: the retries find the directory again, only later.
			opts.Logger.Warn("cannot watch the model directory's parent; a replaced directory is found by retrying",
				"parent", parent, "error", err)
		}
	}
	opts.health(true, nil)
	if opts.Ready != nil {
		close(opts.Ready)
	}
	opts.Logger.Info("watching model for changes", "path", path, "dir", dir,
		"debounce", opts.Debounce, "maxWait", opts.MaxWait)

	kicks := make(chan struct{}, 1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		debounceWith(ctx, kicks, opts.Debounce, opts.MaxWait, opts.PrepareAfter, h)
	}()
	defer func() { <-done }()
	kick := func() {
		select {
		case kicks <- struct{}{}:
		default: // a kick is already pending; the debouncer will see this burst
		}
	}

	var (
		down    bool
		backoff = watchRetryMin
		retry   *time.Timer
		retryC  <-chan time.Time
	)
	defer func() {
		if retry != nil {
			retry.Stop()
		}
	}()
	schedule := func() {
		retry = time.NewTimer(backoff)
		retryC = retry.C
		backoff = min(2*backoff, watchRetryMax)
	}
	lost := func(why string) {
		if down {
			return
		}
		down = true
		_ = w.Remove(dir) // a directory moved aside keeps its watch; drop it
		opts.Logger.Warn("model directory watch lost; watching for it to come back", "dir", dir, "reason", why)
		opts.health(false, fmt.Errorf("%s: %s", dir, why))
		backoff = watchRetryMin
		schedule()
	}
	restore := func() {
		if !down {
			return
		}
		if err := w.Add(dir); err != nil {
			opts.health(false, fmt.Errorf("watch %s: %w", dir, err))
			schedule()
			return
		}
		down, retryC = false, nil
		if retry != nil {
			retry.Stop()
		}
		opts.Logger.Info("model directory watch re-established; reloading", "dir", dir)
		opts.health(true, nil)
		kick()
	}

	for {
		select {
		case <-ctx.Done():
			return nil
		case <-retryC:
			retryC = nil
			restore()
		case ev, ok := <-w.Events:
			if !ok {
				return nil
			}
			name := filepath.Clean(ev.Name)
			if name == dir {
				switch {
				case ev.Op&(fsnotify.Remove|fsnotify.Rename) != 0:
					lost(ev.Op.String())
					kick() // reload, so the missing model shows in /status
					continue
				case ev.Op&fsnotify.Create != 0:
					restore()
					continue
				}
			}
			if filepath.Dir(name) == parent && name != dir {
				continue // another entry of the parent
			}
			if !relevant(ev) {
				continue
			}
			opts.Logger.Debug("model change seen", "event", ev.String())
			kick()
		case err, ok := <-w.Errors:
			if !ok {
				return nil
			}
			// An overflow loses events, so reload to be safe rather than miss a change.
			opts.Logger.Warn("model watch error; reloading to be safe", "path", path, "error", err)
			kick()
		}
	}
}

// watchTarget returns the directory to watch for the model at path and the filter for its
// events.
func watchTarget(path string) (string, func(fsnotify.Event) bool, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return "", nil, fmt.Errorf("watch model %s: %w", path, err)
	}
	if fi.IsDir() {
		self := filepath.Clean(path)
		return path, func(ev fsnotify.Event) bool {
			// The directory itself removed or renamed: reload, so the error shows.
			return isModelDirEvent(ev) || (isChange(ev) && filepath.Clean(ev.Name) == self)
		}, nil
	}
	base := filepath.Base(path)
	return filepath.Dir(path), func(ev fsnotify.Event) bool {
		return isChange(ev) && (filepath.Base(ev.Name) == base || isConfigMapEntry(ev.Name))
	}, nil
}

// isModelDirEvent keeps the events that can change a directory model: its *.yaml files
// (the loader's selection, which skips hidden files) and ConfigMap bookkeeping entries.
func isModelDirEvent(ev fsnotify.Event) bool {
	if !isChange(ev) {
		return false
	}
	name := filepath.Base(ev.Name)
	if isConfigMapEntry(name) {
		return true
	}
	return !strings.HasPrefix(name, ".") && (strings.HasSuffix(name, ".yaml") || strings.HasSuffix(name, ".yml"))
}

// isConfigMapEntry: kubelet publishes a ConfigMap as timestamped `..2024_...` directories
// and a `..data` symlink it swaps atomically; the visible files are symlinks through
// `..data`, so the swap is the only event a ConfigMap update produces.
func isConfigMapEntry(name string) bool {
	return strings.HasPrefix(filepath.Base(name), "..")
}

// isChange drops chmod-only events (touch, a backup tool): they change no content.
func isChange(ev fsnotify.Event) bool {
	return ev.Op&(fsnotify.Create|fsnotify.Write|fsnotify.Remove|fsnotify.Rename) != 0
}

// debounce calls fire once per burst of kicks: after quiet has passed with no kick, or
// maxWait after the burst's first kick, whichever is sooner. fire runs on this goroutine,
// so kicks that arrive while it runs start a new burst (a change during a reload is not
// lost) and fire never runs concurrently with itself.
func debounce(ctx context.Context, kicks <-chan struct{}, quiet, maxWait time.Duration, fire func()) {
	debounceWith(ctx, kicks, quiet, maxWait, 0, burstHandler{fire: func(*speculation) { fire() }})
}

// debounceWith is debounce that, when h.speculate is set, also starts a speculative
// reload once the kicks have been quiet for early, and hands it to h.fire at the end of
// the burst if no kick came after it started.
//
// Why using it is safe: every write to the model produces its file event after the write
// has happened, and the event's kick is taken here after that (a kick dropped because one
// was already pending is covered by the pending one, taken later still). So a
// speculation started after the burst's last kick read files that no write has touched
// since it started: its model is the one a load at the end of the quiet period would
// read. A kick after it started means a write may have landed under it; it is dropped.
//
// At most one speculation is in flight: a dropped one that is still running is left to
// finish (a load cannot be interrupted) before the next one starts.
func debounceWith(ctx context.Context, kicks <-chan struct{}, quiet, maxWait, early time.Duration, h burstHandler) {
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	earlyTimer := time.NewTimer(time.Hour)
	earlyTimer.Stop()
	defer earlyTimer.Stop()
	var (
		pending bool
		first   time.Time
		// ripe: the kicks have been quiet for early, so a speculation may start.
		ripe bool
		// sp is the last speculation started, until it is used or, dropped, finishes.
		sp *speculation
		// fresh: sp started after the burst's last kick.
		fresh bool
	)
	start := func() {
		if h.speculate == nil || !pending || !ripe || fresh {
			return
		}
		if sp != nil {
			return // a dropped one still runs; its end starts the next
		}
		sp, fresh = h.speculate(), true
	}
	for {
		// The end of a dropped speculation, if one is running.
		var dropped <-chan struct{}
		if sp != nil && !fresh {
			dropped = sp.done
		}
		select {
		case <-ctx.Done():
			if sp != nil {
				<-sp.done // Watch returns with nothing of it still running
			}
			return
		case <-kicks:
			now := time.Now()
			if !pending {
				pending, first = true, now
			}
			ripe, fresh = false, false
			timer.Reset(nextWait(now, first, quiet, maxWait))
			if h.speculate != nil {
				earlyTimer.Reset(early)
			}
		case <-earlyTimer.C:
			ripe = true
			start()
		case <-dropped:
			sp = nil
			start()
		case <-timer.C:
			if !pending {
				continue
			}
			pending, ripe = false, false
			earlyTimer.Stop()
			var use *speculation
			if fresh {
				use, sp, fresh = sp, nil, false
			}
			h.fire(use)
		}
	}
}

// nextWait is how long to wait after a kick at now, for a burst that began at first.
func nextWait(now, first time.Time, quiet, maxWait time.Duration) time.Duration {
	wait := quiet
	if left := first.Add(maxWait).Sub(now); left < wait {
		wait = left
	}
	return max(wait, 0)
}
