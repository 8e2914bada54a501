package model

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
)

// MaxSecretFileSize is the largest file a ${file:...} reference reads.
const MaxSecretFileSize = 64 << 10

// secretResolver expands the references in a secret: ${VAR}, ${VAR:-default} and
// ${file:/path}. Relative file paths are relative to the model file's directory.
type secretResolver struct {
	ctx       context.Context // nil: never abandoned
	lookupEnv func(string) (string, bool)
	readFile  func(string) ([]byte, error)
	dir       string
	// env says which variables the model may read; allEnv lets it read any.
	env    envAllowList
	allEnv bool
	// files is the secrets directory policy; a zero value lets readFile read any path.
	files *secretsDir
	// load is shared by the resolvers of one load (nil: made on first use).
	load *secretLoad
}

// maxSecretBytes bounds the secret values one load builds, all together. Aliases can
// repeat a reference many times; a value already built is shared, not counted again.
const maxSecretBytes = 16 << 20

var errSecretBudget = fmt.Errorf("the model's secret values add up to more than %s; use fewer or shorter ones", sizeText(maxSecretBytes))

// secretLoad is what the resolvers of one load share: the values already resolved, the
// secret files already read, and the bytes of value built so far.
type secretLoad struct {
	values map[string]resolved // dir + "\x00" + raw text → result
	files  map[string]fileRead // absolute path → content
	bytes  int
}

type resolved struct {
	s   Secret
	err error
}

type fileRead struct {
	data []byte
	err  error
}

func (r *secretResolver) shared() *secretLoad {
	if r.load == nil {
		r.load = &secretLoad{}
	}
	if r.load.values == nil {
		r.load.values, r.load.files = map[string]resolved{}, map[string]fileRead{}
	}
	return r.load
}

// envAllowList is a parsed --allow-env list: exact names and name prefixes ("FUNC_*").
type envAllowList struct {
	names    map[string]bool
	prefixes []string
}

// CheckAllowEnv reports the first malformed entry of an environment allow-list: each
// entry is a variable name (FUNC_KEY), a prefix ending in * (FUNC_*), or * for all.
func CheckAllowEnv(patterns []string) error {
	for _, p := range patterns {
		if p == "*" {
			continue
		}
		name, prefix := strings.CutSuffix(p, "*")
		if prefix && name == "" || !validEnvName(name) && !(prefix && validEnvName(name+"A")) {
			return fmt.Errorf("%q is not a variable name or a prefix ending in * (e.g. FUNC_KEY or FUNC_*)", p)
		}
	}
	return nil
}

func newEnvAllowList(patterns []string) (l envAllowList, all bool) {
	l.names = map[string]bool{}
	for _, p := range patterns {
		switch name, prefix := strings.CutSuffix(p, "*"); {
		case p == "*":
			all = true
		case prefix:
			l.prefixes = append(l.prefixes, name)
		default:
			l.names[p] = true
		}
	}
	return l, all
}

func (l envAllowList) allows(name string) bool {
	return l.names[name] || slices.ContainsFunc(l.prefixes, func(p string) bool { return strings.HasPrefix(name, p) })
}

// secretsDir confines ${file:...} to one directory. path is absolute and clean; real
// is path with its symlinks resolved ("" when the directory cannot be resolved: then
// every read fails and says why).
type secretsDir struct {
	path, real string
	err        error
	// onDisk is set for the real file system: symlinks are resolved before the check,
	// and the read is bounded and never blocks.
	onDisk bool
}

func newSecretsDir(dir string, onDisk bool) *secretsDir {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return &secretsDir{path: dir, err: err, onDisk: onDisk}
	}
	sd := &secretsDir{path: abs, onDisk: onDisk}
	if onDisk {
		sd.real, sd.err = filepath.EvalSymlinks(abs)
	}
	return sd
}

// within reports whether path is dir or below it; both are clean and absolute.
func within(path, dir string) bool {
	if dir == string(filepath.Separator) {
		return true
	}
	return path == dir || strings.HasPrefix(path, dir+string(filepath.Separator))
}

// errSecretsOff is returned for ${file:...} when no secrets directory is configured.
var errSecretsOff = errors.New("is outside the secrets directory: none is configured, so a model may read no file; " +
	"put the file in a directory given with --secrets-dir (POOLPILOT_SECRETS_DIR)")

// MarshalYAML writes the reference, never the value: "${VAR}", or "[redacted]" for a literal.
func (s Secret) MarshalYAML() (any, error) { return s.display(), nil }

// MarshalText writes the reference, never the value (for JSON status output).
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.display()), nil }

func (s Secret) display() string {
	if s.Ref != "" {
		return s.Ref
	}
	return redacted
}

const redacted = "[redacted]"

