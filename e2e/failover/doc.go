// Package failover proves poolpilot's two-region failover scenario end to end with real
// proxyless gRPC clients (google.golang.org/grpc/xds, and @grpc/grpc-js-xds when node is
// installed): a real poolpilot process, demo backends that can be switched to fail, stop
// or hang, and models written to disk. The tests are in *_test.go; docs/failover.md
// reports the failover times they print (grep the test output for "MEASURED").
package failover
