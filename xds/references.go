package xds

import (
	"fmt"
	"sort"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	aggregatev3 "github.com/envoyproxy/go-control-plane/envoy/extensions/clusters/aggregate/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	types "github.com/envoyproxy/go-control-plane/pkg/cache/types"
	cache "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"

	"github.com/poolpilot/poolpilot/translator"
)

// checkSnapshot rejects resources the cache would silently mangle (checkNames) and is
// the snapshot consistency check poolpilot relies on instead of
// cache.Snapshot.Consistent, which does not follow RDS from API listeners (gRPC nodes).
// A dangling name makes a client wait forever for a resource that never comes (EDS, RDS)
// or fail requests (a route to no cluster), so it fails the Apply instead.
func checkSnapshot(res *translator.Resources) error {
	clusters, err := checkNames(resourcev3.ClusterType, res.Clusters)
	if err != nil {
		return err
	}
	loads, err := checkNames(resourcev3.EndpointType, res.Endpoints)
	if err != nil {
		return err
	}
	routes, err := checkNames(resourcev3.RouteType, res.Routes)
	if err != nil {
		return err
	}
	if _, err := checkNames(resourcev3.ListenerType, res.Listeners); err != nil {
		return err
	}
	var problems []string

	for _, r := range res.Clusters {
		c, ok := r.(*clusterv3.Cluster)
		if !ok {
			return fmt.Errorf("cluster resource is a %T", r)
		}
		if c.GetType() == clusterv3.Cluster_EDS {
			want := c.GetEdsClusterConfig().GetServiceName()
			if want == "" {
				want = c.GetName()
			}
			if !loads[want] {
				problems = append(problems, fmt.Sprintf("EDS cluster %q has no load assignment %q", c.GetName(), want))
			}
		}
		if ct := c.GetClusterType(); ct != nil {
			agg := &aggregatev3.ClusterConfig{}
			if err := ct.GetTypedConfig().UnmarshalTo(agg); err == nil {
				for _, child := range agg.GetClusters() {
					if !clusters[child] {
						problems = append(problems, fmt.Sprintf("aggregate cluster %q names missing cluster %q", c.GetName(), child))
					}
				}
			}
		}
	}
	for _, r := range res.Endpoints {
		cla, ok := r.(*endpointv3.ClusterLoadAssignment)
		if !ok {
			return fmt.Errorf("endpoint resource is a %T", r)
		}
		if !clusters[cla.GetClusterName()] {
			problems = append(problems, fmt.Sprintf("load assignment %q belongs to no cluster", cla.GetClusterName()))
		}
	}
	for _, r := range res.Routes {
		rc, ok := r.(*routev3.RouteConfiguration)
		if !ok {
			return fmt.Errorf("route resource is a %T", r)
		}
		for _, vh := range rc.GetVirtualHosts() {
			for _, rt := range vh.GetRoutes() {
				for _, target := range routeClusters(rt.GetRoute()) {
					if !clusters[target] {
						problems = append(problems, fmt.Sprintf("route %q in route config %q names missing cluster %q", rt.GetName(), rc.GetName(), target))
					}
				}
			}
		}
	}
	for _, r := range res.Listeners {
		l, ok := r.(*listenerv3.Listener)
		if !ok {
			return fmt.Errorf("listener resource is a %T", r)
		}
		for _, m := range listenerManagers(l) {
			if name := m.GetRds().GetRouteConfigName(); m.GetRds() != nil && !routes[name] {
				problems = append(problems, fmt.Sprintf("listener %q names missing route config %q", l.GetName(), name))
			}
		}
	}
	if len(problems) > 0 {
		sort.Strings(problems)
		return fmt.Errorf("inconsistent resources: %v", problems)
	}
	return nil
}

// checkNames returns the names of one type's resources. It rejects a nil resource, a
// resource without a name, and two with the same name (the cache keeps only one).
func checkNames(typeURL string, items []types.Resource) (map[string]bool, error) {
	seen := make(map[string]bool, len(items))
	for i, r := range items {
		if r == nil {
			return nil, fmt.Errorf("%s: resource %d is nil", typeURL, i)
		}
		name := cache.GetResourceName(r)
		if name == "" {
			return nil, fmt.Errorf("%s: resource %d has no name", typeURL, i)
		}
		if seen[name] {
			return nil, fmt.Errorf("%s: duplicate resource name %q", typeURL, name)
		}
		seen[name] = true
	}
	return seen, nil
}

func routeClusters(a *routev3.RouteAction) []string {
	if a == nil {
		return nil
	}
	if c := a.GetCluster(); c != "" {
		return []string{c}
	}
	var out []string
	for _, w := range a.GetWeightedClusters().GetClusters() {
		out = append(out, w.GetName())
	}
	return out
}

// listenerManagers returns the HTTP connection managers of a listener: the API listener's
// (gRPC nodes) and those in every filter chain (Envoy nodes).
func listenerManagers(l *listenerv3.Listener) []*hcmv3.HttpConnectionManager {
	var out []*hcmv3.HttpConnectionManager
	if api := l.GetApiListener().GetApiListener(); api != nil {
		m := &hcmv3.HttpConnectionManager{}
		if err := api.UnmarshalTo(m); err == nil {
			out = append(out, m)
		}
	}
	for _, fc := range l.GetFilterChains() {
		for _, f := range fc.GetFilters() {
			m := &hcmv3.HttpConnectionManager{}
			if tc := f.GetTypedConfig(); tc != nil && tc.UnmarshalTo(m) == nil {
				out = append(out, m)
			}
		}
	}
	return out
}
