package compose

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
)

// extension is one Envoy extension poolpilot may emit, as Envoy 1.36 knows it.
type extension struct {
	typeURLs []string // the type URLs Envoy accepts for its typed_config
	// categories: where it may be configured. "envoy.filters.http" is a downstream HTTP
	// filter (HttpConnectionManager.http_filters); "envoy.filters.http.upstream" an
	// upstream one (HttpProtocolOptions.http_filters).
	categories []string
}

// envoy136 lists every extension poolpilot's Envoy output may name, for the image pinned
// in docker-compose.yml (pinnedEnvoyImage, v1.36.13). Add an entry only after checking it
// exists in that version, and say where.
//
// Checked in Envoy's own documentation and source (via the search tool, 2026-11-25):
//   - v1.36 release line: docs/envoy/v1.36.13/version_history/v1.36 (1.36.13 is the latest
//     1.36 patch, released 2026-10-12); its changelogs remove none of the extensions below.
//   - Each extension's API page ("This extension has the qualified name ...", "must be
//     configured with one of the following type URLs", "extension categories"): present in
//     docs of releases before 1.36 (header_mutation since 1.26, upstream_codec since 1.24,
//     the others since 1.1x) and in source/extensions/extensions_metadata.yaml of a main
//     branch after 1.36 (it already has cache_v2), with the same names, type URLs and
//     categories. Envoy removes an extension only after a deprecation, so each is in 1.36.
//   - Core types that are not extensions (HttpProtocolOptions is configured by its type
//     URL as the key of typed_extension_protocol_options) are in the 1.36 API reference
//     under "Upstream configuration".
var envoy136 = map[string]extension{
	"envoy.filters.network.http_connection_manager": {
		typeURLs:   []string{"type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager"},
		categories: []string{"envoy.filters.network"},
	},
	"envoy.filters.http.router": {
		typeURLs:   []string{"type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"},
		categories: []string{"envoy.filters.http"},
	},
	"envoy.filters.http.header_mutation": {
		typeURLs: []string{
			"type.googleapis.com/envoy.extensions.filters.http.header_mutation.v3.HeaderMutation",
			"type.googleapis.com/envoy.extensions.filters.http.header_mutation.v3.HeaderMutationPerRoute",
		},
		categories: []string{"envoy.filters.http", "envoy.filters.http.upstream"},
	},
	"envoy.filters.http.upstream_codec": {
		typeURLs:   []string{"type.googleapis.com/envoy.extensions.filters.http.upstream_codec.v3.UpstreamCodec"},
		categories: []string{"envoy.filters.http.upstream"},
	},
	"envoy.retry_priorities.previous_priorities": {
		typeURLs:   []string{"type.googleapis.com/envoy.extensions.retry.priority.previous_priorities.v3.PreviousPrioritiesConfig"},
		categories: []string{"envoy.retry_priorities"},
	},
	"envoy.retry_host_predicates.previous_hosts": {
		typeURLs:   []string{"type.googleapis.com/envoy.extensions.retry.host.previous_hosts.v3.PreviousHostsPredicate"},
		categories: []string{"envoy.retry_host_predicates"},
	},
	"envoy.transport_sockets.tls": {
		typeURLs: []string{
			"type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext",
			"type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext",
		},
		categories: []string{"envoy.transport_sockets.upstream", "envoy.transport_sockets.downstream"},
	},
	"envoy.access_loggers.stdout": {
		typeURLs:   []string{"type.googleapis.com/envoy.extensions.access_loggers.stream.v3.StdoutAccessLog"},
		categories: []string{"envoy.access_loggers"},
	},
	"envoy.clusters.aggregate": {
		typeURLs:   []string{"type.googleapis.com/envoy.extensions.clusters.aggregate.v3.ClusterConfig"},
		categories: []string{"envoy.clusters"},
	},
	// Not an extension but configured like one: the key of typed_extension_protocol_options.
	"envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
		typeURLs:   []string{"type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions"},
		categories: []string{"envoy.upstream_options"},
	},
}

// envoy136Types are the 1.36 type URLs that may appear in an Any outside a named
// extension (none today; error_matcher's matcher inputs would go here).
var envoy136Types = []string{}

// use is one place where the output names an extension.
type use struct {
	where    string // JSON path, for the error message
	name     string // the extension name written beside the typed_config, or the map key
	typeURL  string
	category string // "" when the place does not fix one
}

