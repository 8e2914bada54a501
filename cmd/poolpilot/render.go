package main

import (
	"encoding/json"
	"fmt"
	"strings"

	types "github.com/envoyproxy/go-control-plane/pkg/cache/types"
	"github.com/spf13/cobra"

	"github.com/poolpilot/poolpilot/model"
	"github.com/poolpilot/poolpilot/translator"
)

// rendered is render's output: a node group's resources by type, in xDS order.
type rendered struct {
	Clusters  []json.RawMessage `json:"clusters"`
	Endpoints []json.RawMessage `json:"endpoints"`
	Routes    []json.RawMessage `json:"routes"`
	Listeners []json.RawMessage `json:"listeners"`
}

func (a *app) renderCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "render PATH (--region R | --no-region)",
		Short: "Print exactly the resources a node group (region × client kind) receives",
		Long: `render translates a model for one node group and prints the clusters, endpoints,
routes and listeners that a node of that group receives, as protojson (or YAML made
from it). Secret values are redacted unless --show-secrets. --no-region renders the group
of nodes that report no region (node.locality.region): the model's own priority order,
with a warning for each pool that prefers the local region. --client envoy-legacy renders
the group of Envoys that report a build older than 1.36.`,
		Example: `  poolpilot render examples/failover --region swedencentral
  poolpilot render examples/failover --region norwayeast --client grpc -o yaml
  poolpilot render examples/failover --no-region
  poolpilot render examples/failover --region swedencentral --client envoy-legacy`,
		Args: exactArgs(1, "PATH (a model file or directory)"),
		RunE: func(cmd *cobra.Command, args []string) error {
			g, format, err := a.renderFlags()
			if err != nil {
				return usageError{err}
			}
			opts, err := a.modelOptions(cmd.Context())
			if err != nil {
				return err
			}
			m, err := model.Load(args[0], opts...)
			if err != nil {
				printModelErrors(a, err)
				return reportedError{exitError}
			}
			if !a.v.GetBool("show-secrets") {
				m = m.Redacted()
			}
			res, err := translator.Translate(m, g)
			if err != nil {
				return fmt.Errorf("translate for %s: %w", g, err)
			}
			for _, w := range res.Warnings {
				a.log.Warn(w, "group", g.Key())
			}
			out, err := renderResources(res, format)
			if err != nil {
				return err
			}
			_, err = a.stdout.Write(out)
			return err
		},
	}
	f := cmd.Flags()
	f.String("region", "", "the node's region (node.locality.region) (required unless --no-region)")
	f.Bool("no-region", false, "render for nodes that report no region (they get the model's own order)")
	f.String("client", string(translator.Envoy), "the node's client kind: "+strings.Join(translator.ClientNames(), ", ")+
		" (envoy-legacy: Envoy older than 1.36, which has no outlier_detection.error_matcher)")
	f.StringP("output", "o", "json", "output format: json or yaml")
	f.Bool("show-secrets", false, "print secret values (credentials headers) instead of redacting them")
	addModelFlags(f)
	return cmd
}

func (a *app) renderFlags() (translator.Group, string, error) {
	client := a.v.GetString("client")
	g, ok := translator.Group{Region: a.v.GetString("region")}.WithClient(client)
	switch noRegion := a.v.GetBool("no-region"); {
	case noRegion && g.Region != "":
		return g, "", fmt.Errorf("render: --region %q and --no-region: give one of them", g.Region)
	case !noRegion && g.Region == "":
		return g, "", fmt.Errorf("render: --region is required (the node group's region), or --no-region for nodes that report none")
	}
	if !ok {
		return g, "", fmt.Errorf("render: --client %q: want %s", client, strings.Join(translator.ClientNames(), ", "))
	}
	format := a.v.GetString("output")
	if format != "json" && format != "yaml" {
		return g, "", fmt.Errorf("render: -o %q: want json or yaml", format)
	}
	return g, format, nil
}

// renderResources prints res grouped by type, as indented JSON or as YAML.
func renderResources(res *translator.Resources, format string) ([]byte, error) {
	var r rendered
	for _, part := range []struct {
		dst *[]json.RawMessage
		src []types.Resource
	}{
		{&r.Clusters, res.Clusters}, {&r.Endpoints, res.Endpoints},
		{&r.Routes, res.Routes}, {&r.Listeners, res.Listeners},
	} {
		*part.dst = make([]json.RawMessage, 0, len(part.src))
		// translator.Translate has already run envoy.Validate on every resource.
		for _, m := range part.src {
			j, err := marshalJSON(m)
			if err != nil {
				return nil, err
			}
			*part.dst = append(*part.dst, j)
		}
	}
	j, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return nil, err
	}
	if format == "yaml" {
		return jsonToYAML(j)
	}
	return append(j, '\n'), nil
}
