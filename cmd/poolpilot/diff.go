package main

import (
	"cmp"
	"fmt"
	"io"
	"slices"
	"strings"

	udiff "github.com/aymanbagabas/go-udiff"
	types "github.com/envoyproxy/go-control-plane/pkg/cache/types"
	cache "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	"github.com/spf13/cobra"
	"google.golang.org/protobuf/proto"

	"github.com/poolpilot/poolpilot/model"
	"github.com/poolpilot/poolpilot/translator"
)

// Exit codes of diff, as diff(1) has them.
const (
	diffSame    = 0
	diffChanged = 1
	diffTrouble = 2
)

func (a *app) diffCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "diff OLD NEW",
		Short: "Show what a model edit changes for each node group: priority orders and resources",
		Long: `diff loads two models (files or directories, as validate does) and translates both for
every node group that serve builds: each region of either model and nodes without a
region, for Envoy and for gRPC clients. For each region it prints the priority order of
every pool whose order changes, before (-) and after (+); for each node group, the
resources added, removed and changed, by type and name. -v adds a line diff of each
changed resource as render -o yaml prints it. Secret values are redacted; a changed
secret is reported as such.

Exit status, as diff(1): 0 no change, 1 changes, 2 trouble (an invalid model, whose
errors are printed with file:line as validate prints them, or a bad command line).`,
		Example: `  cp examples/failover/model.yaml /tmp/before.yaml
  $EDITOR examples/failover/model.yaml
  poolpilot diff /tmp/before.yaml examples/failover/model.yaml
  poolpilot diff -v old-model/ new-model/`,
		Args: exactArgs(2, "OLD and NEW (model files or directories)"),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts, err := a.modelOptions(cmd.Context())
			if err != nil {
				return err
			}
			code, err := a.diff(args[0], args[1], a.v.GetBool("verbose"), opts)
			if err != nil {
				fmt.Fprintf(a.stderr, "poolpilot diff: %v\n", err)
			}
			if code == diffSame {
				return nil
			}
			return reportedError{code}
		},
	}
	cmd.Flags().BoolP("verbose", "v", false, "print a line diff of each changed resource (as render -o yaml prints it)")
	addModelFlags(cmd.Flags())
	return cmd
}

// diffSide is one loaded model: as loaded, for comparing, and redacted, for printing.
type diffSide struct {
	m, shown *model.Model
	ix       *model.Index
}

// diff compares the models at oldPath and newPath and writes the report to a.stdout.
func (a *app) diff(oldPath, newPath string, verbose bool, opts []model.Option) (int, error) {
	var sides [2]diffSide
	bad := false
	for i, p := range []string{oldPath, newPath} {
		m, err := model.Load(p, opts...)
		if err != nil {
			printModelErrors(a, err)
			bad = true
			continue
		}
		sides[i] = diffSide{m: m, shown: m.Redacted(), ix: model.NewIndex(m)}
	}
	if bad {
		return diffTrouble, nil
	}
	old, cur := sides[0], sides[1]

	groups := map[string]translator.Group{}
	for _, s := range sides {
		for _, g := range translator.BaseGroups(s.m) {
			groups[g.Key()] = g
		}
	}
	// Regions in name order, nodes without a region first, as serve's status page lists them.
	var regions []string
	for _, g := range groups {
		if !slices.Contains(regions, g.Region) {
			regions = append(regions, g.Region)
		}
	}
	slices.Sort(regions)

	w := a.stdout
	changedGroups, unchanged := 0, []string{}
	for _, region := range regions {
		orders := poolOrderChanges(old, cur, region)
		var parts []string
		for _, client := range translator.ClientKinds {
			g, ok := groups[translator.Group{Region: region, Client: client}.Key()]
			if !ok {
				continue
			}
			changes, err := resourceChanges(old, cur, g, verbose)
			if err != nil {
				return diffTrouble, err
			}
			if changes != "" {
				changedGroups++
				parts = append(parts, "  "+g.Key()+"\n"+changes)
			}
		}
		if orders == "" && len(parts) == 0 {
			unchanged = append(unchanged, regionName(region))
			continue
		}
		fmt.Fprintf(w, "region %s\n%s%s", regionName(region), orders, strings.Join(parts, ""))
	}
	if changedGroups == 0 {
		fmt.Fprintf(w, "no change: all %s receive the same resources\n", count(len(groups), "node group"))
		return diffSame, nil
	}
	fmt.Fprintf(w, "%d of %s change", changedGroups, count(len(groups), "node group"))
	if len(unchanged) > 0 {
		fmt.Fprintf(w, "; unchanged regions: %s", strings.Join(unchanged, ", "))
	}
	fmt.Fprintln(w)
	return diffChanged, nil
}

func regionName(r string) string { return cmp.Or(r, "(no region)") }

