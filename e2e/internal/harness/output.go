package harness

import (
	"bytes"
	"sync"
)

// maxKeptLines bounds the captured output; older lines are dropped, and
// marks keep counting from the first line ever written.
const maxKeptLines = 200_000

// output collects complete lines from several streams. Each stream keeps its
// own partial line, so stdout and stderr never interleave within a line.
type output struct {
	mu      sync.Mutex
	lines   []string
	base    int // absolute index of lines[0]
	partial []*[]byte
	changed chan struct{} // closed and replaced whenever lines are added
}

func newOutput() *output { return &output{changed: make(chan struct{})} }

type streamWriter struct {
	o       *output
	partial *[]byte
}

func (o *output) writer() *streamWriter {
	o.mu.Lock()
	defer o.mu.Unlock()
	buf := new([]byte)
	o.partial = append(o.partial, buf)
	return &streamWriter{o: o, partial: buf}
}

func (w *streamWriter) Write(b []byte) (int, error) {
	o := w.o
	o.mu.Lock()
	defer o.mu.Unlock()
	*w.partial = append(*w.partial, b...)
	added := false
	for {
		i := bytes.IndexByte(*w.partial, '\n')
		if i < 0 {
			break
		}
		o.appendLocked(string(bytes.TrimSuffix((*w.partial)[:i], []byte("\r"))))
		*w.partial = (*w.partial)[i+1:]
		added = true
	}
	if added {
		o.notifyLocked()
	}
	return len(b), nil
}

func (o *output) appendLocked(line string) {
	o.lines = append(o.lines, line)
	if over := len(o.lines) - maxKeptLines; over > 0 {
		o.lines = append([]string(nil), o.lines[over:]...)
		o.base += over
	}
}

func (o *output) notifyLocked() {
	close(o.changed)
	o.changed = make(chan struct{})
}

// flush turns unterminated last lines into lines (called after exit).
func (o *output) flush() {
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, p := range o.partial {
		if len(*p) > 0 {
			o.appendLocked(string(*p))
			*p = nil
		}
	}
	o.notifyLocked()
}

func (o *output) mark() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.base + len(o.lines)
}

// since returns the kept lines from absolute index from on, a channel closed
// when more arrive, and the absolute index after the last returned line.
func (o *output) since(from int) ([]string, <-chan struct{}, int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	start := from - o.base
	if start < 0 {
		start = 0
	}
	if start > len(o.lines) {
		start = len(o.lines)
	}
	lines := append([]string(nil), o.lines[start:]...)
	return lines, o.changed, o.base + len(o.lines)
}

func (o *output) snapshot(from int) ([]string, int) {
	lines, _, end := o.since(from)
	return lines, end
}
