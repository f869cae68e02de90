package deploy

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
)

const root = "../.."

func loadCompose(t *testing.T, profiles ...string) *types.Project {
	t.Helper()
	return loadComposeEnv(t, nil, profiles...)
}

// loadComposeEnv loads docker-compose.yml with the variables of envFiles (as --env-file does).
func loadComposeEnv(t *testing.T, envFiles []string, profiles ...string) *types.Project {
	t.Helper()
	var env []string
	for _, f := range envFiles {
		b, err := os.ReadFile(filepath.Join(root, f))
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(string(b), "\n") {
			if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
				env = append(env, line)
			}
		}
	}
	opts, err := cli.NewProjectOptions([]string{filepath.Join(root, "docker-compose.yml")},
		cli.WithWorkingDirectory(root), cli.WithName("taskhook"), cli.WithProfiles(profiles),
		cli.WithEnv(env), cli.WithConsistency(true))
	if err != nil {
		t.Fatal(err)
	}
	p, err := opts.LoadProject(context.Background())
	if err != nil {
		t.Fatalf("docker-compose.yml does not load: %v", err)
	}
	return p
}

func service(t *testing.T, p *types.Project, name string) types.ServiceConfig {
	t.Helper()
	s, err := p.GetService(name)
	if err != nil {
		t.Fatalf("service %s: %v", name, err)
	}
	return s
}

func env(s types.ServiceConfig, k string) string {
	if v := s.Environment[k]; v != nil {
		return *v
	}
	return ""
}

func TestComposeServices(t *testing.T) {
	p := loadCompose(t)
	names := p.ServiceNames()
	for _, want := range []string{"nats", "postgres", "ingest", "dispatcher"} {
		found := false
		for _, n := range names {
			found = found || n == want
		}
		if !found {
			t.Errorf("service %s missing (have %v)", want, names)
		}
	}
	for _, name := range []string{"nats", "postgres", "ingest", "dispatcher"} {
		s := service(t, p, name)
		if s.HealthCheck == nil || len(s.HealthCheck.Test) < 2 || s.HealthCheck.Interval == nil {
			t.Errorf("%s: no health check with test and interval", name)
		}
	}

	nats := service(t, p, "nats")
	conf, err := os.ReadFile(filepath.Join(root, "deploy/nats/single.conf"))
	if err != nil || !strings.Contains(strings.Join(nats.Command, " "), "/etc/nats/single.conf") || !strings.Contains(string(conf), "jetstream") {
		t.Errorf("nats runs without JetStream: %v (%v)", nats.Command, err)
	}
	if !publishes(nats, 4222) {
		t.Errorf("nats does not publish 4222")
	}

	ingest := service(t, p, "ingest")
	dispatcher := service(t, p, "dispatcher")
	for _, c := range []struct {
		s          types.ServiceConfig
		port       uint32
		addrVar    string
		dockerfile string
		needs      []string
		deps       []string
	}{
		{ingest, 8080, "INGEST_ADDR", "ingest/Dockerfile", []string{"NATS_URL", "TASKHOOK_INGEST_TOKENS"}, []string{"nats"}},
		{dispatcher, 8081, "DISPATCHER_ADDR", "dispatcher/Dockerfile",
			[]string{"NATS_URL", "DATABASE_URL", "TASKHOOK_ADMIN_TOKENS", "TASKHOOK_ENCRYPTION_KEY"}, []string{"nats", "postgres"}},
	} {
		name := c.s.Name
		if !publishes(c.s, c.port) {
			t.Errorf("%s does not publish %d", name, c.port)
		}
		if got := env(c.s, c.addrVar); !strings.HasPrefix(got, "0.0.0.0:") || !strings.HasSuffix(got, ":"+itoa(c.port)) {
			t.Errorf("%s: %s=%q, want 0.0.0.0:%d inside a container", name, c.addrVar, got, c.port)
		}
		for _, v := range c.needs {
			if env(c.s, v) == "" {
				t.Errorf("%s: %s not set", name, v)
			}
		}
		if !strings.Contains(env(c.s, "NATS_URL"), "nats:4222") {
			t.Errorf("%s: NATS_URL %q does not point at the nats service", name, env(c.s, "NATS_URL"))
		}
		for _, d := range c.deps {
			if dep, ok := c.s.DependsOn[d]; !ok || dep.Condition != types.ServiceConditionHealthy {
				t.Errorf("%s: does not wait for %s to be healthy", name, d)
			}
		}
		if c.s.Build == nil || c.s.Build.Dockerfile != c.dockerfile {
			t.Fatalf("%s: build %+v, want dockerfile %s", name, c.s.Build, c.dockerfile)
		}
		checkDockerfile(t, filepath.Join(root, c.dockerfile), c.port)
	}
	if db := env(dispatcher, "DATABASE_URL"); !strings.Contains(db, "@postgres:5432/taskhook") {
		t.Errorf("dispatcher DATABASE_URL %q does not point at the postgres service", db)
	}
	pg := service(t, p, "postgres")
	if env(pg, "POSTGRES_DB") != "taskhook" || !strings.Contains(env(dispatcher, "DATABASE_URL"), env(pg, "POSTGRES_USER")+":") {
		t.Errorf("postgres database/user do not match the dispatcher's DATABASE_URL")
	}
	if key := env(dispatcher, "TASKHOOK_ENCRYPTION_KEY"); len(key) != 44 {
		t.Errorf("TASKHOOK_ENCRYPTION_KEY default is not base64 of 32 bytes: %q", key)
	}
}

