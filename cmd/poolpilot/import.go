package main

import (
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/poolpilot/poolpilot/importer/apim"
	"github.com/poolpilot/poolpilot/model"
)

func (a *app) importCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "import",
		Short: "Turn configuration from another product into a model",
	}
	cmd.AddCommand(a.importAPIMCmd())
	return cmd
}

func (a *app) importAPIMCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "apim [flags] FILE...",
		Short: "Turn API Management backends, pools and API policies into a model",
		Long: `import apim reads Azure API Management configuration and prints a model:
  - Microsoft.ApiManagement/service/backends as the REST API returns them (one backend,
    or a list {"value": [...]} as az rest prints it), or ARM templates (az bicep build
    output, ARM exports) whose expressions are evaluated offline;
  - API policy XML files: set-backend-service backend-id, rewrite-uri, retry and
    forward-request. Each file is one API, named after the file (resilient-api.xml is
    API resilient-api).
Secrets (APIM named values {{name}}, listKeys(...)) become ${ENV_VAR} references, with a
warning naming each variable to set. Every warning is printed on stderr; the model goes to
stdout or -o FILE. Bad input is an error naming the file and the place, and exit 1.`,
		Example: `  poolpilot import apim backends.json resilient-api.xml \
      --region func-primary-sdc=swedencentral --region func-secondary-nwe=norwayeast \
      --path-prefix resilient-api=/resilient-api/ --prefer-local-region -o model.yaml
  poolpilot import apim main.json --parameters main.parameters.json \
      --region-suffix sdc=swedencentral --region-suffix nwe=norwayeast resilient-api.xml`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return usageError{fmt.Errorf("import apim: want FILE... (backend JSON, ARM templates, policy XML)")}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			opts, out, err := importFlags(cmd)
			if err != nil {
				return usageError{err}
			}
			if p, _ := cmd.Flags().GetString("parameters"); p != "" {
				f, err := readInput(p)
				if err != nil {
					return err
				}
				if opts.Parameters, err = apim.ReadParameters(f); err != nil {
					return err
				}
			}
			var files []apim.File
			for _, path := range args {
				f, err := readInput(path)
				if err != nil {
					return err
				}
				files = append(files, f)
			}
			res, err := apim.Import(files, opts)
			if err != nil {
				return err
			}
			for _, w := range res.Warnings {
				fmt.Fprintf(a.stderr, "warning: %s\n", w)
			}
			if out == "" || out == "-" {
				_, err = a.stdout.Write(res.YAML)
				return err
			}
			if err := os.WriteFile(out, res.YAML, 0o644); err != nil {
				return fmt.Errorf("import apim: %w", err)
			}
			fmt.Fprintf(a.stderr, "wrote %s (%d warnings)\n", out, len(res.Warnings))
			return nil
		},
	}
	f := cmd.Flags()
	f.String("parameters", "", "ARM parameters file for the templates' parameters()")
	f.StringArray("region", nil, "NAME=REGION: the region of backend NAME (repeatable)")
	f.StringArray("region-suffix", nil, "SUFFIX=REGION: backends whose name ends in -SUFFIX are in REGION (repeatable), e.g. sdc=swedencentral")
	f.StringArray("url", nil, "NAME=URL: the URL of backend NAME, for URLs known only at deployment (repeatable)")
	f.StringArray("path-prefix", nil, "API=PATH: the path prefix of an API (default /API/, with a warning) (repeatable)")
	f.Bool("prefer-local-region", false, "set preferLocalRegion on every pool (members in the proxy's own region go first)")
	f.String("listener", "public", "name of the listener that serves the imported APIs")
	f.Int("listener-port", 10000, "port of that listener")
	f.Bool("skip-unknown-types", false, "skip ARM resources of types outside Microsoft.ApiManagement with a warning instead of failing")
	f.StringP("output", "o", "", "write the model to FILE instead of stdout")
	return cmd
}

// importFlags reads the command line only, not the environment or the config file:
// the flags describe one import, and names such as output and region mean other
// things to render and bootstrap (POOLPILOT_OUTPUT=yaml must not name import's file).
func importFlags(cmd *cobra.Command) (apim.Options, string, error) {
	f := cmd.Flags()
	var opts apim.Options
	var err error
	pairs := func(name, want string) map[string]string {
		if err != nil {
			return nil
		}
		vals, _ := f.GetStringArray(name)
		out := map[string]string{}
		for _, v := range vals {
			k, val, ok := strings.Cut(v, "=")
			if !ok || k == "" || val == "" {
				err = fmt.Errorf("import apim: --%s %q: want %s", name, v, want)
				return nil
			}
			if prev, dup := out[k]; dup && prev != val {
				err = fmt.Errorf("import apim: --%s %s is given twice (%s and %s)", name, k, prev, val)
				return nil
			}
			out[k] = val
		}
		return out
	}
	opts.Regions = pairs("region", "NAME=REGION")
	opts.RegionSuffixes = pairs("region-suffix", "SUFFIX=REGION")
	opts.URLs = pairs("url", "NAME=URL")
	opts.PathPrefixes = pairs("path-prefix", "API=PATH")
	if err != nil {
		return opts, "", err
	}
	opts.PreferLocalRegion, _ = f.GetBool("prefer-local-region")
	opts.Listener, _ = f.GetString("listener")
	opts.Port, _ = f.GetInt("listener-port")
	opts.SkipUnknownTypes, _ = f.GetBool("skip-unknown-types")
	if opts.Port < 1 || opts.Port > 65535 {
		return opts, "", fmt.Errorf("import apim: --listener-port %d: want 1–65535", opts.Port)
	}
	out, _ := f.GetString("output")
	return opts, out, nil
}

// readInput reads one input file, bounded like a model file.
func readInput(path string) (apim.File, error) {
	fh, err := os.Open(path)
	if err != nil {
		return apim.File{}, fmt.Errorf("import apim: %w", err)
	}
	defer func() { _ = fh.Close() }()
	data, err := io.ReadAll(io.LimitReader(fh, model.MaxFileSize+1))
	if err != nil {
		return apim.File{}, fmt.Errorf("import apim: %s: %w", path, err)
	}
	if len(data) > model.MaxFileSize {
		return apim.File{}, fmt.Errorf("import apim: %s: larger than %d bytes", path, model.MaxFileSize)
	}
	return apim.File{Name: path, Data: data}, nil
}
