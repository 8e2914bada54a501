package compose

import (
	"bytes"
	"context"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// composeFile is the part of docker-compose.yml these tests read.
type composeFile struct {
	Services map[string]struct {
		Image   string   `yaml:"image"`
		Command []string `yaml:"command"`
		Volumes []string `yaml:"volumes"`
		Ports   []string `yaml:"ports"`
		Build   *struct {
			Context string `yaml:"context"`
			Target  string `yaml:"target"`
		} `yaml:"build"`
	} `yaml:"services"`
}

// TestComposeConfig runs `docker-compose config`, which checks the file against the
// compose schema without a Docker engine. CI (CI=true) must have docker-compose
// (.ci/run installs the Debian package); elsewhere the test skips when it is missing.
func TestComposeConfig(t *testing.T) {
	bin, err := exec.LookPath("docker-compose")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("docker-compose is not installed; CI must install it (apt-get install -y docker-compose)")
		}
		t.Skip("docker-compose not installed (apt-get install -y docker-compose); skipping `docker-compose config`")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "-f", "docker-compose.yml", "config", "--quiet")
	cmd.Dir = repoRoot(t)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("docker-compose -f docker-compose.yml config: %v\n%s", err, out.String())
	}
}

// TestComposeWiring checks what the schema cannot: the services, images, mounts and ports
// that the README walkthrough relies on, and that the compose model's backends are the
// compose services running the demo backend with the same name and region.
func TestComposeWiring(t *testing.T) {
	root := repoRoot(t)
	var cf composeFile
	readYAML(t, filepath.Join(root, "docker-compose.yml"), &cf)

	var names []string
	for n := range cf.Services {
		names = append(names, n)
	}
	slices.Sort(names)
	want := []string{"envoy-norwayeast", "envoy-swedencentral", "func-primary-sdc", "func-secondary-nwe", "poolpilot"}
	if !slices.Equal(names, want) {
		t.Fatalf("services = %v, want %v", names, want)
	}

	// Every mount's host path exists, and every port is published on loopback only, once.
	hostPorts := map[string]string{}
	for name, s := range cf.Services {
		for _, v := range s.Volumes {
			src := strings.SplitN(v, ":", 2)[0]
			if _, err := os.Stat(filepath.Join(root, src)); err != nil {
				t.Errorf("service %s mounts %s: %v", name, src, err)
			}
		}
		for _, p := range s.Ports {
			parts := strings.Split(p, ":")
			if len(parts) != 3 || parts[0] != "127.0.0.1" {
				t.Errorf("service %s publishes %q: want 127.0.0.1:HOST:CONTAINER", name, p)
				continue
			}
			if other, dup := hostPorts[parts[1]]; dup {
				t.Errorf("host port %s published by both %s and %s", parts[1], other, name)
			}
			hostPorts[parts[1]] = name
		}
	}

	// The Envoys: the pinned image, each with its region's committed bootstrap.
	for _, b := range bootstraps {
		s, ok := cf.Services[b.service]
		if !ok {
			t.Errorf("no service %s for bootstrap %s", b.service, b.file())
			continue
		}
		if s.Image != pinnedEnvoyImage {
			t.Errorf("service %s image = %q, want %q (the version extensions_test.go checks against)", b.service, s.Image, pinnedEnvoyImage)
		}
		mount := "./" + filepath.ToSlash(b.file()) + ":/etc/envoy/envoy.yaml:ro"
		if !slices.Contains(s.Volumes, mount) {
			t.Errorf("service %s volumes = %v, want %q", b.service, s.Volumes, mount)
		}
		if !containsSeq(s.Command, "-c", "/etc/envoy/envoy.yaml") {
			t.Errorf("service %s command = %v, want -c /etc/envoy/envoy.yaml", b.service, s.Command)
		}
		if !hasContainerPort(s.Ports, "10000") || !hasContainerPort(s.Ports, "9901") {
			t.Errorf("service %s ports = %v, want the listener 10000 and admin 9901 published", b.service, s.Ports)
		}
	}

	// poolpilot serves the compose model folder, on the address the bootstraps dial.
	pp := cf.Services["poolpilot"]
	if !slices.Contains(pp.Volumes, "./examples/failover/compose:/model:ro") {
		t.Errorf("poolpilot volumes = %v, want ./examples/failover/compose:/model:ro", pp.Volumes)
	}
	if !containsSeq(pp.Command, "--model", "/model") || !containsSeq(pp.Command, "--xds-address", "0.0.0.0:18000") ||
		!containsSeq(pp.Command, "--admin-address", "0.0.0.0:19000") {
		t.Errorf("poolpilot command = %v, want serve --model /model --xds-address 0.0.0.0:18000 --admin-address 0.0.0.0:19000", pp.Command)
	}
	if pp.Build == nil || pp.Build.Target != "poolpilot" {
		t.Errorf("poolpilot build = %+v, want the Dockerfile's poolpilot target", pp.Build)
	}

	// The compose model's backends are compose services running the demo backend.
	var m struct {
		Backends []struct {
			Name   string `yaml:"name"`
			URL    string `yaml:"url"`
			Region string `yaml:"region"`
		} `yaml:"backends"`
	}
	readYAML(t, filepath.Join(root, "examples", "failover", "compose", "model.yaml"), &m)
	if len(m.Backends) == 0 {
		t.Fatal("examples/failover/compose/model.yaml has no backends")
	}
	for _, be := range m.Backends {
		u, err := url.Parse(be.URL)
		if err != nil {
			t.Errorf("backend %s url %q: %v", be.Name, be.URL, err)
			continue
		}
		s, ok := cf.Services[u.Hostname()]
		if !ok {
			t.Errorf("backend %s url %q: host %q is not a compose service", be.Name, be.URL, u.Hostname())
			continue
		}
		if s.Build == nil || s.Build.Target != "backend" {
			t.Errorf("service %s build = %+v, want the Dockerfile's backend target", u.Hostname(), s.Build)
		}
		if !containsSeq(s.Command, "--name", be.Name) || !containsSeq(s.Command, "--region", be.Region) {
			t.Errorf("service %s command = %v, want --name %s --region %s", u.Hostname(), s.Command, be.Name, be.Region)
		}
		httpAddr := flagValue(s.Command, "--http-address")
		if _, port, err := net.SplitHostPort(httpAddr); err != nil || port != u.Port() {
			t.Errorf("service %s --http-address %q, but backend %s url %q uses port %s", u.Hostname(), httpAddr, be.Name, be.URL, u.Port())
		}
		if !hasContainerPort(s.Ports, portOf(flagValue(s.Command, "--admin-address"))) {
			t.Errorf("service %s does not publish its --admin-address port (ports %v)", u.Hostname(), s.Ports)
		}
	}
}

func containsSeq(args []string, flag, value string) bool {
	return flagValue(args, flag) == value
}

func flagValue(args []string, flag string) string {
	for i, a := range args {
		if a == flag && i+1 < len(args) {
			return args[i+1]
		}
		if v, ok := strings.CutPrefix(a, flag+"="); ok {
			return v
		}
	}
	return ""
}

func portOf(addr string) string {
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		return ""
	}
	return p
}

func hasContainerPort(ports []string, port string) bool {
	for _, p := range ports {
		if port != "" && strings.HasSuffix(p, ":"+port) {
			return true
		}
	}
	return false
}