// resolve expands every reference in raw. A string without "${" is a literal.
// "$${" writes a literal "${". Errors name the variable or file, never a value.
func (r *secretResolver) resolve(raw string) (Secret, error) {
	if !strings.Contains(raw, "${") {
		return NewSecret("", raw), nil
	}
	// The same text in the same directory resolves to the same value within a load:
	// resolve it once, and share the value among every alias of it.
	ld := r.shared()
	key := r.dir + "\x00" + raw
	if res, ok := ld.values[key]; ok {
		return res.s, res.err
	}
	if ld.bytes > maxSecretBytes {
		return Secret{}, errSecretBudget
	}
	s, err := r.resolveNew(raw)
	if err == nil {
		if ld.bytes += len(s.value); ld.bytes > maxSecretBytes {
			s, err = Secret{}, errSecretBudget
		}
	}
	ld.values[key] = resolved{s, err}
	return s, err
}

func (r *secretResolver) resolveNew(raw string) (Secret, error) {
	var val, ref strings.Builder
	defaulted := false
	rest := raw
	for rest != "" {
		i := strings.Index(rest, "$")
		if i < 0 {
			val.WriteString(rest)
			ref.WriteString(rest)
			break
		}
		val.WriteString(rest[:i])
		ref.WriteString(rest[:i])
		rest = rest[i:]
		switch {
		case strings.HasPrefix(rest, "$${"):
			val.WriteString("${")
			ref.WriteString("$${")
			rest = rest[3:]
			continue
		case !strings.HasPrefix(rest, "${"):
			val.WriteString("$")
			ref.WriteString("$")
			rest = rest[1:]
			continue
		}
		end := strings.IndexByte(rest, '}')
		if end < 0 {
			return Secret{}, errors.New(`unterminated reference: "${" without "}" (write $${ for a literal ${)`)
		}
		body := rest[2:end]
		rest = rest[end+1:]
		v, shown, usedDefault, err := r.expand(body)
		if err != nil {
			return Secret{}, err
		}
		defaulted = defaulted || usedDefault
		if val.Len()+len(v) > MaxSecretFileSize {
			return Secret{}, fmt.Errorf("the value is longer than %s", sizeText(MaxSecretFileSize))
		}
		val.WriteString(v)
		ref.WriteString(shown)
	}
	s := NewSecret(ref.String(), val.String())
	s.Defaulted = defaulted
	return s, nil
}

// expand resolves one reference body (between "${" and "}"). shown is the reference
// as it may be displayed: a default value is left out, since it is the secret then.
func (r *secretResolver) expand(body string) (value, shown string, usedDefault bool, err error) {
	if path, ok := strings.CutPrefix(body, "file:"); ok {
		if path == "" {
			return "", "", false, errors.New("${file:} needs a path, e.g. ${file:/run/secrets/key}")
		}
		full := path
		if !filepath.IsAbs(full) && r.dir != "" {
			full = filepath.Join(r.dir, full)
		}
		b, err := r.readSecretFileOnce(path, full)
		if err != nil {
			return "", "", false, fmt.Errorf("cannot read secret file %s: %s", full, err)
		}
		// One trailing line end (\n or \r\n) goes, as editors and echo add it; a lone \r
		// stays, and validation rejects it with the value's other line breaks.
		v := string(b)
		if t, ok := strings.CutSuffix(v, "\n"); ok {
			v = strings.TrimSuffix(t, "\r")
		}
		return v, "${file:" + path + "}", false, nil
	}
	name, def, hasDefault := strings.Cut(body, ":-")
	if !validEnvName(name) {
		// Not quoted: what was written may be a secret meant as a literal.
		return "", "", false, errors.New("a reference must be ${ENV_VAR}, ${ENV_VAR:-default} or ${file:/path}; variable names are letters, digits and _, not starting with a digit (write $${ for a literal ${)")
	}
	shown = "${" + name + "}"
	v, ok := r.lookupEnv(name)
	if !r.allEnv && !r.env.allows(name) {
		// Only whether it is set is looked at: a default stands in for an unset variable,
		// but a set one that the model may not read is an error, not a silent default.
		if hasDefault && (!ok || v == "") {
			return def, shown, true, nil
		}
		return "", "", false, fmt.Errorf("environment variable %s may not be read by the model: "+
			"allow it with --allow-env %s (or a prefix such as %s*; POOLPILOT_ALLOW_ENV)", name, name, envPrefixHint(name))
	}
	switch {
	case ok && v != "":
		return v, shown, false, nil
	case hasDefault: // as in the shell, :- also replaces an empty value
		return def, shown, true, nil
	case ok:
		return "", "", false, fmt.Errorf("environment variable %s is empty (write ${%s:-default} for a default)", name, name)
	}
	return "", "", false, fmt.Errorf("environment variable %s is not set (write ${%s:-default} for a default)", name, name)
}

