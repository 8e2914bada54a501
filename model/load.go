package model

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"

	"go.yaml.in/yaml/v3"
)

// MaxFileSize is the largest model file Load accepts (a Kubernetes ConfigMap holds 1 MiB).
const MaxFileSize = 4 << 20

// Option changes how a model is loaded.
type Option func(*options)

type options struct {
	lookupEnv func(string) (string, bool)
	readFile  func(string) ([]byte, error)
}

// WithLookupEnv sets how ${VAR} secret references are resolved (default os.LookupEnv).
func WithLookupEnv(f func(string) (string, bool)) Option {
	return func(o *options) { o.lookupEnv = f }
}

// WithReadFile sets how ${file:/path} secret references are read (default os.ReadFile).
// Model files themselves are always read from disk.
func WithReadFile(f func(string) ([]byte, error)) Option {
	return func(o *options) { o.readFile = f }
}

// File is one model file's name (as shown in errors) and content.
type File struct {
	Name string
	Data []byte
}

// Load reads a model from path: one YAML file, or a directory whose *.yaml and *.yml
// files (not recursive, sorted by name, hidden entries skipped, symlinks followed) are
// merged. On failure the error is an Errors value listing every problem found.
func Load(path string, opts ...Option) (*Model, error) {
	files, err := ReadFiles(path)
	if err != nil {
		return nil, err
	}
	return LoadFiles(files, opts...)
}

// ReadFiles returns the model files Load would read at path, in load order.
func ReadFiles(path string) ([]File, error) {
	fail := func(msg string) ([]File, error) {
		return nil, Errors{{Pos: Pos{File: path}, Msg: msg}}
	}
	st, err := os.Stat(path)
	if err != nil {
		return fail("cannot read model: " + fileErrText(err))
	}
	if !st.IsDir() {
		data, err := readModelFile(path)
		if err != nil {
			return fail(err.Error())
		}
		return []File{{Name: path, Data: data}}, nil
	}
	entries, err := os.ReadDir(path)
	if err != nil {
		return fail("cannot read model directory: " + fileErrText(err))
	}
	var files []File
	var errs errList
	for _, e := range entries { // ReadDir sorts by name
		name := e.Name()
		if strings.HasPrefix(name, ".") { // hidden files, and ConfigMap's ..data and ..<timestamp>
			continue
		}
		if ext := strings.ToLower(filepath.Ext(name)); ext != ".yaml" && ext != ".yml" {
			continue
		}
		full := filepath.Join(path, name)
		fst, err := os.Stat(full) // follows symlinks: ConfigMap files are symlinks
		if err != nil {
			errs.add(Pos{File: full}, "", "cannot read model file: "+fileErrText(err))
			continue
		}
		if !fst.Mode().IsRegular() {
			continue
		}
		data, err := readModelFile(full)
		if err != nil {
			errs.add(Pos{File: full}, "", err.Error())
			continue
		}
		files = append(files, File{Name: full, Data: data})
	}
	if err := errs.result(); err != nil {
		return nil, err
	}
	if len(files) == 0 {
		// Likely a wrong path or a directory emptied mid-edit: serving an empty model
		// would drop every route, so refuse it.
		return fail("no *.yaml or *.yml model files in this directory")
	}
	return files, nil
}

func readModelFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("cannot read model file: %s", fileErrText(err))
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("cannot read model file: %s", fileErrText(err))
	}
	if len(data) > MaxFileSize {
		return nil, fmt.Errorf("model file is larger than %d MiB", MaxFileSize>>20)
	}
	return data, nil
}

// LoadBytes loads a model from one file's content; file names it in errors and is
// the base for relative ${file:...} references.
func LoadBytes(file string, data []byte, opts ...Option) (*Model, error) {
	return LoadFiles([]File{{Name: file, Data: data}}, opts...)
}

// LoadFiles merges, validates and defaults the model in files, in their order.
// Names are unique across all files. Every problem of every file is reported together.
func LoadFiles(files []File, opts ...Option) (*Model, error) {
	o := options{lookupEnv: os.LookupEnv, readFile: os.ReadFile}
	for _, opt := range opts {
		opt(&o)
	}
	var errs errList
	l := &loader{errs: &errs, locs: map[any]loc{}}
	m := &Model{}
	for _, f := range files {
		res := &secretResolver{lookupEnv: o.lookupEnv, readFile: o.readFile, dir: filepath.Dir(f.Name)}
		l.parseFile(m, f, res)
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
	for {
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
	d := newDecoder(file, l.errs, res)
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
