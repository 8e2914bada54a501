package main

// The flags of serve that belong to the live-model and security features: xDS over TLS
// and mutual TLS, the reload debounce, the optional pprof endpoints, the shrink check and
// the refusal to serve credentials in the clear. Kept apart from serve.go so its edit
// stays a few calls.

import (
	"fmt"
	"maps"
	"net"
	"slices"

	"github.com/spf13/pflag"
	"google.golang.org/grpc"

	"github.com/poolpilot/poolpilot/model"
	"github.com/poolpilot/poolpilot/xds"
	"github.com/poolpilot/poolpilot/xds/reload"
)

func addLiveFlags(f *pflag.FlagSet) {
	f.String("xds-tls-cert", "", "PEM certificate (chain) to serve xDS over TLS; needs --xds-tls-key")
	f.String("xds-tls-key", "", "PEM private key of --xds-tls-cert")
	f.String("xds-client-ca", "", "PEM CA bundle: require every xDS client to present a certificate it signed (mutual TLS)")
	f.Duration("reload-debounce", reload.DefaultDebounce, "quiet period after a model file change before reloading (a burst of writes is one reload)")
	f.Bool("admin-pprof", false, "serve Go profiling on /debug/pprof/ of the admin address")
	f.Bool("allow-shrink", false, "apply a reload that removes more than half of the served listeners or APIs (refused otherwise)")
	f.Bool("insecure-serve-credentials", false, "serve a model with backend credentials on a non-loopback --xds-address without "+
		"mutual TLS (--xds-client-ca): every client that can connect receives them")
}

// credentialGuard is the check every model serve applies must pass, or nil when any model
// may be served. Backend credentials travel to the nodes in endpoint metadata, and the
// xDS port answers anyone who says they are a node: on an address other hosts can reach,
// without mutual TLS, that is anyone on the network. serve refuses that unless the
// operator says it knows (--insecure-serve-credentials).
func (a *app) credentialGuard(xdsAddr string, mutualTLS bool) func(*model.Model) error {
	if mutualTLS || isLoopback(xdsAddr) || a.v.GetBool("insecure-serve-credentials") {
		return nil
	}
	return func(m *model.Model) error {
		where := credentialsIn(m)
		if where == "" {
			return nil
		}
		return fmt.Errorf("the model has backend credentials (%s) and --xds-address %s is reachable from other hosts "+
			"without mutual TLS, so any client that connects would receive them: set --xds-client-ca (with "+
			"--xds-tls-cert/--xds-tls-key), serve on a loopback address, or pass --insecure-serve-credentials "+
			"if every host that can reach the port is trusted", where, xdsAddr)
	}
}

// isLoopback reports whether addr (host:port) only accepts connections from this host.
// An empty host or 0.0.0.0 listens everywhere; a host name other than localhost may
// resolve anywhere.
func isLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// credentialsIn names the first backend header carrying a credential, "" if none.
func credentialsIn(m *model.Model) string {
	for _, b := range m.Backends {
		if b == nil || b.Credentials == nil {
			continue
		}
		for _, h := range slices.Sorted(maps.Keys(b.Credentials.Header)) {
			return fmt.Sprintf("backend %q header %q", b.Name, h)
		}
	}
	return ""
}

// xdsServerOptions are the gRPC options for the xDS server: TLS credentials when the TLS
// flags are set. An incomplete or unreadable TLS setting is an error, never a silent
// fall back to plaintext.
func (a *app) xdsServerOptions() ([]grpc.ServerOption, error) {
	files := xds.TLSFiles{
		CertFile:     a.v.GetString("xds-tls-cert"),
		KeyFile:      a.v.GetString("xds-tls-key"),
		ClientCAFile: a.v.GetString("xds-client-ca"),
	}
	opts, err := xds.ServerCredentials(files)
	if err != nil {
		return nil, err
	}
	switch {
	case files.ClientCAFile != "":
		a.log.Info("xDS uses mutual TLS: clients need a certificate from the client CA", "client_ca", files.ClientCAFile)
	case files.Enabled():
		a.log.Info("xDS uses TLS (clients are not asked for certificates)", "cert", files.CertFile)
	default:
		a.log.Info("xDS is plaintext (set --xds-tls-cert and --xds-tls-key for TLS)")
	}
	return opts, nil
}

// watchOptions passes --reload-debounce through (xds defaults a value <= 0) and lets a
// long debounce stretch MaxWait, so a burst of writes is still one reload.
func (a *app) watchOptions() reload.WatchOptions {
	d := a.v.GetDuration("reload-debounce")
	return reload.WatchOptions{Logger: a.log, Debounce: d, MaxWait: max(reload.DefaultMaxWait, 10*d)}
}