// TestComposeEnvironmentIsKnownToTheBinaries: every variable compose sets is one the binary
// documents in its -h output, so that a renamed variable cannot silently stop applying.
func TestComposeEnvironmentIsKnownToTheBinaries(t *testing.T) {
	p := loadCompose(t)
	for _, name := range []string{"ingest", "dispatcher"} {
		out, err := exec.Command("go", "run", "../../"+name+"/cmd/"+name, "-h").CombinedOutput()
		if err != nil {
			t.Fatalf("%s -h: %v\n%s", name, err, out)
		}
		for k := range service(t, p, name).Environment {
			if !regexp.MustCompile(`(?m)^\s+` + regexp.QuoteMeta(k) + `\s`).Match(out) {
				t.Errorf("compose sets %s for %s, which its -h does not list", k, name)
			}
		}
	}
}

func publishes(s types.ServiceConfig, port uint32) bool {
	for _, p := range s.Ports {
		if p.Target == port && p.Published != "" {
			return true
		}
	}
	return false
}

func itoa(n uint32) string { return strconv.FormatUint(uint64(n), 10) }

// checkDockerfile: every COPY source exists in the build context, the image exposes the
// service port and its health check calls the binary's healthcheck subcommand.
func checkDockerfile(t *testing.T, path string, port uint32) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var exposes, health bool
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) == 0 {
			continue
		}
		switch strings.ToUpper(fields[0]) {
		case "COPY":
			if strings.HasPrefix(fields[1], "--from") {
				continue
			}
			for _, src := range fields[1 : len(fields)-1] {
				if _, err := os.Stat(filepath.Join(root, src)); err != nil {
					t.Errorf("%s: COPY %s: %v", path, src, err)
				}
			}
		case "EXPOSE":
			exposes = exposes || fields[1] == itoa(port)
		case "HEALTHCHECK":
			health = strings.Contains(sc.Text(), `"healthcheck"`)
		}
	}
	if !exposes || !health {
		t.Errorf("%s: exposes %d: %v, healthcheck subcommand: %v", path, port, exposes, health)
	}
}

// TestComposeClusterProfile: the documented HA profile runs three NATS nodes routed to each
// other, the stream at three replicas for both services, and a second dispatcher.
func TestComposeClusterProfile(t *testing.T) {
	single := loadCompose(t)
	for _, n := range []string{"nats-2", "nats-3", "dispatcher-2"} {
		if _, err := single.GetService(n); err == nil {
			t.Errorf("%s runs without the cluster profile", n)
		}
	}
	if cmd := strings.Join(service(t, single, "nats").Command, " "); !strings.Contains(cmd, "/etc/nats/single.conf") {
		t.Errorf("default nats command %q", cmd)
	}
	p := loadComposeEnv(t, []string{"deploy/cluster.env"}, "cluster")
	for _, n := range []string{"nats", "nats-2", "nats-3"} {
		s := service(t, p, n)
		cmd := strings.Join(s.Command, " ")
		conf := strings.TrimPrefix(cmd[strings.Index(cmd, "/etc/nats/"):], "/etc/nats/")
		b, err := os.ReadFile(filepath.Join(root, "deploy/nats", conf))
		if err != nil {
			t.Fatalf("%s: config %s: %v", n, conf, err)
		}
		for _, peer := range []string{"nats://nats:6222", "nats://nats-2:6222", "nats://nats-3:6222", "jetstream", "store_dir: /data"} {
			if !strings.Contains(string(b), peer) {
				t.Errorf("%s (%s) lacks %q", n, conf, peer)
			}
		}
		if s.HealthCheck == nil {
			t.Errorf("%s has no health check", n)
		}
	}
	for _, n := range []string{"ingest", "dispatcher", "dispatcher-2"} {
		s := service(t, p, n)
		if env(s, "TASKHOOK_STREAM_REPLICAS") != "3" {
			t.Errorf("%s: TASKHOOK_STREAM_REPLICAS=%q, want 3", n, env(s, "TASKHOOK_STREAM_REPLICAS"))
		}
		if u := env(s, "NATS_URL"); strings.Count(u, "nats://") != 3 {
			t.Errorf("%s: NATS_URL %q does not list the three nodes", n, u)
		}
	}
	d1, d2 := service(t, p, "dispatcher"), service(t, p, "dispatcher-2")
	if env(d1, "DATABASE_URL") != env(d2, "DATABASE_URL") || env(d1, "TASKHOOK_ENCRYPTION_KEY") != env(d2, "TASKHOOK_ENCRYPTION_KEY") {
		t.Error("the two dispatchers do not share the database and key")
	}
	if !publishes(d2, 8081) || d2.Ports[0].Published == d1.Ports[0].Published {
		t.Error("dispatcher-2 must publish its own host port")
	}
}
