package model

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"syscall"
	"time"

	"go.yaml.in/yaml/v3"
)

// MaxFileSize is the largest model file Load accepts (a Kubernetes ConfigMap holds 1 MiB).
const MaxFileSize = 4 << 20

// Option changes how a model is loaded.
type Option func(*options)

type options struct {
	ctx        context.Context
	lookupEnv  func(string) (string, bool)
	readFile   func(string) ([]byte, error)
	allowEnv   []string
	allowSet   bool
	secretsDir string
	files      *secretsDir // set by secretFiles
	secrets    *secretLoad // shared by the resolvers of one load, set by secretFiles
}

// WithContext lets ctx abandon a load: it is checked before each file is read, so a
// reload that is no longer wanted (the server is stopping) ends promptly.
func WithContext(ctx context.Context) Option {
	return func(o *options) { o.ctx = ctx }
}

// WithLookupEnv sets how ${VAR} secret references are resolved (default os.LookupEnv).
// A function given here is the whole environment the model sees, chosen by the caller:
// every variable it returns may be read, unless WithAllowEnv is given too.
func WithLookupEnv(f func(string) (string, bool)) Option {
	return func(o *options) { o.lookupEnv = f }
}

// WithAllowEnv names the environment variables a model may read: exact names
// ("FUNC_KEY"), prefixes ending in * ("FUNC_*"), or "*" for all (see CheckAllowEnv).
// Without it, a model reads no variable of the process environment; a variable it may
// not read is an error when set, and gives way to the reference's default when unset.
func WithAllowEnv(patterns ...string) Option {
	return func(o *options) { o.allowEnv, o.allowSet = append(o.allowEnv, patterns...), true }
}

// WithSecretsDir confines ${file:...} references to dir (symlinks resolved before the
// check, ".." refused). Without it, a model may read no file from disk.
func WithSecretsDir(dir string) Option {
	return func(o *options) { o.secretsDir = dir }
}

// WithReadFile sets how ${file:/path} secret references are read (default: from disk,
// inside the secrets directory, regular files of at most MaxSecretFileSize). A function
// given here is the caller's own file system: any path may be read unless
// WithSecretsDir is given too (then only the path check applies). Model files
// themselves are always read from disk.
func WithReadFile(f func(string) ([]byte, error)) Option {
	return func(o *options) { o.readFile = f }
}

func buildOptions(opts []Option) options {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	return o
}

// resolver returns the secret resolver for a file in dir under these options.
func (o *options) resolver(dir string) *secretResolver {
	r := &secretResolver{ctx: o.ctx, lookupEnv: o.lookupEnv, readFile: o.readFile, dir: dir}
	r.env, r.allEnv = newEnvAllowList(o.allowEnv)
	if r.lookupEnv == nil {
		r.lookupEnv = os.LookupEnv
	} else if !o.allowSet {
		r.allEnv = true
	}
	r.files = o.files
	r.load = o.secrets
	return r
}

// secretFiles sets o.files, the secrets directory policy, and the state the resolvers
// share, once per load.
func (o *options) secretFiles() {
	o.secrets = &secretLoad{}
	switch {
	case o.readFile == nil && o.secretsDir == "":
		o.files = &secretsDir{} // no directory: every file is refused
	case o.readFile == nil:
		o.files = newSecretsDir(o.secretsDir, true)
	case o.secretsDir != "":
		o.files = newSecretsDir(o.secretsDir, false)
	}
}

// File is one model file's name (as shown in errors) and content.
type File struct {
	Name string
	Data []byte
}

// Load reads a model from path: one YAML file, or a directory whose *.yaml and *.yml
// files (not recursive, sorted by name, hidden entries skipped, symlinks followed) are
// merged. On failure the error is an Errors value listing every problem found.
// A model that changes while it is read is read again (see ReadFiles).
func Load(path string, opts ...Option) (*Model, error) {
	o := buildOptions(opts)
	files, err := readFiles(o.ctx, path)
	if err != nil {
		return nil, err
	}
	return LoadFiles(files, opts...)
}

// readAttempts bounds how often ReadFiles reads a model that keeps changing under it.
const readAttempts = 5