// poolOrderChanges lists each pool whose priority order differs for region, with the
// old order (-) and the new (+), in the format of serve's status page.
func poolOrderChanges(old, cur diffSide, region string) string {
	g := translator.Group{Region: region, Client: translator.Envoy}
	var names []string
	for _, s := range []diffSide{cur, old} {
		for _, p := range s.m.Pools {
			if !slices.Contains(names, p.Name) {
				names = append(names, p.Name)
			}
		}
	}
	var b strings.Builder
	for _, name := range names {
		before, after := poolOrder(old, name, g), poolOrder(cur, name, g)
		if before == after {
			continue
		}
		fmt.Fprintf(&b, "  pool %s\n    - %s\n    + %s\n", name, before, after)
	}
	return b.String()
}

// poolOrder is "0: a, b → 1: c", or "(no such pool)".
func poolOrder(s diffSide, name string, g translator.Group) string {
	p := s.ix.Pool(name)
	if p == nil {
		return "(no such pool)"
	}
	levels := translator.PoolOrder(s.ix, p, g)
	parts := make([]string, len(levels))
	for i, l := range levels {
		parts[i] = fmt.Sprintf("%d: %s", i, strings.Join(l, ", "))
	}
	return strings.Join(parts, " → ")
}

// translated is one side's resources for a group: as built, and, when the resources are
// printed (verbose), built from the redacted model.
type translated struct {
	res, shown *translator.Resources
}

func translate(s diffSide, g translator.Group, verbose bool) (translated, error) {
	res, err := translator.Translate(s.m, g)
	if err != nil || !verbose {
		return translated{res: res}, err
	}
	shown, err := translator.Translate(s.shown, g)
	if err != nil {
		return translated{}, err
	}
	return translated{res, shown}, nil
}

// resourceChanges lists the resources of group g that the edit adds, removes or changes,
// by type (xDS order) and name, each with its line diff when verbose.
func resourceChanges(old, cur diffSide, g translator.Group, verbose bool) (string, error) {
	before, err := translate(old, g, verbose)
	if err != nil {
		return "", fmt.Errorf("old model: %w", err)
	}
	after, err := translate(cur, g, verbose)
	if err != nil {
		return "", fmt.Errorf("new model: %w", err)
	}
	var b strings.Builder
	for _, kind := range []struct {
		name string
		pick func(*translator.Resources) []types.Resource
	}{
		{"Cluster", func(r *translator.Resources) []types.Resource { return r.Clusters }},
		{"ClusterLoadAssignment", func(r *translator.Resources) []types.Resource { return r.Endpoints }},
		{"RouteConfiguration", func(r *translator.Resources) []types.Resource { return r.Routes }},
		{"Listener", func(r *translator.Resources) []types.Resource { return r.Listeners }},
	} {
		oldRes, newRes := byName(kind.pick(before.res)), byName(kind.pick(after.res))
		var oldShown, newShown map[string]types.Resource
		if verbose {
			oldShown, newShown = byName(kind.pick(before.shown)), byName(kind.pick(after.shown))
		}
		var names []string
		for n := range oldRes {
			names = append(names, n)
		}
		for n := range newRes {
			if _, ok := oldRes[n]; !ok {
				names = append(names, n)
			}
		}
		slices.Sort(names)
		for _, n := range names {
			o, inOld := oldRes[n]
			c, inNew := newRes[n]
			var op string
			switch {
			case !inOld:
				op = "added"
			case !inNew:
				op = "removed"
			case !proto.Equal(o, c):
				op = "changed"
			default:
				continue
			}
			fmt.Fprintf(&b, "    %-7s %s %s\n", op, kind.name, n)
			if !verbose {
				continue
			}
			if err := lineDiff(&b, kind.name, n, oldShown[n], newShown[n]); err != nil {
				return "", err
			}
		}
	}
	return b.String(), nil
}

func byName(rs []types.Resource) map[string]types.Resource {
	out := make(map[string]types.Resource, len(rs))
	for _, r := range rs {
		out[cache.GetResourceName(r)] = r
	}
	return out
}

// lineDiff writes the unified diff of a resource as render -o yaml prints it (redacted);
// a nil side is an absent resource. Equal texts mean only a secret value changed.
func lineDiff(w io.Writer, kind, name string, o, c types.Resource) error {
	texts := [2]string{}
	for i, r := range []types.Resource{o, c} {
		if r == nil {
			continue
		}
		j, err := marshalJSON(r)
		if err != nil {
			return err
		}
		y, err := jsonToYAML(j)
		if err != nil {
			return err
		}
		texts[i] = string(y)
	}
	if texts[0] == texts[1] {
		fmt.Fprintf(w, "      (a secret value changed; secret values are redacted)\n")
		return nil
	}
	label := kind + " " + name
	d := udiff.Unified("old "+label, "new "+label, texts[0], texts[1])
	for _, line := range strings.SplitAfter(strings.TrimSuffix(d, "\n"), "\n") {
		fmt.Fprintf(w, "      %s", line)
	}
	fmt.Fprintln(w)
	return nil
}
