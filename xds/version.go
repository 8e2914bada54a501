package xds

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"hash"
	"sort"

	types "github.com/envoyproxy/go-control-plane/pkg/cache/types"
	cache "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
)

// versionLen is the number of hex digits kept of a sha256: 64 bits is plenty to tell
// snapshots apart and keeps versions readable in logs and on the status page.
const versionLen = 16

// combineVersions hashes named versions (e.g. group key and type → version) in key order.
func combineVersions(named map[string]string) string {
	h := sha256.New()
	for _, k := range sortedKeys(named) {
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