// ReadFiles returns the model files Load would read at path, in load order.
//
// What it returns is one consistent state of the model on disk, or an error; never a
// part of an edit: each file must be a regular file (a symlink to one is fine) whose
// size and modification time did not change while it was read, and a directory must
// list the same *.yaml files, unchanged, after every file was read. When something
// changed, or a listed file vanished, the whole model is read again, up to readAttempts
// times. A file of zero bytes is refused too, as it is what an in-place save (truncate,
// then write) leaves in between. What cannot be told apart from a real edit is a save
// cut short at a YAML boundary that stays so: that is a smaller, valid model.
func ReadFiles(path string) ([]File, error) { return readFiles(context.Background(), path) }

func readFiles(ctx context.Context, path string) ([]File, error) {
	for attempt := 1; ; attempt++ {
		if ctx != nil && ctx.Err() != nil {
			return nil, Errors{{Pos: Pos{File: path}, Msg: fmt.Sprintf("loading was abandoned (%v)", ctx.Err())}}
		}
		files, changed, err := readFilesOnce(path)
		if !changed {
			return files, err
		}
		if attempt == readAttempts {
			if err != nil {
				return nil, err // the vanished file, named
			}
			return nil, Errors{{Pos: Pos{File: path}, Msg: fmt.Sprintf(
				"the model changed while it was read, %d times in a row; it is read again on its next change", readAttempts)}}
		}
		// Give the writer a moment to finish: 10, 20, 40, 80 ms.
		t := time.NewTimer(time.Duration(10<<(attempt-1)) * time.Millisecond)
		var done <-chan struct{}
		if ctx != nil {
			done = ctx.Done()
		}
		select {
		case <-t.C:
		case <-done:
			t.Stop()
		}
	}
}

// afterReadHook, when set (by tests), runs after each file of a directory is read: it
// lets a test edit the model at an exact point of a read.
var afterReadHook func(file string)

// readFilesOnce reads the model at path once. changed reports that it changed while
// being read (err may then name a file that vanished).
func readFilesOnce(path string) (files []File, changed bool, err error) {
	fail := func(msg string) ([]File, bool, error) {
		return nil, false, Errors{{Pos: Pos{File: path}, Msg: msg}}
	}
	st, err := os.Stat(path)
	if err != nil {
		return fail("cannot read model: " + fileErrText(err))
	}
	if !st.IsDir() {
		f, changed, err := readModelFile(path, st)
		if afterReadHook != nil {
			afterReadHook(path)
		}
		if !changed && err == nil {
			now, serr := os.Stat(path) // replaced (renamed over) while being read
			changed = serr != nil || !sameFileState(st, now)
		}
		if err != nil {
			return nil, changed, Errors{{Pos: Pos{File: path}, Msg: err.Error()}}
		}
		return []File{f}, changed, nil
	}
	names, err := modelFileNames(path)
	if err != nil {
		return fail("cannot read model directory: " + fileErrText(err))
	}
	var errs errList
	stats := make([]fs.FileInfo, 0, len(names))
	for _, name := range names {
		full := filepath.Join(path, name)
		fst, err := os.Stat(full) // follows symlinks: ConfigMap files are symlinks
		if err != nil {
			// Listed, then gone (or a dangling link while a ConfigMap swaps): read again.
			changed = changed || errors.Is(err, fs.ErrNotExist)
			errs.add(Pos{File: full}, "", "cannot read model file: "+fileErrText(err))
			continue
		}
		f, ch, err := readModelFile(full, fst)
		changed = changed || ch
		if afterReadHook != nil {
			afterReadHook(full)
		}
		if err != nil {
			errs.add(Pos{File: full}, "", err.Error())
			continue
		}
		stats = append(stats, fst)
		files = append(files, f)
	}
	if err := errs.result(); err != nil {
		return nil, changed, err
	}
	if changed {
		return nil, true, nil
	}
	// The set of files, and each file, must be as they were when reading began.
	again, err := modelFileNames(path)
	if err != nil || !slices.Equal(names, again) {
		return nil, true, nil
	}
	for i, f := range files {
		now, err := os.Stat(f.Name)
		if err != nil || !sameFileState(stats[i], now) {
			return nil, true, nil
		}
	}
	if len(files) == 0 {
		// Likely a wrong path or a directory emptied mid-edit: serving an empty model
		// would drop every route, so refuse it.
		return fail("no *.yaml or *.yml model files in this directory")
	}
	return files, false, nil
}

