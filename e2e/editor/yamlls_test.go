package editor

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/poolpilot/poolpilot/e2e/internal/harness"
)

// wait bounds every answer the language server owes; it is a limit, not a measurement.
const wait = time.Minute

// lsp is a minimal Language Server Protocol client over the server's stdio.
type lsp struct {
	t     *testing.T
	stdin io.WriteCloser

	mu      sync.Mutex
	nextID  int
	replies map[int]chan json.RawMessage
	diags   map[string]chan []diagnostic
}

type diagnostic struct {
	Range struct {
		Start struct{ Line int } `json:"start"`
	} `json:"range"`
	Message string `json:"message"`
}

// settings are the server's configuration, as an editor sends it.
var settings = map[string]any{"validate": true, "completion": true, "hover": true,
	"schemaStore": map[string]any{"enable": false}}

func startServer(t *testing.T) *lsp {
	t.Helper()
	// .ci/run installs the packages, so in CI a missing server is a failure, not a skip.
	skip := t.Skipf
	if os.Getenv("CI") == "true" {
		skip = t.Fatalf
	}
	node, err := exec.LookPath("node")
	if err != nil {
		skip("node is not installed, needed for the YAML language server (install Node.js, then `npm ci --prefix e2e/node`)")
	}
	root, err := harness.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	server := filepath.Join(root, "e2e", "node", "node_modules", "yaml-language-server", "bin", "yaml-language-server")
	if _, err := os.Stat(server); err != nil {
		skip("yaml-language-server is not installed in e2e/node (run `npm ci --prefix e2e/node`)")
	}
	cmd := exec.Command(node, server, "--stdio")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = stdin.Close()
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() && stderr.Len() > 0 {
			t.Logf("yaml-language-server stderr:\n%s", stderr.String())
		}
	})
	c := &lsp{t: t, stdin: stdin, replies: map[int]chan json.RawMessage{}, diags: map[string]chan []diagnostic{}}
	go c.read(bufio.NewReader(stdout))

	c.call("initialize", map[string]any{
		"processId": os.Getpid(),
		"rootUri":   "file://" + root,
		"capabilities": map[string]any{
			"workspace":    map[string]any{"configuration": true},
			"textDocument": map[string]any{"completion": map[string]any{"completionItem": map[string]any{"snippetSupport": true}}},
		},
	})
	c.notify("initialized", map[string]any{})
	c.notify("workspace/didChangeConfiguration", map[string]any{"settings": map[string]any{"yaml": settings}})
	return c
}

func (c *lsp) send(msg map[string]any) {
	msg["jsonrpc"] = "2.0"
	b, err := json.Marshal(msg)
	if err != nil {
		c.t.Fatal(err)
	}
	if _, err := fmt.Fprintf(c.stdin, "Content-Length: %d\r\n\r\n%s", len(b), b); err != nil {
		c.t.Fatalf("write to the language server: %v", err)
	}
}

func (c *lsp) notify(method string, params any) {
	c.send(map[string]any{"method": method, "params": params})
}

// call sends a request and returns its result.
func (c *lsp) call(method string, params any) json.RawMessage {
	c.t.Helper()
	c.mu.Lock()
	c.nextID++
	id := c.nextID
	ch := make(chan json.RawMessage, 1)
	c.replies[id] = ch
	c.mu.Unlock()
	c.send(map[string]any{"id": id, "method": method, "params": params})
	select {
	case r := <-ch:
		return r
	case <-time.After(wait):
		c.t.Fatalf("no answer to %s within %s", method, wait)
		return nil
	}
}

