package xds

// CacheKeys are the node keys the snapshot cache holds, for the external tests
// (package xds_test) that bound them.
func CacheKeys(s *Server) []string { return s.cache.GetStatusKeys() }

// Internal test helpers the external tests use.
var (
	Dial          = dial
	MustApply     = mustApply
	GroupVersions = groupVersions
)

// Served reports whether typeURL is one of the four types the server serves.
func Served(typeURL string) bool { return servedTypes[typeURL] }
