package main

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/pflag"

	"github.com/poolpilot/poolpilot/model"
)

// addModelFlags adds what a model may read to a command that loads one (serve,
// validate, render), so that validate says exactly what serve will say.
func addModelFlags(f *pflag.FlagSet) {
	f.StringSlice("allow-env", nil, "environment variables a model may read as ${VAR}: names and prefixes ending in *, "+
		"comma-separated (e.g. FUNC_*,MY_KEY; * allows all). Default none: another variable is an error when set, "+
		"and gives way to its ${VAR:-default} when unset")
	f.String("secrets-dir", "", fmt.Sprintf("the only directory ${file:...} references may read (symlinks resolved, .. refused; "+
		"regular files of at most %d KiB). Default none: a model reads no file", model.MaxSecretFileSize>>10))
}

// modelOptions turns --allow-env and --secrets-dir into load options; ctx abandons a
// load in progress when it ends. Errors are usage errors.
func (a *app) modelOptions(ctx context.Context) ([]model.Option, error) {
	var allow []string
	// From the environment or a config file the list may be one comma- or space-separated
	// string; from flags, one entry per --allow-env, each possibly comma-separated.
	for _, s := range a.v.GetStringSlice("allow-env") {
		allow = append(allow, strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' })...)
	}
	if err := model.CheckAllowEnv(allow); err != nil {
		return nil, usageError{fmt.Errorf("--allow-env: %w", err)}
	}
	opts := []model.Option{model.WithAllowEnv(allow...)}
	if dir := a.v.GetString("secrets-dir"); dir != "" {
		st, err := os.Stat(dir)
		if err != nil {
			return nil, usageError{fmt.Errorf("--secrets-dir %s: %w", dir, err)}
		}
		if !st.IsDir() {
			return nil, usageError{fmt.Errorf("--secrets-dir %s: not a directory", dir)}
		}
		opts = append(opts, model.WithSecretsDir(dir))
	}
	if ctx != nil {
		opts = append(opts, model.WithContext(ctx))
	}
	return opts, nil
}