// modelFileNames lists the *.yaml and *.yml entries of dir (hidden ones skipped), sorted.
func modelFileNames(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir) // sorted by name
	if err != nil {
		return nil, err
	}
	var names []string
	for _, e := range entries {
		name := e.Name()
		if strings.HasPrefix(name, ".") { // hidden files, and ConfigMap's ..data and ..<timestamp>
			continue
		}
		if ext := strings.ToLower(filepath.Ext(name)); ext != ".yaml" && ext != ".yml" {
			continue
		}
		names = append(names, name)
	}
	return names, nil
}

// sameFileState reports whether a and b describe the same file, unchanged.
func sameFileState(a, b fs.FileInfo) bool {
	return os.SameFile(a, b) && a.Size() == b.Size() && a.ModTime().Equal(b.ModTime())
}

// readModelFile reads the model file path, which st (from os.Stat) describes. A file
// that is not regular, or empty, is an error; changed reports that it was replaced or
// written to while being read. It opens non-blocking, so a FIFO cannot hang a load.
func readModelFile(path string, st fs.FileInfo) (f File, changed bool, err error) {
	if !st.Mode().IsRegular() {
		return f, false, fmt.Errorf("is %s, not a regular file; a model file must be a regular file (or a symlink to one)", fileKind(st.Mode()))
	}
	fd, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return f, errors.Is(err, fs.ErrNotExist), fmt.Errorf("cannot read model file: %s", fileErrText(err))
	}
	defer func() { _ = fd.Close() }()
	open, err := fd.Stat()
	if err != nil {
		return f, false, fmt.Errorf("cannot read model file: %s", fileErrText(err))
	}
	if !sameFileState(st, open) {
		return f, true, nil // replaced or written between the two looks
	}
	if open.Size() > MaxFileSize {
		return f, false, fmt.Errorf("model file is larger than %d MiB", MaxFileSize>>20)
	}
	data, err := io.ReadAll(io.LimitReader(fd, MaxFileSize+1))
	if err != nil {
		return f, false, fmt.Errorf("cannot read model file: %s", fileErrText(err))
	}
	if len(data) > MaxFileSize {
		return f, false, fmt.Errorf("model file is larger than %d MiB", MaxFileSize>>20)
	}
	after, err := fd.Stat()
	if err != nil || int64(len(data)) != open.Size() || !sameFileState(open, after) {
		return f, true, nil
	}
	if len(data) == 0 {
		return f, false, errors.New("model file is empty (0 bytes), as a save in progress leaves it; " +
			"a file meant to be empty must hold at least a comment")
	}
	return File{Name: path, Data: data}, false, nil
}

// LoadBytes loads a model from one file's content; file names it in errors and is
// the base for relative ${file:...} references.
func LoadBytes(file string, data []byte, opts ...Option) (*Model, error) {
	return LoadFiles([]File{{Name: file, Data: data}}, opts...)
}

// LoadFiles merges, validates and defaults the model in files, in their order.
// Names are unique across all files. Every problem of every file is reported together.
func LoadFiles(files []File, opts ...Option) (*Model, error) {
	o := buildOptions(opts)
	o.secretFiles()
	var errs errList
	l := &loader{errs: &errs, locs: map[any]loc{}, nodesLeft: maxLoadNodes}
	m := &Model{}
	for _, f := range files {
		if l.done {
			break
		}
		if o.ctx != nil && o.ctx.Err() != nil {
			return nil, Errors{{Pos: Pos{File: f.Name}, Msg: fmt.Sprintf("loading was abandoned (%v)", o.ctx.Err())}}
		}
		l.parseFile(m, f, o.resolver(filepath.Dir(f.Name)))
	}
	if o.ctx != nil && o.ctx.Err() != nil {
		return nil, Errors{{Msg: fmt.Sprintf("loading was abandoned (%v)", o.ctx.Err())}}
	}
	l.validate(m)
	if err := errs.result(); err != nil {
		return nil, err
	}
	return m, nil
}

// loader holds the state of one load: the errors and where each element was written.
type loader struct {
	errs *errList
	// nodesLeft is what remains of the load's node budget (maxLoadNodes).
	nodesLeft int
	// done is set once the load stops decoding: too many errors or nodes.
	done bool
	locs map[any]loc // *Backend, *Pool, *API, *Listener → its location
	ix   *Index      // name lookups while validating
}

