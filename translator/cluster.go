package translator

import (
	"fmt"
	"sort"
	"strings"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"

	"github.com/poolpilot/poolpilot/envoy"
	"github.com/poolpilot/poolpilot/model"
)

const (
	// overprovisioningFactor makes a priority keep all its traffic while any of its hosts
	// is healthy (APIM: a lower group is used only when every backend above is tripped).
	// Envoy's default 140 spills traffic once fewer than 72% are healthy. Consul uses 100000.
	overprovisioningFactor = 100000
	// healthyPanicThreshold 0 never routes to ejected hosts: Envoy's default 50% spreads
	// traffic over every host, ejected or not, once half a priority is ejected, and so
	// would send requests to a tripped backend (APIM never does).
	healthyPanicThreshold = 0
	// lbPolicy is the only policy every gRPC client honours without load_balancing_policy
	// (grpc-js rejects LEAST_REQUEST without it). gRPC checks lb_policy before the cluster
	// type, so aggregate clusters use it too instead of CLUSTER_PROVIDED, which Envoy
	// would require there (Envoy gets STRICT_DNS clusters, never aggregates).
	lbPolicy = clusterv3.Cluster_ROUND_ROBIN
	// upstreamHTTP1 states upstream HTTP/1.1 in HttpProtocolOptions, which needs one
	// protocol choice: backends are HTTP/1.1 services (HTTP/2 would need every backend to
	// speak it, and over TLS to offer h2 in ALPN).
	upstreamHTTP1 = true
	// metadataNamespace holds credential headers in endpoint metadata.
	metadataNamespace = "poolpilot"
	// tlsMatchKey selects a backend's transport socket via envoy.transport_socket_match.
	tlsMatchKey = "backend"
	// retryBudgetPercent lets every active request have a retry in flight: during a
	// regional outage every request retries once. Envoy's default limit is 3 concurrent
	// retries per cluster, which would fail most of them.
	retryBudgetPercent = 100
	retryBudgetMinimum = 10
)

// target is what an API routes to: a pool, or a single backend as a one-member pool.
type target struct {
	name    string
	pool    *model.Pool // nil for a backend
	members []member
}

func (t target) backends() []*model.Backend {
	out := make([]*model.Backend, len(t.members))
	for i, m := range t.members {
		out[i] = m.backend
	}
	return out
}

func (t target) kind() string {
	if t.pool != nil {
		return fmt.Sprintf("pool %q", t.name)
	}
	return fmt.Sprintf("backend %q", t.name)
}

func (t target) allIP() bool {
	for _, m := range t.members {
		if !m.backend.Endpoint.IsIP {
			return false
		}
	}
	return true
}

// addTarget emits the cluster (and endpoints) for the API target named name, once.
func (tr *translation) addTarget(name string) error {
	if tr.targets[name] {
		return nil
	}
	tr.targets[name] = true
	var t target
	switch {
	case tr.ix.Pool(name) != nil:
		p := tr.ix.Pool(name)
		members, warnings := rankMembers(tr.ix, p, tr.g)
		tr.warn(warnings...)
		t = target{name: name, pool: p, members: members}
	case tr.ix.Backend(name) != nil:
		t = backendTarget(tr.ix.Backend(name))
	default:
		return fmt.Errorf("no backend or pool named %q", name)
	}
	if len(t.members) == 0 {
		return fmt.Errorf("%s has no members", t.kind())
	}
	for _, m := range t.members {
		if _, err := schemeTLS(m.backend.Endpoint.Scheme); err != nil {
			return fmt.Errorf("backend %q: %w", m.backend.Name, err)
		}
	}
	tr.levelSize[name] = largestLevel(t.members)
	tr.noteAllTripped(t)
	if tr.g.Client == GRPC {
		return tr.addGRPCTarget(t)
	}
	return tr.addEnvoyTarget(t)
}

// schemeTLS reports whether a backend URL of scheme s is reached over TLS; a scheme
// without a case here is an error, not plaintext (TestSchemesHandled).
func schemeTLS(s model.Scheme) (bool, error) {
	switch s {
	case model.HTTP:
		return false, nil
	case model.HTTPS:
		return true, nil
	}
	return false, fmt.Errorf("url scheme %q has no translation", s)
}

