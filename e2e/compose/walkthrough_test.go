package compose

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// scalarLine matches a YAML line "key: value" (optionally a list item) whose value is a
// plain scalar, with an optional trailing comment.
var scalarLine = regexp.MustCompile(`^\s*(?:-\s+)?([a-z_]+):\s+([^{\[#\s][^#]*?)\s*(?:#.*)?$`)

// TestWalkthroughQuotesRender keeps README.md's docker-compose walkthrough honest: every "key: value" of the
// abridged configuration it quotes (the numbers its attempt sequences are derived from)
// must appear in what `poolpilot render` prints today for the compose model.
func TestWalkthroughQuotesRender(t *testing.T) {
	root := repoRoot(t)
	doc, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	quoted := quotedRenderBlock(t, doc)
	render := runPoolpilot(t, "render", filepath.Join("examples", "failover", "compose"), "--region", "swedencentral", "-o", "yaml")
	have := map[string]bool{}
	sc := bufio.NewScanner(bytes.NewReader(render))
	for sc.Scan() {
		if m := scalarLine.FindStringSubmatch(sc.Text()); m != nil {
			have[m[1]+": "+m[2]] = true
		}
	}
	checked := 0
	for _, line := range strings.Split(quoted, "\n") {
		m := scalarLine.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		checked++
		if kv := m[1] + ": " + m[2]; !have[kv] {
			t.Errorf("README.md's docker-compose walkthrough quotes %q, but `poolpilot render examples/failover/compose --region swedencentral -o yaml` has no such line", kv)
		}
	}
	if checked < 15 {
		t.Errorf("checked only %d quoted lines: did the walkthrough's configuration block move?", checked)
	}
}

// quotedRenderBlock returns the first ```yaml block after the heading that introduces the
// configuration poolpilot sends.
func quotedRenderBlock(t *testing.T, doc []byte) string {
	t.Helper()
	s := string(doc)
	i := strings.Index(s, "### What poolpilot sends the swedencentral Envoy")
	if i < 0 {
		t.Fatal(`README.md's docker-compose walkthrough has no "### What poolpilot sends the swedencentral Envoy" section`)
	}
	s = s[i:]
	start := strings.Index(s, "```yaml\n")
	if start < 0 {
		t.Fatal("no ```yaml block in the walkthrough's configuration section")
	}
	s = s[start+len("```yaml\n"):]
	end := strings.Index(s, "```")
	if end < 0 {
		t.Fatal("unterminated ```yaml block in the walkthrough")
	}
	return s[:end]
}
