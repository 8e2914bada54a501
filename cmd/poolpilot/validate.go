package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/poolpilot/poolpilot/model"
)

func (a *app) validateCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "validate PATH",
		Short: "Check a model file or directory; print every error with its file:line",
		Long: `validate loads a model (one file, or a directory whose *.yaml files are merged) the
way serve does: strict decoding, references, limits, durations and secret references.
It exits 0 with a one-line summary, or 1 with every error on stderr, one per line
(past 100 errors, the first 100 and a count of the rest). It takes the flags serve takes
for what a model may read (--allow-env, --secrets-dir), so it says what serve will say.`,
		Example: "  poolpilot validate examples/failover",
		Args:    exactArgs(1, "PATH (a model file or directory)"),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts, err := a.modelOptions(cmd.Context())
			if err != nil {
				return err
			}
			m, err := model.Load(args[0], opts...)
			if err != nil {
				printModelErrors(a, err)
				return reportedError{exitError}
			}
			fmt.Fprintf(a.stdout, "ok: %s\n", summary(m))
			return nil
		},
	}
	addModelFlags(cmd.Flags())
	return cmd
}

// printModelErrors writes every problem of a failed load to stderr, one per line.
func printModelErrors(a *app, err error) {
	es, _ := model.AsErrors(err)
	for _, e := range es {
		fmt.Fprintln(a.stderr, e.Error())
	}
	if len(es) > model.MaxErrors {
		// The loader kept MaxErrors and ended the list with a line counting the rest.
		fmt.Fprintf(a.stderr, "invalid: more than %d errors\n", model.MaxErrors)
		return
	}
	fmt.Fprintf(a.stderr, "invalid: %s\n", count(len(es), "error"))
}

// summary counts what a model holds, e.g. "2 backends, 1 pool, 1 api, 1 listener".
func summary(m *model.Model) string {
	return strings.Join([]string{
		count(len(m.Backends), "backend"),
		count(len(m.Pools), "pool"),
		count(len(m.APIs), "api"),
		count(len(m.Listeners), "listener"),
	}, ", ")
}

func count(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// exactArgs is cobra.ExactArgs with a message that says what the argument is.
func exactArgs(n int, what string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) != n {
			return usageError{fmt.Errorf("%s: want %s, got %d argument(s)", cmd.Name(), what, len(args))}
		}
		return nil
	}
}
