package admin

import (
	"bytes"
	"html/template"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// statusPage is the / page: the same content as /status, for a person. html/template
// escapes every value (node ids and NACK details come from clients).
var statusPage = template.Must(template.New("status").Funcs(template.FuncMap{
	"region": regionLabel,
	"join":   strings.Join,
	"ago": func(t time.Time) string {
		if t.IsZero() {
			return "never"
		}
		return t.UTC().Format(time.RFC3339) + " (" + time.Since(t).Round(time.Second).String() + " ago)"
	},
	"typesOf":  func(m map[string]TypeView) []string { return slices.Sorted(maps.Keys(m)) },
	"headRows": func(rows []BreakerRow) []BreakerRow { return rows[:min(len(rows), adminBreakerHTMLRows)] },
	"moreRows": func(rows []BreakerRow) int { return max(len(rows)-adminBreakerHTMLRows, 0) },
	"num":      func(f float64) string { return strconv.FormatFloat(f, 'f', 2, 64) },
	"utc":      func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
}).Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="refresh" content="5">
<title>poolpilot</title>
<style>
body{font-family:system-ui,sans-serif;margin:1.5em;color:#222}
table{border-collapse:collapse;margin:.5em 0 1.5em}
th,td{border:1px solid #ccc;padding:.25em .6em;text-align:left;vertical-align:top}
th{background:#f3f3f3}
.ok{color:#080}.bad{color:#b00}.muted{color:#777}
td.n{text-align:right}
code{font-size:90%}
</style></head><body>
<h1>poolpilot</h1>
<p>Model version <code>{{if .ModelVersion}}{{.ModelVersion}}{{else}}none{{end}}</code>
{{if .ModelPath}} from <code>{{.ModelPath}}</code>{{end}} —
{{if .Ready}}<span class="ok">ready</span>{{else}}<span class="bad">not ready</span>{{end}}</p>
{{with .LastReload}}
<p>Last reload: {{if .OK}}<span class="ok">ok</span>{{else}}<span class="bad">failed</span>{{end}}
({{.Trigger}}) at {{ago .Time}}{{if not .OK}}; still serving {{if .Version}}<code>{{.Version}}</code>{{else}}nothing{{end}}{{end}}</p>
{{if .Errors}}<ul class="bad" id="reload-errors">{{range .Errors}}<li><code>{{.}}</code></li>{{end}}</ul>{{end}}
{{end}}
{{if .LastApplyError}}<p class="bad">Last apply error: <code>{{.LastApplyError}}</code></p>{{end}}

<h2>Pools: priority order per region</h2>
{{range .Pools}}
<h3>{{.Name}}{{if .PreferLocalRegion}} <span class="muted">(preferLocalRegion)</span>{{end}}</h3>
<table class="pool" data-pool="{{.Name}}">
<tr><th>region</th><th>priority order (first tried first)</th></tr>
{{range .Regions}}<tr><td>{{region .Region}}</td><td>{{if .Note}}<span class="muted">{{.Note}}</span>{{else}}{{range $i, $level := .Priorities}}{{if $i}} → {{end}}{{$i}}: {{join $level ", "}}{{end}}{{end}}</td></tr>
{{end}}</table>
{{else}}<p class="muted">No pools.</p>
{{end}}
{{with .Breaker}}
<h2>Fleet breaker</h2>
{{range .FailFast}}<p class="bad failfast"><strong>{{.Message}}</strong></p>
{{end}}
{{if .Rows}}<table id="breaker">
<tr><th>backend</th><th>reporting region</th><th>requests/s</th><th>errors/s</th><th>error %</th><th>proxies</th><th>newest report</th><th>state</th><th>rule</th><th>tripped by</th></tr>
{{range headRows .Rows}}<tr data-backend="{{.Backend}}" data-region="{{.RowRegion}}"><td>{{.Backend}}</td><td>{{.RowRegion}}</td>
<td class="n">{{num .RequestsPerSecond}}</td><td class="n">{{num .ErrorsPerSecond}}</td><td class="n">{{num .ErrorPercent}}</td><td class="n">{{.Proxies}}</td>
<td>{{if .ReportAgeSeconds}}{{.AgeText}} ago{{else}}never{{end}}</td><td>{{if eq .State "open"}}<span class="bad">{{.StateText}}</span>{{else}}<span class="ok">closed</span>{{end}}</td>
<td>{{.Rule.Text}}</td><td>{{.TrippedBy}}</td></tr>
{{end}}</table>
{{with moreRows .Rows}}<p class="muted">{{.}} more rows in <a href="/status">/status</a>.</p>{{end}}
{{else}}<p class="muted">No load reports yet.</p>{{end}}
<h3>Last trips (newest first)</h3>
{{if .Trips}}<table id="breaker-trips">
<tr><th>at</th><th>backend</th><th>region</th><th>open until</th><th>rule</th><th>counts</th></tr>
{{range .Trips}}<tr><td>{{utc .At}}</td><td>{{.Backend}}</td><td>{{.TripRegion}}</td><td>{{utc .OpenUntil}}</td><td>{{.Condition}}</td><td>{{.Errors}} errors of {{.Requests}} requests from {{.Proxies}} proxies</td></tr>
{{end}}</table>
{{else}}<p class="muted">No trips.</p>{{end}}
{{end}}

<h2>Node groups</h2>
<table>
<tr><th>group</th><th>versions</th><th>clusters</th><th>endpoints</th><th>routes</th><th>listeners</th><th>warnings</th></tr>
{{range .Groups}}<tr><td>{{.Key}}</td><td>{{range $t, $v := .Versions}}{{$t}} <code>{{$v}}</code><br>{{end}}</td>
<td>{{.Clusters}}</td><td>{{.Endpoints}}</td><td>{{.Routes}}</td><td>{{.Listeners}}</td><td>{{join .Warnings "; "}}</td></tr>
{{end}}</table>

<h2>Connected nodes</h2>
{{if .Nodes}}<table>
<tr><th>node</th><th>group</th><th>stream</th><th>type</th><th>sent</th><th>ACKed</th><th>last NACK</th></tr>
{{range $n := .Nodes}}{{range $t := typesOf $n.Types}}{{with index $n.Types $t}}
<tr><td>{{$n.NodeID}}</td><td>{{$n.Group}}</td><td>{{$n.Stream}} #{{$n.StreamID}}</td><td>{{$t}}</td>
<td><code>{{.SentVersion}}</code></td><td><code>{{.AckedVersion}}</code></td>
<td>{{with .LastNack}}<span class="bad">version <code>{{.Version}}</code>: {{.Error}}</span>{{end}}</td></tr>
{{end}}{{else}}<tr><td>{{$n.NodeID}}</td><td>{{$n.Group}}</td><td>{{$n.Stream}} #{{$n.StreamID}}</td><td colspan="4" class="muted">no requests yet</td></tr>
{{end}}{{end}}</table>
{{else}}<p class="muted">No node connected.</p>{{end}}
<p class="muted">Generated {{ago .GeneratedAt}}. JSON: <a href="/status">/status</a> · <a href="/metrics">/metrics</a></p>
</body></html>
`))

// adminBreakerHTMLRows bounds the breaker table on /: the engine bounds the rows (backends
// with a rule × at most 64 reporting regions), but a page of thousands of rows helps no one.
const adminBreakerHTMLRows = 500

func (a *Server) statusHTML(w http.ResponseWriter, _ *http.Request) {
	var buf bytes.Buffer
	if err := statusPage.Execute(&buf, a.Status()); err != nil {
		a.opts.Logger.Error("render status page", "error", err)
		http.Error(w, "cannot render the status page; see /status", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_, _ = w.Write(buf.Bytes())
}
