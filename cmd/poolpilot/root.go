package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"github.com/spf13/viper"
)

// envPrefix is the prefix of every environment variable poolpilot reads.
const envPrefix = "POOLPILOT"

// Exit codes.
const (
	exitOK    = 0
	exitError = 1 // the command failed, e.g. an invalid model
	exitUsage = 2 // bad flags or arguments
)

// app is one invocation's state. Nothing is global, so tests can run commands in-process.
type app struct {
	v      *viper.Viper
	stdout io.Writer
	stderr io.Writer
	log    *slog.Logger
}

// usageError marks errors in the command line itself.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

// reportedError is an error already printed in full by the command; run only sets the
// exit code.
type reportedError struct{ code int }

func (e reportedError) Error() string { return fmt.Sprintf("exit %d", e.code) }

// run executes the command line args and returns the process exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	a := &app{v: viper.New(), stdout: stdout, stderr: stderr}
	a.log = slog.New(slog.NewTextHandler(stderr, nil))
	root := a.rootCmd()
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return exitOK
	}
	var rep reportedError
	if errors.As(err, &rep) {
		return rep.code
	}
	fmt.Fprintf(stderr, "poolpilot: %v\n", err)
	var use usageError
	// cobra reports an unknown subcommand only as text.
	if errors.As(err, &use) || strings.HasPrefix(err.Error(), "unknown command ") {
		fmt.Fprintf(stderr, "run 'poolpilot --help' for usage\n")
		return exitUsage
	}
	return exitError
}

func (a *app) rootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:   "poolpilot",
		Short: "Envoy xDS control plane for APIM-style load-balanced pools, circuit breakers and retries",
		Long: `poolpilot translates model files (backends, load-balanced pools, circuit breakers,
retry policies) into Envoy clusters, routes and listeners, and serves them over ADS
with priorities ordered per region.

Every flag can also be set as POOLPILOT_<FLAG> (dashes become underscores, e.g.
POOLPILOT_XDS_ADDRESS) or as a key of the YAML file given with --config.
Precedence: flag > environment > config file > default.`,
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			return a.configure(cmd)
		},
	}
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	pf := root.PersistentFlags()
	pf.String("config", "", "optional YAML config file whose keys are flag names (e.g. xds-address: 0.0.0.0:18000)")
	pf.String("log-level", "info", "log level: debug, info, warn, error")
	pf.String("log-format", "text", "log format: text or json")

	root.AddCommand(a.serveCmd(), a.validateCmd(), a.renderCmd(), a.diffCmd(), a.schemaCmd(), a.bootstrapCmd(), a.importCmd(), a.breakerCmd())
	return root
}

// configure binds the running command's flags, the environment and the config file into
// a.v, then sets up the logger.
func (a *app) configure(cmd *cobra.Command) error {
	v := a.v
	if err := v.BindPFlags(cmd.Flags()); err != nil {
		return err
	}
	v.SetEnvPrefix(envPrefix)
	v.SetEnvKeyReplacer(strings.NewReplacer("-", "_"))
	v.AutomaticEnv()

	// --config itself may come from POOLPILOT_CONFIG, but not from the config file.
	if path := v.GetString("config"); path != "" {
		v.SetConfigFile(path)
		v.SetConfigType("yaml")
		if err := v.ReadInConfig(); err != nil {
			return fmt.Errorf("config file %s: %w", path, err)
		}
		if err := checkConfigKeys(path, v, cmd.Root()); err != nil {
			return err
		}
	}

	log, err := newLogger(a.stderr, v.GetString("log-level"), v.GetString("log-format"))
	if err != nil {
		return usageError{err}
	}
	a.log = log
	return nil
}

// checkConfigKeys rejects config keys that are no flag of any command, so a typo does not
// silently leave a default in place. One file may hold keys for several commands.
func checkConfigKeys(path string, v *viper.Viper, root *cobra.Command) error {
	known := map[string]bool{}
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		c.Flags().VisitAll(func(f *pflag.Flag) { known[f.Name] = true })
		c.PersistentFlags().VisitAll(func(f *pflag.Flag) { known[f.Name] = true })
		for _, s := range c.Commands() {
			// cobra's own completion command reads its flags directly, never the config.
			if s.Name() != "completion" {
				walk(s)
			}
		}
	}
	walk(root)
	delete(known, "config")
	delete(known, "help")

	cfg := viper.New()
	cfg.SetConfigFile(path)
	cfg.SetConfigType("yaml")
	if err := cfg.ReadInConfig(); err != nil {
		return fmt.Errorf("config file %s: %w", path, err)
	}
	var unknown []string
	for _, k := range cfg.AllKeys() {
		if !known[k] {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) == 0 {
		return nil
	}
	allowed := make([]string, 0, len(known))
	for k := range known {
		allowed = append(allowed, k)
	}
	slices.Sort(allowed)
	slices.Sort(unknown)
	return usageError{fmt.Errorf("config file %s: unknown key(s) %s; allowed: %s",
		path, strings.Join(unknown, ", "), strings.Join(allowed, ", "))}
}

// newLogger returns a slog logger writing to w.
func newLogger(w io.Writer, level, format string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level %q: want debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: l}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	default:
		return nil, fmt.Errorf("--log-format %q: want text or json", format)
	}
}