// envPrefixHint suggests a prefix pattern for name: up to and including its first "_".
func envPrefixHint(name string) string {
	if i := strings.IndexByte(name, '_'); i > 0 {
		return name[:i+1]
	}
	return name
}

// readSecretFileOnce is readSecretFile, once per path and load.
func (r *secretResolver) readSecretFileOnce(written, full string) ([]byte, error) {
	ld := r.shared()
	key := written + "\x00" + full
	if f, ok := ld.files[key]; ok {
		return f.data, f.err
	}
	data, err := r.readSecretFile(written, full)
	ld.files[key] = fileRead{data, err}
	return data, err
}

// readSecretFile reads the file a ${file:written} reference names (full: written made
// absolute). With a secrets directory, the path must lie inside it, ".." is refused,
// and on disk symlinks are resolved before the check; the file must be regular and at
// most MaxSecretFileSize, and it is opened non-blocking so that a FIFO cannot hang a load.
// Errors never contain the file's content.
func (r *secretResolver) readSecretFile(written, full string) ([]byte, error) {
	if r.ctx != nil && r.ctx.Err() != nil {
		return nil, fmt.Errorf("loading was abandoned (%v)", r.ctx.Err())
	}
	if slices.Contains(strings.Split(filepath.ToSlash(written), "/"), "..") {
		return nil, errors.New(`".." is not allowed in a secret file path; name the file inside the secrets directory`)
	}
	sd := r.files
	if sd == nil {
		return r.callReadFile(full)
	}
	if sd.path == "" {
		return nil, errSecretsOff
	}
	if sd.err != nil {
		return nil, fmt.Errorf("the secrets directory %s cannot be used: %s", sd.path, fileErrText(sd.err))
	}
	full, err := filepath.Abs(full) // a model loaded by a relative path gives relative ones
	if err != nil || !within(full, sd.path) {
		return nil, fmt.Errorf("is outside the secrets directory %s (--secrets-dir); move the file there", sd.path)
	}
	if !sd.onDisk {
		return r.callReadFile(full)
	}
	real, err := filepath.EvalSymlinks(full)
	if err != nil {
		return nil, errors.New(fileErrText(err))
	}
	if !within(real, sd.real) {
		return nil, fmt.Errorf("is a symlink to a file outside the secrets directory %s (--secrets-dir)", sd.path)
	}
	return readRegularFile(real, MaxSecretFileSize, syscall.O_NOFOLLOW)
}

func (r *secretResolver) callReadFile(full string) ([]byte, error) {
	b, err := r.readFile(full)
	if err != nil {
		return nil, errors.New(fileErrText(err))
	}
	return b, nil
}

// readRegularFile reads path, which must be a regular file of at most max bytes. It
// opens the file non-blocking and checks the open file, not the name, so that a FIFO or
// device never blocks or streams without end, and a swap after a check changes nothing.
func readRegularFile(path string, max int64, flags int) ([]byte, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK|flags, 0)
	if err != nil {
		return nil, errors.New(fileErrText(err))
	}
	defer func() { _ = f.Close() }()
	st, err := f.Stat()
	if err != nil {
		return nil, errors.New(fileErrText(err))
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("is %s, not a regular file", fileKind(st.Mode()))
	}
	if st.Size() > max {
		return nil, fmt.Errorf("is larger than %s", sizeText(max))
	}
	data, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, errors.New(fileErrText(err))
	}
	if int64(len(data)) > max {
		return nil, fmt.Errorf("is larger than %s", sizeText(max))
	}
	return data, nil
}

// fileKind names a non-regular file type for errors.
func fileKind(m fs.FileMode) string {
	switch {
	case m.IsDir():
		return "a directory"
	case m&fs.ModeNamedPipe != 0:
		return "a FIFO (named pipe)"
	case m&fs.ModeSocket != 0:
		return "a socket"
	case m&fs.ModeCharDevice != 0:
		return "a character device"
	case m&fs.ModeDevice != 0:
		return "a device"
	case m&fs.ModeSymlink != 0:
		return "a symlink"
	}
	return "a special file"
}

func sizeText(n int64) string {
	if n >= 1<<20 && n%(1<<20) == 0 {
		return fmt.Sprintf("%d MiB", n>>20)
	}
	return fmt.Sprintf("%d KiB", n>>10)
}

// fileErrText describes a read error without repeating the path.
func fileErrText(err error) string {
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return "no such file"
	case errors.Is(err, fs.ErrPermission):
		return "permission denied"
	}
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}

func validEnvName(s string) bool {
	if s == "" {
		return false
	}
	for i, c := range s {
		switch {
		case c == '_', c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z':
		case c >= '0' && c <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}