// read dispatches the server's messages until its stdout closes.
func (c *lsp) read(r *bufio.Reader) {
	for {
		length := -1
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				return
			}
			line = strings.TrimSpace(line)
			if line == "" {
				break
			}
			if v, ok := strings.CutPrefix(line, "Content-Length: "); ok {
				length, _ = strconv.Atoi(v)
			}
		}
		if length < 0 {
			return
		}
		body := make([]byte, length)
		if _, err := io.ReadFull(r, body); err != nil {
			return
		}
		var msg struct {
			ID     *int            `json:"id"`
			Method string          `json:"method"`
			Params json.RawMessage `json:"params"`
			Result json.RawMessage `json:"result"`
		}
		if json.Unmarshal(body, &msg) != nil {
			continue
		}
		switch {
		case msg.ID != nil && msg.Method != "": // a request from the server
			var result any
			if msg.Method == "workspace/configuration" {
				var p struct{ Items []any }
				_ = json.Unmarshal(msg.Params, &p)
				items := make([]any, len(p.Items))
				for i := range items {
					items[i] = settings
				}
				result = items
			}
			c.send(map[string]any{"id": *msg.ID, "result": result})
		case msg.ID != nil:
			c.mu.Lock()
			ch := c.replies[*msg.ID]
			c.mu.Unlock()
			if ch != nil {
				ch <- msg.Result
			}
		case msg.Method == "textDocument/publishDiagnostics":
			var p struct {
				URI         string       `json:"uri"`
				Diagnostics []diagnostic `json:"diagnostics"`
			}
			if json.Unmarshal(msg.Params, &p) == nil {
				c.diagChan(p.URI) <- p.Diagnostics
			}
		}
	}
}

func (c *lsp) diagChan(uri string) chan []diagnostic {
	c.mu.Lock()
	defer c.mu.Unlock()
	ch := c.diags[uri]
	if ch == nil {
		ch = make(chan []diagnostic, 16)
		c.diags[uri] = ch
	}
	return ch
}

// open opens a document (its text need not be on disk) and returns the server's
// diagnostics for it.
func (c *lsp) open(uri, text string) []diagnostic {
	c.t.Helper()
	c.notify("textDocument/didOpen", map[string]any{"textDocument": map[string]any{
		"uri": uri, "languageId": "yaml", "version": 1, "text": text}})
	select {
	case d := <-c.diagChan(uri):
		return d
	case <-time.After(wait):
		c.t.Fatalf("no diagnostics for %s within %s", uri, wait)
		return nil
	}
}

func (c *lsp) completion(uri string, line, char int) []string {
	c.t.Helper()
	var res struct {
		Items []struct{ Label string } `json:"items"`
	}
	r := c.call("textDocument/completion", map[string]any{
		"textDocument": map[string]any{"uri": uri}, "position": map[string]any{"line": line, "character": char}})
	if err := json.Unmarshal(r, &res); err != nil {
		c.t.Fatalf("completion: %v: %s", err, r)
	}
	var labels []string
	for _, it := range res.Items {
		labels = append(labels, it.Label)
	}
	return labels
}

func (c *lsp) hover(uri string, line, char int) string {
	c.t.Helper()
	var res struct {
		Contents struct{ Value string } `json:"contents"`
	}
	r := c.call("textDocument/hover", map[string]any{
		"textDocument": map[string]any{"uri": uri}, "position": map[string]any{"line": line, "character": char}})
	if err := json.Unmarshal(r, &res); err != nil {
		c.t.Fatalf("hover: %v: %s", err, r)
	}
	return res.Contents.Value
}

// lineOf is the 0-based line of the first line of text containing s.
func lineOf(t *testing.T, text, s string) int {
	t.Helper()
	for i, l := range strings.Split(text, "\n") {
		if strings.Contains(l, s) {
			return i
		}
	}
	t.Fatalf("no line contains %q", s)
	return -1
}

func replaceOnce(t *testing.T, s, old, new string) string {
	t.Helper()
	if !strings.Contains(s, old) {
		t.Fatalf("no %q to replace", old)
	}
	return strings.Replace(s, old, new, 1)
}

