package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/poolpilot/poolpilot/xds/admin"
)

// breakerMaxBody bounds the /status body the breaker command reads: the engine bounds
// the table (backends × 64 regions), and a status page of tens of MiB means something
// else answers on that port.
const breakerMaxBody = 32 << 20

func (a *app) breakerCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "breaker",
		Short: "Print the fleet breaker's table from a running server's admin address",
		Long: `breaker reads /status from a running poolpilot serve and prints its fleet breaker:
one row per backend and reporting region (and the fleet row that a fleet-scoped rule
evaluates) with requests/s, errors/s and error % over the rule's interval, the reporting
proxies, the age of the newest report, the state (closed, or open until when), the rule
and the counts that tripped it; then the pools whose members are all tripped and the
last 20 trips.`,
		Example: "  poolpilot breaker\n  poolpilot breaker --admin-address 10.0.0.5:19000 -o json",
		Args:    exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			format := a.v.GetString("output")
			if format != "table" && format != "json" {
				return usageError{fmt.Errorf("--output %q: want table or json", format)}
			}
			timeout := a.v.GetDuration("timeout")
			if timeout <= 0 {
				return usageError{fmt.Errorf("--timeout %s: want more than 0", timeout)}
			}
			url, err := adminURL(a.v.GetString("admin-address"))
			if err != nil {
				return usageError{err}
			}
			st, err := fetchBreaker(cmd.Context(), url, timeout)
			if err != nil {
				return err
			}
			if format == "json" {
				enc := json.NewEncoder(a.stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(st)
			}
			return st.WriteTable(a.stdout)
		},
	}
	f := cmd.Flags()
	f.String("admin-address", "127.0.0.1:19000", "admin address of the running server (host:port, or an http:// or https:// URL)")
	f.StringP("output", "o", "table", "output format: table or json (the /status breaker section)")
	f.Duration("timeout", 5*time.Second, "give up on the admin server after this long")
	return cmd
}

// adminURL turns an admin address into the base URL to fetch from. A host left out or
// unspecified (":19000", "0.0.0.0:19000", as serve may bind) means this machine.
func adminURL(addr string) (string, error) {
	if strings.HasPrefix(addr, "http://") || strings.HasPrefix(addr, "https://") {
		return strings.TrimRight(addr, "/"), nil
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", fmt.Errorf("--admin-address %q: want host:port or an http(s) URL: %w", addr, err)
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, port), nil
}

// fetchBreaker reads the breaker section of base's /status.
func fetchBreaker(ctx context.Context, base string, timeout time.Duration) (*admin.BreakerStatus, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/status", nil)
	if err != nil {
		return nil, err
	}
	resp, err := (&http.Client{Timeout: timeout}).Do(req)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			return nil, fmt.Errorf("no answer from a poolpilot admin server at %s within %s", base, timeout)
		}
		return nil, fmt.Errorf("no poolpilot admin server at %s (is `poolpilot serve` running, with this --admin-address?): %w", base, err)
	}
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(io.LimitReader(resp.Body, breakerMaxBody+1))
	if err != nil {
		return nil, fmt.Errorf("%s/status: reading the answer: %w", base, err)
	}
	if len(body) > breakerMaxBody {
		return nil, fmt.Errorf("%s/status: the answer is larger than %d MiB; is this a poolpilot admin address?", base, breakerMaxBody>>20)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s/status: HTTP %d; is this a poolpilot admin address?", base, resp.StatusCode)
	}
	var st struct {
		ModelVersion *string              `json:"modelVersion"`
		Breaker      *admin.BreakerStatus `json:"breaker"`
	}
	if err := json.Unmarshal(body, &st); err != nil || st.ModelVersion == nil {
		return nil, fmt.Errorf("%s/status is not poolpilot's status JSON; is this a poolpilot admin address?", base)
	}
	if st.Breaker == nil {
		return nil, fmt.Errorf("the server at %s runs without a fleet breaker: its /status has no breaker section", base)
	}
	return st.Breaker, nil
}
