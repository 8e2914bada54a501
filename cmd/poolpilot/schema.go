package main

import (
	"github.com/spf13/cobra"

	"github.com/poolpilot/poolpilot/docs"
)

func (a *app) schemaCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "schema",
		Short: "Print the JSON Schema of model files (docs/model.schema.json)",
		Long: `schema prints the JSON Schema of model files, for editors and other tools. Editors with
the YAML language server read it from a model file's first line:

  # yaml-language-server: $schema=<path or URL of model.schema.json>`,
		Example: "  poolpilot schema > model.schema.json",
		Args:    exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, err := a.stdout.Write(docs.ModelSchema)
			return err
		},
	}
}
