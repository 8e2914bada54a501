package main

// The flags of serve that belong to the live-model features (issue 3): xDS over TLS and
// mutual TLS, the reload debounce and the optional pprof endpoints. Kept apart from
// serve.go so its edit stays a few calls.

import (
	"github.com/spf13/pflag"
	"google.golang.org/grpc"

	"github.com/poolpilot/poolpilot/xds"
)

func addLiveFlags(f *pflag.FlagSet) {
	f.String("xds-tls-cert", "", "PEM certificate (chain) to serve xDS over TLS; needs --xds-tls-key")
	f.String("xds-tls-key", "", "PEM private key of --xds-tls-cert")
	f.String("xds-client-ca", "", "PEM CA bundle: require every xDS client to present a certificate it signed (mutual TLS)")
	f.Duration("reload-debounce", xds.DefaultDebounce, "quiet period after a model file change before reloading (a burst of writes is one reload)")
	f.Bool("admin-pprof", false, "serve Go profiling on /debug/pprof/ of the admin address")
	f.Bool("allow-shrink", false, "apply a reload that removes more than half of the served listeners or APIs (refused otherwise)")
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
func (a *app) watchOptions() xds.WatchOptions {
	d := a.v.GetDuration("reload-debounce")
	return xds.WatchOptions{Logger: a.log, Debounce: d, MaxWait: max(xds.DefaultMaxWait, 10*d)}
}