// usesTLS is schemeTLS of b's URL, which addTarget has checked.
func usesTLS(b *model.Backend) bool {
	tls, _ := schemeTLS(b.Endpoint.Scheme)
	return tls
}

func backendTarget(b *model.Backend) target {
	return target{name: b.Name, members: []member{{backend: b, rank: 0, weight: 1}}}
}

// addEnvoyTarget: EDS for IP-only targets; a STRICT_DNS cluster with the same load
// assignment inlined when any member is a DNS name (EDS addresses must be IPs).
func (tr *translation) addEnvoyTarget(t target) error {
	br, warnings, err := breakerOf(t.kind(), t.backends())
	if err != nil {
		return err
	}
	tr.warn(warnings...)
	spec := envoy.ClusterSpec{
		Name:                  t.name,
		LbPolicy:              lbPolicy,
		HealthyPanicThreshold: healthyPanicThreshold,
		LocalityWeighted:      true,
		RetryBudgetPercent:    retryBudgetPercent,
		RetryBudgetMinimum:    retryBudgetMinimum,
		Protocol:              envoy.ProtocolSpec{HTTP1: upstreamHTTP1, Headers: credentialHeaders(t.backends())},
		ConnectTimeout:        connectTimeout(t.backends()),
		// Like the bootstrap's xDS cluster: Envoy's default AUTO asks for IPv6 first, and a
		// container network without IPv6 then fails the names with AAAA records.
		V4Preferred: true,
	}
	if br != nil {
		od, errorStatuses, warnings := envoyOutlier(t.kind(), br, tr.g)
		tr.warn(warnings...)
		spec.Outlier = &od
		spec.Protocol.ErrorStatuses = errorStatuses
	}
	for _, m := range t.members {
		if b := m.backend; usesTLS(b) {
			spec.TLS = append(spec.TLS, envoy.TLSMatch{
				Name: "tls-" + b.Name, Match: map[string]string{tlsMatchKey: b.Name}, SNI: b.Endpoint.Host, CAFile: caFile(b)})
		}
	}
	return tr.addWithEndpoints(spec, t.members, t.allIP(), envoy.StrictDNS)
}

// addWithEndpoints adds spec's cluster with the members' load assignment: as an EDS
// resource when every address is an IP, else inlined in a cluster resolved by dns.
func (tr *translation) addWithEndpoints(spec envoy.ClusterSpec, members []member, allIP bool, dns envoy.Discovery) error {
	localities := tr.localities(members)
	names := make([]string, len(members))
	for i, m := range members {
		names[i] = m.backend.Name
	}
	tr.res.Members[spec.Name] = names
	// gRPC clients report load on their ADS channel for clusters that name lrs_server
	// self; Envoy reports every cluster through the bootstrap's load_stats_config.
	spec.LRSSelf = tr.g.Client == GRPC
	if allIP {
		spec.Discovery = envoy.EDS
		tr.res.Endpoints = append(tr.res.Endpoints, envoy.LoadAssignment(spec.Name, localities, overprovisioningFactor))
	} else {
		spec.Discovery = dns
		spec.Localities, spec.Overprovisioning = localities, overprovisioningFactor
	}
	return tr.addCluster(envoy.Cluster(spec))
}

