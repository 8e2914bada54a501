package xds

import (
	"bytes"
	"crypto/sha256"
	"testing"

	types "github.com/envoyproxy/go-control-plane/pkg/cache/types"
	cache "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	"google.golang.org/protobuf/proto"

	"github.com/poolpilot/poolpilot/internal/modelgen"
	"github.com/poolpilot/poolpilot/translator"
)

func TestPremarshalledEncodesIdentically(t *testing.T) {
	m, err := modelgen.Load(modelgen.Spec{Pools: 5, BackendsPerPool: 3, Regions: 2, Credentials: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range []translator.Group{{Region: "swedencentral", Client: translator.Envoy}, {Region: "norwayeast", Client: translator.GRPC}} {
		res, err := translator.Translate(m, g)
		if err != nil {
			t.Fatal(err)
		}
		for _, items := range [][]types.Resource{res.Clusters, res.Endpoints, res.Routes, res.Listeners} {
			v0 := wantVersion(t, items)
			enc, err := encode(items, translator.Validate, &validatedSet{})
			if err != nil {
				t.Fatal(err)
			}
			if enc.version != v0 {
				t.Errorf("version %s, want %s", enc.version, v0)
			}
			for i, r := range sortedByName(items) {
				want, _ := proto.MarshalOptions{Deterministic: true}.Marshal(r)
				got, _ := cache.MarshalResource(enc.items[i])
				if !bytes.Equal(got, want) {
					t.Errorf("%s: premarshalled encoding differs", cache.GetResourceName(r))
				}
				if cache.GetResourceName(enc.items[i]) != cache.GetResourceName(r) {
					t.Errorf("name %q, want %q", cache.GetResourceName(enc.items[i]), cache.GetResourceName(r))
				}
			}
		}
	}
}

// wantVersion is the version formula, written out independently of encode: sha256 over
// each resource, sorted by name, as length-prefixed message name and deterministic
// encoding; the first versionLen hex digits.
func wantVersion(t *testing.T, items []types.Resource) string {
	t.Helper()
	h := sha256.New()
	for _, r := range sortedByName(items) {
		b, err := proto.MarshalOptions{Deterministic: true}.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		writeField(h, []byte(proto.MessageName(r)))
		writeField(h, b)
	}
	return shortHex(h)
}
