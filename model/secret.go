package model

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"strings"
)

// secretResolver expands the references in a secret: ${VAR}, ${VAR:-default} and
// ${file:/path}. Relative file paths are relative to the model file's directory.
type secretResolver struct {
	lookupEnv func(string) (string, bool)
	readFile  func(string) ([]byte, error)
	dir       string
}

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
		b, err := r.readFile(full)
		if err != nil {
			return "", "", false, fmt.Errorf("cannot read secret file %s: %s", full, fileErrText(err))
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
