package breaker

import (
	"time"
)

// maxBuckets bounds a window's memory: an interval of an hour is kept in 60 buckets of a
// minute, an interval of 15 s in 15 buckets of a second.
const maxBuckets = 60

// window sums one backend's reports from one reporting region over the rule's interval,
// in buckets aligned to multiples of width since the Unix epoch. A count taken at time t
// falls in bucket floor(t/width) and counts while that bucket is one of the newest k, so
// it counts for at least interval-width and never longer than interval.
type window struct {
	width   time.Duration
	buckets []bucket // ring: bucket n lives at n mod k
	// seen is the newest report of each node, bounded by maxNodes.
	seen     map[string]seen
	maxNodes int
	newest   time.Time
	// total counts every accepted report since the window was made, open or not, for
	// monotonic counters (metrics); clear leaves it alone.
	total total
}

// total is a window's running counts since it was made.
type total struct {
	done, matching uint64
}

type bucket struct {
	n        int64 // bucket number: t / width
	issued   uint64
	done     uint64 // succeeded + failed
	failed   uint64 // every failure the sources reported
	matching uint64 // failures that count against the rule
}

type seen struct {
	at         time.Time
	inProgress uint64
}

// totals are a window's sums over the interval.
type totals struct {
	issued, done, failed, matching uint64
	inProgress                     uint64
	proxies                        int
	newest                         time.Time
}

func newWindow(interval time.Duration, maxNodes int) *window {
	k := max(min(int64(interval/time.Second), maxBuckets), 1)
	return &window{
		width:    interval / time.Duration(k),
		buckets:  make([]bucket, k),
		seen:     map[string]seen{},
		maxNodes: maxNodes,
	}
}

func (w *window) index(t time.Time) int64 { return t.UnixNano() / int64(w.width) }

func (w *window) slot(n int64) *bucket {
	k := int64(len(w.buckets))
	return &w.buckets[((n%k)+k)%k]
}

// see records that node reported at t (t ≤ now).
func (w *window) see(node string, t time.Time, inProgress uint64, now time.Time, fresh time.Duration) {
	if t.After(w.newest) {
		w.newest = t
	}
	if old, ok := w.seen[node]; ok {
		if t.Before(old.at) {
			return
		}
	} else if len(w.seen) >= w.maxNodes {
		w.forget(now, fresh)
		if len(w.seen) >= w.maxNodes {
			w.evictOldest()
		}
	}
	w.seen[node] = seen{at: t, inProgress: inProgress}
}

// forget drops the nodes that have not reported within fresh.
func (w *window) forget(now time.Time, fresh time.Duration) {
	for n, s := range w.seen {
		if now.Sub(s.at) > fresh {
			delete(w.seen, n)
		}
	}
}

func (w *window) evictOldest() {
	var oldest string
	var at time.Time
	first := true
	for n, s := range w.seen {
		if first || s.at.Before(at) || (s.at.Equal(at) && n < oldest) {
			oldest, at, first = n, s.at, false
		}
	}
	delete(w.seen, oldest)
}

// add counts c (taken at t ≤ now) unless t is already outside the interval.
func (w *window) add(t time.Time, c Counts, matching uint64, now time.Time) {
	n, cur := w.index(t), w.index(now)
	if n <= cur-int64(len(w.buckets)) {
		return
	}
	b := w.slot(n)
	if b.n != n {
		*b = bucket{n: n}
	}
	b.issued = addSat(b.issued, c.Issued)
	b.done = addSat(b.done, addSat(c.Succeeded, c.Failed))
	b.failed = addSat(b.failed, c.Failed)
	b.matching = addSat(b.matching, matching)
}

// sum adds the buckets within the interval ending at now (the buckets span it).
func (w *window) sum(now time.Time) totals {
	cur := w.index(now)
	k := int64(len(w.buckets))
	var t totals
	for i := range w.buckets {
		b := &w.buckets[i]
		if b.n > cur-k && b.n <= cur {
			t.issued = addSat(t.issued, b.issued)
			t.done = addSat(t.done, b.done)
			t.failed = addSat(t.failed, b.failed)
			t.matching = addSat(t.matching, b.matching)
		}
	}
	t.newest = w.newest
	return t
}

// nodes adds to t the nodes that reported within the interval and their requests in
// progress. It walks every node, so the hot path (evaluating a rule on every report)
// leaves it out.
func (w *window) nodes(t totals, now time.Time, interval time.Duration) totals {
	for _, s := range w.seen {
		if now.Sub(s.at) < interval {
			t.proxies++
			t.inProgress = addSat(t.inProgress, s.inProgress)
		}
	}
	return t
}

// clear forgets the counts (not the nodes): a trip starts the next interval afresh.
func (w *window) clear() {
	for i := range w.buckets {
		w.buckets[i] = bucket{}
	}
}

func (t totals) add(o totals) totals {
	t.issued = addSat(t.issued, o.issued)
	t.done = addSat(t.done, o.done)
	t.failed = addSat(t.failed, o.failed)
	t.matching = addSat(t.matching, o.matching)
	t.inProgress = addSat(t.inProgress, o.inProgress)
	t.proxies += o.proxies
	if o.newest.After(t.newest) {
		t.newest = o.newest
	}
	return t
}
