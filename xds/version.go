package xds

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"hash"
	"sort"

	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	"github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	"google.golang.org/protobuf/proto"
)

// versionLen is the number of hex digits kept of a sha256: 64 bits is plenty to tell
// snapshots apart and keeps versions readable in logs and on the status page.
const versionLen = 16

// resourceVersion is the content hash of one resource type's resources: the same
// resources give the same version on every replica and after every restart, so a proxy
// that reconnects elsewhere sees no change. Resources are hashed sorted by name, each
// length-prefixed so that no two different lists hash alike.
func resourceVersion(resources []types.Resource) (string, error) {
	sorted := sortedByName(resources)
	h := sha256.New()
	opts := proto.MarshalOptions{Deterministic: true}
	for _, r := range sorted {
		b, err := opts.Marshal(r)
		if err != nil {
			return "", fmt.Errorf("marshal %s %q: %w", proto.MessageName(r), cache.GetResourceName(r), err)
		}
		writeField(h, []byte(proto.MessageName(r)))
		writeField(h, b)
	}
	return shortHex(h), nil
}

// combineVersions hashes named versions (e.g. group key and type → version) in key order.
func combineVersions(named map[string]string) string {
	keys := make([]string, 0, len(named))
	for k := range named {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	h := sha256.New()
	for _, k := range keys {
		writeField(h, []byte(k))
		writeField(h, []byte(named[k]))
	}
	return shortHex(h)
}

func sortedByName(resources []types.Resource) []types.Resource {
	out := append([]types.Resource(nil), resources...)
	sort.SliceStable(out, func(i, j int) bool {
		return cache.GetResourceName(out[i]) < cache.GetResourceName(out[j])
	})
	return out
}

func writeField(h hash.Hash, b []byte) {
	var n [8]byte
	binary.BigEndian.PutUint64(n[:], uint64(len(b)))
	h.Write(n[:])
	h.Write(b)
}

func shortHex(h hash.Hash) string {
	return hex.EncodeToString(h.Sum(nil))[:versionLen]
}
