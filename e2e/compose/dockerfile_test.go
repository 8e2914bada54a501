package compose

import (
	"bufio"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// dockerStage is one FROM stage of the Dockerfile, as far as these tests read it.
type dockerStage struct {
	image, name string
	lines       []string // the stage's instructions, continuation lines joined
}

func readDockerfile(t *testing.T) []dockerStage {
	t.Helper()
	f, err := os.Open(filepath.Join(repoRoot(t), "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = f.Close() }()
	var stages []dockerStage
	var cur strings.Builder
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(line, "#") || (line == "" && cur.Len() == 0) {
			continue
		}
		if rest, cont := strings.CutSuffix(line, "\\"); cont {
			cur.WriteString(rest + " ")
			continue
		}
		cur.WriteString(line)
		instr := cur.String()
		cur.Reset()
		if instr == "" {
			continue
		}
		if f := strings.Fields(instr); strings.EqualFold(f[0], "FROM") {
			st := dockerStage{image: f[1]}
			if len(f) == 4 && strings.EqualFold(f[2], "AS") {
				st.name = f[3]
			}
			stages = append(stages, st)
			continue
		}
		if len(stages) == 0 {
			t.Fatalf("Dockerfile: %q before the first FROM", instr)
		}
		stages[len(stages)-1].lines = append(stages[len(stages)-1].lines, instr)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return stages
}

var goBuildPkg = regexp.MustCompile(`go build [^&]*?-o (\S+) (\./\S+)`)

// dockerBuildPackages returns the packages the Dockerfile's go build commands build.
func dockerBuildPackages(t *testing.T) []string {
	t.Helper()
	var pkgs []string
	for _, st := range readDockerfile(t) {
		for _, l := range st.lines {
			for _, m := range goBuildPkg.FindAllStringSubmatch(l, -1) {
				pkgs = append(pkgs, m[2])
			}
		}
	}
	if len(pkgs) == 0 {
		t.Fatal("Dockerfile: no `go build ... -o OUT ./PKG` found")
	}
	return pkgs
}

// TestDockerfile checks, without a Docker engine, the properties docker-compose.yml and
// the walkthrough rely on: a Go builder new enough for go.mod, static trimmed builds of
// both binaries, and the poolpilot and backend targets as small non-root images.
func TestDockerfile(t *testing.T) {
	root := repoRoot(t)
	stages := readDockerfile(t)
	byName := map[string]dockerStage{}
	for _, st := range stages {
		byName[st.name] = st
	}

	// The builder's Go must satisfy go.mod: the golang images set GOTOOLCHAIN=local.
	gomod, err := os.ReadFile(filepath.Join(root, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^go (\S+)$`).FindSubmatch(gomod)
	if m == nil {
		t.Fatal("go.mod has no go line")
	}
	need := string(m[1])
	build, ok := byName["build"]
	if !ok || !strings.HasPrefix(build.image, "golang:") {
		t.Fatalf("Dockerfile: want a stage `FROM golang:<version> AS build`, have %+v", stages)
	}
	have := strings.TrimPrefix(build.image, "golang:")
	if !versionAtLeast(have, need) {
		t.Errorf("Dockerfile builds with %s, but go.mod needs go %s (the image's GOTOOLCHAIN=local will not fetch it)", build.image, need)
	}
	var buildCmds []string
	for _, l := range build.lines {
		if strings.Contains(l, "go build") {
			buildCmds = append(buildCmds, l)
		}
	}
	for _, l := range buildCmds {
		for _, part := range strings.Split(l, "&&") {
			if !strings.Contains(part, "go build") {
				continue
			}
			if !strings.Contains(part, "CGO_ENABLED=0") || !strings.Contains(part, "-trimpath") {
				t.Errorf("Dockerfile: %q: want CGO_ENABLED=0 and -trimpath (a static binary for a distroless/static image)", strings.TrimSpace(part))
			}
		}
	}
	for _, pkg := range dockerBuildPackages(t) {
		if _, err := os.Stat(filepath.Join(root, pkg)); err != nil {
			t.Errorf("Dockerfile builds %s: %v", pkg, err)
		}
	}

	// The two targets docker-compose.yml builds: non-root, distroless, the binary built above.
	for _, target := range []string{"poolpilot", "backend"} {
		st, ok := byName[target]
		if !ok {
			t.Errorf("Dockerfile: no stage named %q (docker-compose.yml builds it as a target)", target)
			continue
		}
		if !strings.HasPrefix(st.image, "gcr.io/distroless/static") || !strings.HasSuffix(st.image, ":nonroot") {
			t.Errorf("stage %s: FROM %s, want gcr.io/distroless/static-...:nonroot", target, st.image)
		}
		if !slices.Contains(st.lines, "USER nonroot:nonroot") {
			t.Errorf("stage %s: want USER nonroot:nonroot, have %q", target, st.lines)
		}
		entry := "ENTRYPOINT [\"/usr/local/bin/" + target + "\"]"
		copyLine := "COPY --from=build /out/" + target + " /usr/local/bin/" + target
		if !slices.Contains(st.lines, entry) || !slices.Contains(st.lines, copyLine) {
			t.Errorf("stage %s: want %q and %q, have %q", target, copyLine, entry, st.lines)
		}
	}
	// `docker build .` without --target builds the last stage: make that poolpilot.
	if last := stages[len(stages)-1]; last.name != "poolpilot" {
		t.Errorf("the Dockerfile's last stage is %q; `docker build .` should give poolpilot", last.name)
	}
}

// versionAtLeast compares dotted Go versions numerically ("1.26.8" >= "1.26").
func versionAtLeast(have, need string) bool {
	h, n := strings.Split(have, "."), strings.Split(need, ".")
	for i := 0; i < len(n); i++ {
		var hv int
		if i < len(h) {
			var err error
			if hv, err = strconv.Atoi(h[i]); err != nil {
				return false
			}
		}
		nv, err := strconv.Atoi(n[i])
		if err != nil {
			return false
		}
		if hv != nv {
			return hv > nv
		}
	}
	return true
}

func TestVersionAtLeast(t *testing.T) {
	for _, c := range []struct {
		have, need string
		want       bool
	}{
		{"1.26.8", "1.26.8", true},
		{"1.26.9", "1.26.8", true},
		{"1.27", "1.26.8", true},
		{"1.26", "1.26.8", false},
		{"1.26.7", "1.26.8", false},
		{"1.26.10", "1.26.8", true},
		{"1.26-alpine", "1.26", false},
	} {
		if got := versionAtLeast(c.have, c.need); got != c.want {
			t.Errorf("versionAtLeast(%s, %s) = %v, want %v", c.have, c.need, got, c.want)
		}
	}
}
