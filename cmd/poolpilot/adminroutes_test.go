package main

import (
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/poolpilot/poolpilot/xds/admin"
)

// TestAdminRoutesDocumented: README.md quotes the admin route table as serve --help prints
// it, and docs/operations.md's "Admin endpoints" table has one row per route, in the same
// order, so a new endpoint cannot be served without both saying so.
func TestAdminRoutesDocumented(t *testing.T) {
	var want []string
	for _, r := range admin.Routes() {
		want = append(want, r.Path)
	}

	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	if block := "```\n" + admin.HelpText() + "```\n"; !strings.Contains(string(readme), block) {
		t.Errorf("README.md does not quote the admin routes as serve --help lists them:\n%s", block)
	}

	ops, err := os.ReadFile("../../docs/operations.md")
	if err != nil {
		t.Fatal(err)
	}
	section := string(ops)
	start := strings.Index(section, "\n## Admin endpoints\n")
	if start < 0 {
		t.Fatal(`docs/operations.md has no "## Admin endpoints" section`)
	}
	section = section[start+1:]
	if end := strings.Index(section[3:], "\n## "); end >= 0 {
		section = section[:end+3]
	}
	var got []string
	for _, m := range regexp.MustCompile("(?m)^\\| `(/[^`]*)` \\|").FindAllStringSubmatch(section, -1) {
		got = append(got, m[1])
	}
	if !slices.Equal(got, want) {
		t.Errorf("docs/operations.md's admin endpoints table lists %q; the route table has %q", got, want)
	}

	help, _, _ := runCLI(t, "serve", "--help")
	if !strings.Contains(help, admin.HelpText()) {
		t.Errorf("serve --help does not list the admin routes:\n%s", help)
	}
}