// TestYAMLLanguageServerUsesTheSchema opens the failover example in the YAML language
// server, as an editor does: the modeline on its first line brings in the schema, the
// example has no errors, each kind of mistake is underlined on its line, and completion
// and hover come from the schema.
func TestYAMLLanguageServerUsesTheSchema(t *testing.T) {
	c := startServer(t)
	root, err := harness.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(root, "examples", "failover")
	b, err := os.ReadFile(filepath.Join(dir, "model.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	example := string(b)
	if !strings.HasPrefix(example, "# yaml-language-server: $schema=") {
		t.Fatalf("the example does not start with the modeline")
	}
	uri := func(name string) string { return "file://" + filepath.Join(dir, name) }

	if d := c.open(uri("model.yaml"), example); len(d) != 0 {
		t.Errorf("the example has diagnostics: %+v", d)
	}

	// Documents beside the example (never written to disk) resolve the modeline the same way.
	broken := example
	for _, e := range [][2]string{
		{"    region: norwayeast\n", "    region: norwayeast\n    colour: red\n"},
		{"priority: 2, weight: 1}", "priority: 101, weight: 0}"},
		{"tripDuration: PT30S", "tripDuration: 30"},
		{"interval: PT1S", "interval: 1 second"},
		{"errorReasons: [BackendConnectionFailure]\n            statusCodeRanges: [{min: 502, max: 504}]",
			"errorReasons: [Oops]\n            statusCodeRanges: [{min: 502, max: 600}]"},
	} {
		broken = replaceOnce(t, broken, e[0], e[1])
	}
	want := []struct {
		line int
		msg  string
	}{
		{lineOf(t, broken, "colour: red"), "Property colour is not allowed"},
		{lineOf(t, broken, "priority: 101"), "above the maximum of 100"},
		{lineOf(t, broken, "weight: 0}"), "below the minimum of 1"},
		{lineOf(t, broken, "tripDuration: 30"), "Incorrect type"},
		{lineOf(t, broken, "interval: 1 second"), "does not match the pattern"},
		{lineOf(t, broken, "[Oops]"), "Value is not accepted"},
		{lineOf(t, broken, "max: 600"), "above the maximum of 599"},
	}
	got := c.open(uri("broken.yaml"), broken)
	for _, w := range want {
		found := false
		for _, d := range got {
			found = found || (d.Range.Start.Line == w.line && strings.Contains(d.Message, w.msg))
		}
		if !found {
			t.Errorf("no diagnostic %q on line %d; got %+v", w.msg, w.line+1, got)
		}
	}
	if len(got) != len(want) {
		t.Errorf("%d diagnostics, want %d: %+v", len(got), len(want), got)
	}

	// Completion: the fields of a backend, the top-level lists, the error reasons.
	modeline, _, _ := strings.Cut(example, "\n")
	draft := modeline + "\nbackends:\n  - name: x\n    \n"
	c.open(uri("draft.yaml"), draft)
	labels := strings.Join(c.completion(uri("draft.yaml"), 3, 4), ",")
	for _, f := range []string{"url", "region", "credentials", "circuitBreaker"} {
		if !strings.Contains(","+labels+",", ","+f+",") {
			t.Errorf("completion in a backend lacks %q: %s", f, labels)
		}
	}
	empty := modeline + "\n\n"
	c.open(uri("empty.yaml"), empty)
	if got := strings.Join(c.completion(uri("empty.yaml"), 1, 0), ","); got != "backends,pools,apis,listeners" {
		t.Errorf("top-level completion %q, want backends,pools,apis,listeners", got)
	}
	reasons := modeline + "\nbackends:\n  - name: x\n    circuitBreaker:\n      rules:\n        - failureCondition:\n            errorReasons: [\n"
	c.open(uri("reasons.yaml"), reasons)
	if got := strings.Join(c.completion(uri("reasons.yaml"), 6, 27), ","); got != "BackendConnectionFailure,Timeout" {
		t.Errorf("errorReasons completion %q, want BackendConnectionFailure,Timeout", got)
	}

	// Hover shows the field's description.
	line := lineOf(t, example, "priority: 1,")
	col := strings.Index(strings.Split(example, "\n")[line], "priority") + 2
	if h := c.hover(uri("model.yaml"), line, col); !strings.Contains(h, "lower is preferred") {
		t.Errorf("hover on priority: %q, want the field's description", h)
	}
}