// TestExtensionsExistInPinnedEnvoy renders what a node of each region receives for the
// compose model and for the example model, and checks every extension name and typed_config
// type URL in it against envoy136: a name Envoy 1.36 does not know makes it reject the
// whole resource (a NACK), and the demo would silently serve nothing.
func TestExtensionsExistInPinnedEnvoy(t *testing.T) {
	seen := map[string]bool{}
	for _, modelPath := range []string{
		filepath.Join("examples", "failover", "compose"),
		filepath.Join("examples", "failover", "model.yaml"),
	} {
		for _, b := range bootstraps {
			name := modelPath + "/" + b.region
			t.Run(name, func(t *testing.T) {
				out := runPoolpilot(t, "render", modelPath, "--region", b.region, "-o", "json")
				var doc any
				if err := json.Unmarshal(out, &doc); err != nil {
					t.Fatalf("render output is not JSON: %v", err)
				}
				checkExtensions(t, doc, "$", seen)
			})
		}
	}
	// The committed bootstraps are Envoy config too (the xDS cluster's HttpProtocolOptions).
	root := repoRoot(t)
	for _, b := range bootstraps {
		var doc any
		readYAML(t, filepath.Join(root, b.file()), &doc)
		checkExtensions(t, doc, b.file(), seen)
	}
	// The scenario's mechanisms must be among what was checked, or the walk missed them.
	for _, must := range []string{
		"envoy.filters.network.http_connection_manager",
		"envoy.filters.http.router",
		"envoy.retry_priorities.previous_priorities",
	} {
		if !seen[must] {
			t.Errorf("render output never named %s: the scenario needs it, or the walk missed it (seen: %v)", must, keys(seen))
		}
	}
}

// checkExtensions checks every extension use in the Envoy configuration doc (name, type
// URL, category) and every "@type" against envoy136, and adds the names used to seen.
// root names doc in the errors.
func checkExtensions(t *testing.T, doc any, root string, seen map[string]bool) {
	t.Helper()
	allTypes := map[string]bool{}
	for _, u := range envoy136Types {
		allTypes[u] = true
	}
	for _, e := range envoy136 {
		for _, u := range e.typeURLs {
			allTypes[u] = true
		}
	}
	uses, types := collectExtensions(doc, root, "")
	if len(uses) == 0 {
		t.Errorf("%s names no extension: the walk found nothing to check", root)
	}
	for _, u := range uses {
		seen[u.name] = true
		e, ok := envoy136[u.name]
		if !ok {
			t.Errorf("%s: extension %q is not in Envoy 1.36's list in this test (check it exists in %s, then add it)", u.where, u.name, pinnedEnvoyImage)
			continue
		}
		if !slices.Contains(e.typeURLs, u.typeURL) {
			t.Errorf("%s: extension %q with typed_config %q; Envoy 1.36 accepts %v", u.where, u.name, u.typeURL, e.typeURLs)
		}
		if u.category != "" && !slices.Contains(e.categories, u.category) {
			t.Errorf("%s: extension %q used as %s; in Envoy 1.36 it is %v", u.where, u.name, u.category, e.categories)
		}
	}
	for where, ty := range types {
		if !allTypes[ty] {
			t.Errorf("%s: type URL %q is not in Envoy 1.36's list in this test", where, ty)
		}
	}
}

// collectExtensions walks render's JSON (protojson with proto field names) and returns
// every extension use — an object with a name and a typed_config, or a
// typed_extension_protocol_options entry — and every "@type" with its path.
func collectExtensions(v any, path, category string) ([]use, map[string]string) {
	var uses []use
	types := map[string]string{}
	merge := func(u []use, ty map[string]string) {
		uses = append(uses, u...)
		for k, v := range ty {
			types[k] = v
		}
	}
	switch x := v.(type) {
	case []any:
		for i, e := range x {
			merge(collectExtensions(e, fmt.Sprintf("%s[%d]", path, i), category))
		}
	case map[string]any:
		if ty, ok := x["@type"].(string); ok {
			types[path] = ty
		}
		if tc, ok := x["typed_config"].(map[string]any); ok {
			name, _ := x["name"].(string)
			ty, _ := tc["@type"].(string)
			uses = append(uses, use{where: path, name: name, typeURL: ty, category: category})
		}
		if opts, ok := x["typed_extension_protocol_options"].(map[string]any); ok {
			for k, o := range opts {
				om, _ := o.(map[string]any)
				ty, _ := om["@type"].(string)
				uses = append(uses, use{where: path + ".typed_extension_protocol_options", name: k, typeURL: ty, category: "envoy.upstream_options"})
			}
		}
		if per, ok := x["typed_per_filter_config"].(map[string]any); ok {
			for k, o := range per {
				om, _ := o.(map[string]any)
				ty, _ := om["@type"].(string)
				uses = append(uses, use{where: path + ".typed_per_filter_config", name: k, typeURL: ty, category: "envoy.filters.http"})
			}
		}
		ty, _ := x["@type"].(string)
		for k, e := range x {
			c := ""
			switch {
			case k == "http_filters" && strings.HasSuffix(ty, ".HttpConnectionManager"):
				c = "envoy.filters.http"
			case k == "http_filters" && strings.HasSuffix(ty, ".HttpProtocolOptions"):
				c = "envoy.filters.http.upstream"
			case k == "filters": // filter_chains[].filters
				c = "envoy.filters.network"
			case k == "retry_priority":
				c = "envoy.retry_priorities"
			case k == "retry_host_predicate":
				c = "envoy.retry_host_predicates"
			case k == "transport_socket":
				c = "envoy.transport_sockets.upstream"
			case k == "access_log":
				c = "envoy.access_loggers"
			}
			if c != "" {
				merge(collectExtensions(e, path+"."+k, c))
				continue
			}
			merge(collectExtensions(e, path+"."+k, ""))
		}
	}
	return uses, types
}

func keys(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
