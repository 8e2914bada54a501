package translator

import (
	"fmt"
	"sort"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	types "github.com/envoyproxy/go-control-plane/pkg/cache/types"
	"google.golang.org/protobuf/proto"

	"github.com/poolpilot/poolpilot/envoy"
	"github.com/poolpilot/poolpilot/model"
)

// Translate returns the resources every node of group g receives for model m. The
// output is deterministic: the same model and group give equal resources, each type
// sorted by name. Every resource passes envoy.Validate, and for Envoy groups envoy.Check
// (what Envoy refuses or ignores beyond the generated validation). m must come from
// model.Load.
func Translate(m *model.Model, g Group) (*Resources, error) {
	return TranslateWith(m, g, nil)
}

// TranslateWith is Translate with the fleet breaker's state for g: the backends in
// tripped are out of rotation for g's nodes.
func TranslateWith(m *model.Model, g Group, tripped Tripped) (*Resources, error) {
	res, err := TranslateUnvalidatedWith(m, g, tripped)
	if err != nil {
		return nil, err
	}
	for _, rs := range [][]types.Resource{res.Clusters, res.Endpoints, res.Routes, res.Listeners} {
		for _, r := range rs {
			if err := Validate(r); err != nil {
				return nil, fmt.Errorf("translate %s: %w", g, err)
			}
			if g.Client != Envoy {
				continue
			}
			if err := CheckEnvoy(r); err != nil {
				return nil, fmt.Errorf("translate %s: %w", g, err)
			}
		}
	}
	return res, nil
}

// CheckEnvoy runs envoy.Check on a resource for Envoy nodes, naming it in the error. gRPC
// groups are not checked: gRPC implements fields Envoy does not (lrs_server).
func CheckEnvoy(r types.Resource) error {
	if err := envoy.Check(r); err != nil {
		return fmt.Errorf("%s %q would be refused or ignored by Envoy: %w", kindOf(r), nameOf(r), err)
	}
	return nil
}

// Validate checks one emitted resource with envoy.Validate, naming it in the error.
func Validate(r types.Resource) error {
	if err := envoy.Validate(r); err != nil {
		return fmt.Errorf("%s %q is invalid: %w", kindOf(r), nameOf(r), err)
	}
	return nil
}

// TranslateUnvalidatedWith is TranslateWith without the final Validate and CheckEnvoy of
// each resource, for callers that check each distinct resource once (xds: most resources
// are equal across node groups and across reloads, and validation was two thirds of a
// translation).
func TranslateUnvalidatedWith(m *model.Model, g Group, tripped Tripped) (*Resources, error) {
	if m == nil {
		return nil, fmt.Errorf("translate %s: no model", g)
	}
	if !g.Client.Valid() {
		return nil, fmt.Errorf("translate %s: unknown client kind %q (want %s)", g, g.Client, model.OneOf(ClientKinds))
	}
	tr := &translation{
		m: m, ix: model.NewIndex(m), g: g, tripped: tripped, res: &Resources{Members: map[string][]string{}},
		targets: map[string]bool{}, leaves: map[string]bool{}, levelSize: map[string]int{},
		clusters: map[string]*clusterv3.Cluster{}, warned: map[string]bool{},
	}
	var err error
	switch g.Client {
	case Envoy:
		err = tr.envoyListeners()
	case GRPC:
		err = tr.grpcAPIs()
	default: // a kind added to ClientKinds without its translation (TestClientKindsHandled)
		err = fmt.Errorf("client kind %q has no translation", g.Client)
	}
	if err != nil {
		return nil, fmt.Errorf("translate %s: %w", g, err)
	}
	for _, rs := range [][]types.Resource{tr.res.Clusters, tr.res.Endpoints, tr.res.Routes, tr.res.Listeners} {
		sortByName(rs)
	}
	return tr.res, nil
}

// translation is the state of one Translate call.
type translation struct {
	m   *model.Model
	ix  *model.Index
	g   Group
	res *Resources
	// tripped are the backends the fleet breaker took out for g; nil when none.
	tripped Tripped

	targets   map[string]bool // API targets already emitted
	levelSize map[string]int  // API target → members in its largest priority level
	leaves    map[string]bool // gRPC per-backend clusters already emitted
	clusters  map[string]*clusterv3.Cluster
	warned    map[string]bool
}

// warn records each distinct warning once, in the order first seen.
func (tr *translation) warn(ws ...string) {
	for _, w := range ws {
		if !tr.warned[w] {
			tr.warned[w] = true
			tr.res.Warnings = append(tr.res.Warnings, w)
		}
	}
}

type named interface{ GetName() string }

func nameOf(r types.Resource) string {
	if n, ok := r.(named); ok {
		return n.GetName()
	}
	if c, ok := r.(interface{ GetClusterName() string }); ok {
		return c.GetClusterName()
	}
	return ""
}

func kindOf(r types.Resource) string {
	return string(proto.MessageName(r).Name())
}

func sortByName(rs []types.Resource) {
	sort.SliceStable(rs, func(i, j int) bool { return nameOf(rs[i]) < nameOf(rs[j]) })
}

func equalProto(a, b proto.Message) bool { return proto.Equal(a, b) }