// addGRPCTarget: EDS for IP-only targets. gRPC has no STRICT_DNS, and grpc-js rejects a
// DNS name in EDS, so a pool with DNS-named members becomes an aggregate cluster over one
// cluster per member (EDS, or LOGICAL_DNS for a DNS name), in rank order.
func (tr *translation) addGRPCTarget(t target) error {
	tr.warnGRPC(t.backends())
	if t.pool == nil {
		return tr.addGRPCLeaf(t.members[0].backend)
	}
	if t.allIP() {
		spec, err := tr.grpcClusterSpec(t)
		if err != nil {
			return err
		}
		return tr.addWithEndpoints(spec, t.members, true, envoy.LogicalDNS)
	}
	children := make([]string, 0, len(t.members))
	var dropped []string
	for i, m := range t.members {
		if i > 0 && m.rank == t.members[i-1].rank {
			tr.warn(fmt.Sprintf(
				"%s: gRPC clients get DNS-named pools as an aggregate cluster, which has no weights: %s and %s share a priority but become consecutive priorities",
				t.kind(), t.members[i-1].backend.Name, m.backend.Name))
		}
		if err := tr.addGRPCLeaf(m.backend); err != nil {
			return err
		}
		if tr.tripped[m.backend.Name] && !m.backend.Endpoint.IsIP {
			// gRPC ignores health_status in a LOGICAL_DNS cluster's load assignment (it
			// reads only the address to resolve): a tripped DNS-named leaf leaves the list.
			dropped = append(dropped, m.backend.Name)
			continue
		}
		children = append(children, m.backend.Name)
	}
	if len(children) == 0 {
		// Every member is a tripped DNS-named leaf, and an aggregate cannot be empty: keep
		// the list, so gRPC clients keep trying the members instead of failing fast.
		tr.warn(fmt.Sprintf("%s: every member is tripped and DNS-named; gRPC clients cannot be told (LOGICAL_DNS carries no health) and keep sending to %s", t.kind(), dropped[0]))
		children = dropped
	}
	return tr.addCluster(envoy.AggregateCluster(t.name, lbPolicy, children))
}

// grpcClusterSpec is a gRPC client's cluster for t, with the outlier detection of its
// members' breaker, before its endpoints.
func (tr *translation) grpcClusterSpec(t target) (envoy.ClusterSpec, error) {
	spec := envoy.ClusterSpec{Name: t.name, LbPolicy: lbPolicy, HealthyPanicThreshold: healthyPanicThreshold, LocalityWeighted: true}
	br, warnings, err := breakerOf(t.kind(), t.backends())
	if err != nil {
		return spec, err
	}
	tr.warn(warnings...)
	if br != nil {
		spec.Outlier = grpcOutlier(br)
	}
	return spec, nil
}

// addGRPCLeaf emits a backend's own cluster for gRPC, with the backend's own breaker.
func (tr *translation) addGRPCLeaf(b *model.Backend) error {
	if tr.leaves[b.Name] {
		return nil
	}
	tr.leaves[b.Name] = true
	t := backendTarget(b)
	spec, err := tr.grpcClusterSpec(t)
	if err != nil {
		return err
	}
	return tr.addWithEndpoints(spec, t.members, b.Endpoint.IsIP, envoy.LogicalDNS)
}

// addCluster adds c unless a cluster of that name exists: a backend is both a pool's
// leaf and a directly routed target with the same content, but two different clusters
// under one name would be a translator bug.
func (tr *translation) addCluster(c *clusterv3.Cluster) error {
	if prev, ok := tr.clusters[c.GetName()]; ok {
		if !equalProto(prev, c) {
			return fmt.Errorf("two different clusters named %q", c.GetName())
		}
		return nil
	}
	tr.clusters[c.GetName()] = c
	tr.res.Clusters = append(tr.res.Clusters, c)
	return nil
}

// localities puts each member in its own locality: region = the backend's region,
// sub_zone = the backend's name. One locality per member carries the member's weight
// as the locality weight, which both Envoy (locality_weighted_lb_config) and gRPC
// (weighted_target over localities; its round_robin ignores endpoint weights) honour.
func (tr *translation) localities(members []member) []envoy.LocalityGroup {
	out := make([]envoy.LocalityGroup, 0, len(members))
	for _, m := range members {
		h := tr.host(m.backend)
		h.Unhealthy = tr.tripped[m.backend.Name]
		out = append(out, envoy.LocalityGroup{
			Region:   m.backend.Region,
			SubZone:  m.backend.Name,
			Priority: m.rank,
			Weight:   m.weight,
			Hosts:    []envoy.Host{h},
		})
	}
	return out
}