// loc locates one element: its file's positions and its field path in that file.
type loc struct {
	file string
	pos  map[string]Pos
	path string
	self Pos
}

// child is the full path of field within the element: "services[1]", "retry.count",
// an index such as "[0]", or "" for the element itself.
func (l loc) child(field string) string {
	switch {
	case field == "":
		return l.path
	case strings.HasPrefix(field, "["):
		return l.path + field
	}
	return join(l.path, field)
}

// sub is the location of a nested element, e.g. l.sub("services[1]").
func (l loc) sub(name string) loc {
	s := l
	s.path = l.child(name)
	if pos, ok := l.pos[s.path]; ok {
		s.self = pos
	}
	return s
}

// at returns where field (relative to the element) was written, or the element's
// own position when the field is absent, and the field's full path.
func (l loc) at(field string) (Pos, string) {
	p := l.child(field)
	if pos, ok := l.pos[p]; ok {
		return pos, p
	}
	return l.self, p
}

// has reports whether field was written (and not null).
func (l loc) has(field string) bool {
	_, ok := l.pos[l.child(field)]
	return ok
}

func (l *loader) parseFile(m *Model, f File, res *secretResolver) {
	if len(f.Data) > MaxFileSize {
		l.errs.add(Pos{File: f.Name}, "", fmt.Sprintf("model file is larger than %d MiB", MaxFileSize>>20))
		return
	}
	dec := yaml.NewDecoder(bytes.NewReader(f.Data))
	for !l.done {
		var doc yaml.Node
		err := safeDecode(dec, &doc)
		if errors.Is(err, io.EOF) {
			return
		}
		if err != nil {
			// The parser cannot resynchronise: this file stops here, others go on.
			l.errs.addErr(yamlSyntaxError(f.Name, err))
			return
		}
		if l.errs.full() || l.nodesLeft <= 0 {
			// The load is over its limits: what follows would only cost time and bury
			// the errors in more.
			l.done = true
			l.errs.stops = append(l.errs.stops, &Error{Pos: Pos{File: f.Name, Line: doc.Line},
				Msg: "too many errors or values in the model; stopped reading it here"})
			return
		}
		l.decodeDoc(m, f.Name, &doc, res)
	}
}

// safeDecode parses one YAML document, turning a parser panic into an error so that no
// input can crash a running server.
func safeDecode(dec *yaml.Decoder, n *yaml.Node) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("the YAML parser failed: %v", r)
		}
	}()
	return dec.Decode(n)
}

func (l *loader) decodeDoc(m *Model, file string, doc *yaml.Node, res *secretResolver) {
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 {
		return
	}
	root := doc.Content[0]
	if isNull(root) {
		return // an empty document, or one with only comments
	}
	d := newDecoder(file, l.errs, res, l.nodesLeft)
	start := d.budget
	defer func() {
		l.nodesLeft -= start - max(d.budget, 0)
		// A document that stopped the load has said why; later ones are not read.
		l.done = d.stopped && (l.errs.full() || l.nodesLeft <= 0)
	}()
	var part Model
	d.decode(root, reflect.ValueOf(&part).Elem(), "")
	if d.stopped {
		return // a runaway document: its content would only bury the error in more
	}
	self := d.posOf(root)
	add := func(elem any, path string) {
		pos := self
		if p, ok := d.pos[path]; ok {
			pos = p
		}
		l.locs[elem] = loc{file: file, pos: d.pos, path: path, self: pos}
	}
	m.Backends = collect(m.Backends, part.Backends, "backends", add)
	m.Pools = collect(m.Pools, part.Pools, "pools", add)
	m.APIs = collect(m.APIs, part.APIs, "apis", add)
	m.Listeners = collect(m.Listeners, part.Listeners, "listeners", add)
}

// collect appends the non-nil entries of a document's list named key to dst, recording
// each one's place (key[i]) with add.
func collect[T any](dst, src []*T, key string, add func(elem any, path string)) []*T {
	for i, e := range src {
		if e != nil {
			add(e, fmt.Sprintf("%s[%d]", key, i))
			dst = append(dst, e)
		}
	}
	return dst
}