// noteAllTripped warns when the fleet breaker has tripped every member of a target:
// its clients fail fast (panic threshold 0), as APIM does when a pool has no backend left.
func (tr *translation) noteAllTripped(t target) {
	if len(tr.tripped) == 0 {
		return
	}
	for _, m := range t.members {
		if !tr.tripped[m.backend.Name] {
			return
		}
	}
	if tr.g.Client == GRPC && !t.allIP() {
		anyIP := false
		for _, m := range t.members {
			anyIP = anyIP || m.backend.Endpoint.IsIP
		}
		switch {
		case t.pool == nil:
			tr.warn(fmt.Sprintf("%s: the fleet breaker has tripped it, but gRPC clients get it as a LOGICAL_DNS cluster, which carries no health: they keep sending to it", t.kind()))
			return
		case !anyIP:
			return // the aggregate cluster warns
		}
	}
	tr.warn(fmt.Sprintf("%s: the fleet breaker has tripped every member; requests fail fast until one closes", t.kind()))
}

// host is a backend's endpoint. For Envoy it carries the backend's credential values
// (read by the upstream header_mutation filter) and its TLS match key. gRPC clients get
// neither: they cannot use them, and secrets go nowhere they are not needed.
func (tr *translation) host(b *model.Backend) envoy.Host {
	h := envoy.Host{Address: b.Endpoint.Host, Port: b.Endpoint.Port, Hostname: b.Endpoint.Host}
	if tr.g.Client == GRPC {
		return h
	}
	md := map[string]map[string]string{}
	if b.Credentials != nil && len(b.Credentials.Header) > 0 {
		kv := map[string]string{}
		for name, v := range b.Credentials.Header {
			kv[strings.ToLower(name)] = v.Reveal()
		}
		md[metadataNamespace] = kv
	}
	if usesTLS(b) {
		md[envoy.TransportSocketMatchNamespace] = map[string]string{tlsMatchKey: b.Name}
	}
	if len(md) > 0 {
		h.Metadata = md
	}
	return h
}

// largestLevel is the number of members in the most populated priority level.
func largestLevel(ms []member) int {
	n := map[uint32]int{}
	largest := 0
	for _, m := range ms {
		n[m.rank]++
		largest = max(largest, n[m.rank])
	}
	return largest
}

// connectTimeout is the longest connect timeout the backends set (a cluster has one, and
// no member may get less time than it asks for), the model's default when none sets one.
func connectTimeout(bs []*model.Backend) time.Duration {
	var d time.Duration
	for _, b := range bs {
		d = max(d, b.ConnectTimeout.Duration)
	}
	if d == 0 {
		return model.DefaultConnectTimeout
	}
	return d
}

// caFile is the CA bundle an https backend's certificate is verified against.
func caFile(b *model.Backend) string {
	if b.TLS != nil && b.TLS.CAFile != "" {
		return b.TLS.CAFile
	}
	return model.DefaultCAFile
}

// credentialHeaders is the sorted union of the members' credential header names.
func credentialHeaders(bs []*model.Backend) []envoy.MetadataHeader {
	seen := map[string]bool{}
	for _, b := range bs {
		if b.Credentials == nil {
			continue
		}
		for name := range b.Credentials.Header {
			seen[strings.ToLower(name)] = true
		}
	}
	names := make([]string, 0, len(seen))
	for n := range seen {
		names = append(names, n)
	}
	sort.Strings(names)
	out := make([]envoy.MetadataHeader, len(names))
	for i, n := range names {
		out[i] = envoy.MetadataHeader{Header: n, Namespace: metadataNamespace, Key: n}
	}
	return out
}

// warnGRPC notes what gRPC clients do not get (tr.warn keeps each note once).
func (tr *translation) warnGRPC(bs []*model.Backend) {
	for _, b := range bs {
		if b.Credentials != nil && len(b.Credentials.Header) > 0 {
			tr.warn(fmt.Sprintf("backend %q: gRPC clients get no credential headers (set them in the client)", b.Name))
		}
		if usesTLS(b) {
			tr.warn(fmt.Sprintf("backend %q: gRPC clients get no TLS settings; their channel credentials decide TLS", b.Name))
		}
	}
}
