package config

import (
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"
)

// No engine runs here, so compose.yaml is checked, not run: it parses, every service has an
// image, ports are valid and bound to loopback, depends_on names services that exist, secrets
// come from the environment, every mounted file exists, and the amoskys configs it mounts validate.

const repoRoot = "../.."

type composeFile struct {
	Name     string                    `yaml:"name"`
	Services map[string]composeService `yaml:"services"`
	Volumes  map[string]any            `yaml:"volumes"`
}

type composeService struct {
	Image       string            `yaml:"image"`
	Build       map[string]any    `yaml:"build"`
	Hostname    string            `yaml:"hostname"`
	Command     []string          `yaml:"command"`
	Environment map[string]string `yaml:"environment"`
	Volumes     []string          `yaml:"volumes"`
	Ports       []string          `yaml:"ports"`
	DependsOn   any               `yaml:"depends_on"`
}

func loadCompose(t *testing.T) composeFile {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot, "compose.yaml"))
	require.NoError(t, err)
	var cf composeFile
	require.NoError(t, yaml.Unmarshal(b, &cf)) // yaml.v3 resolves the <<: merge keys like compose
	return cf
}

func dependsOn(t *testing.T, v any) map[string]string {
	out := map[string]string{}
	switch d := v.(type) {
	case nil:
	case []any:
		for _, s := range d {
			out[s.(string)] = "service_started"
		}
	case map[string]any:
		for k, c := range d {
			cond, _ := c.(map[string]any)["condition"].(string)
			out[k] = cond
		}
	default:
		t.Fatalf("depends_on of unexpected shape %T", v)
	}
	return out
}

func TestComposeServices(t *testing.T) {
	cf := loadCompose(t)
	require.Equal(t, "amoskys", cf.Name)
	var names []string
	for n := range cf.Services {
		names = append(names, n)
	}
	sort.Strings(names)
	require.Equal(t, []string{"agent-1", "agent-2", "api", "clickhouse", "detector", "grafana", "migrate", "postgres", "prometheus"}, names)

	imageRE := regexp.MustCompile(`^(\$\{AMOSKYS_IMAGE:-[a-z0-9./-]+:[a-z0-9.-]+\}|[a-z0-9./-]+:[A-Za-z0-9._-]+)$`)
	interpolation := regexp.MustCompile(`^\$\{[A-Z_]+(:\?[^}]+|:-[^}]*)?\}$`)
	secretName := regexp.MustCompile(`PASSWORD|TOKEN|SECRET`)
	hostPorts := map[string]string{}
	for name, s := range cf.Services {
		require.Regexp(t, imageRE, s.Image, "%s: image", name)
		require.NotContains(t, s.Image, ":latest", "%s: pin image tags", name)
		for dep, cond := range dependsOn(t, s.DependsOn) {
			_, ok := cf.Services[dep]
			require.True(t, ok, "%s depends on unknown service %s", name, dep)
			require.NotEqual(t, name, dep)
			require.Contains(t, []string{"service_started", "service_healthy", "service_completed_successfully"}, cond, "%s -> %s", name, dep)
		}
		for k, v := range s.Environment {
			if secretName.MatchString(k) {
				require.Regexp(t, interpolation, v, "%s: %s must come from the environment, not be written here", name, k)
			}
		}
		for _, p := range s.Ports {
			parts := strings.Split(p, ":")
			require.Len(t, parts, 3, "%s: port %q must name the host address", name, p)
			require.Equal(t, "127.0.0.1", parts[0], "%s: publish on loopback only", name)
			for _, n := range parts[1:] {
				port, err := strconv.Atoi(n)
				require.NoError(t, err)
				require.True(t, port >= 1 && port <= 65535)
			}
			prev, clash := hostPorts[parts[1]]
			require.False(t, clash, "%s and %s publish host port %s", name, prev, parts[1])
			hostPorts[parts[1]] = name
		}
		for _, v := range s.Volumes {
			src, _, _ := strings.Cut(v, ":")
			if strings.HasPrefix(src, "./") {
				// Directories of other parts may be empty (absent from a clone); our files must exist.
				if !slices.Contains([]string{"./pipelines", "./dashboards", "./models", "./rules"}, src) {
					_, err := os.Stat(filepath.Join(repoRoot, src))
					require.NoError(t, err, "%s mounts %s", name, src)
				}
			} else {
				_, named := cf.Volumes[src]
				require.True(t, named, "%s: volume %s is not declared", name, src)
			}
		}
	}
	// Healthy dependencies have healthchecks to wait for, and the two agents are two hosts.
	require.NotEqual(t, cf.Services["agent-1"].Hostname, cf.Services["agent-2"].Hostname)
	require.Equal(t, "service_completed_successfully", dependsOn(t, cf.Services["detector"].DependsOn)["migrate"])
	require.Equal(t, "service_healthy", dependsOn(t, cf.Services["migrate"].DependsOn)["clickhouse"])
}

// Every amoskys config that compose.yaml runs validates, and its role matches the service.
func TestComposeAmoskysConfigs(t *testing.T) {
	cf := loadCompose(t)
	roles := map[string]string{"agent-1": RoleAgent, "agent-2": RoleAgent, "detector": RoleDetect, "api": RoleAPI, "migrate": RoleAPI}
	for svc, role := range roles {
		s := cf.Services[svc]
		i := slices.Index(s.Command, "-c")
		require.Positive(t, i, svc)
		inContainer := s.Command[i+1]
		local, ok := strings.CutPrefix(inContainer, "/etc/amoskys/compose/")
		require.True(t, ok, "%s: config %s is not from ./compose", svc, inContainer)
		c, err := Load(filepath.Join(repoRoot, "compose", local), Options{SkipPipelineLint: true})
		if err != nil {
			// Pipelines come from other parts of the project; until they exist, only their absence may fail.
			for _, e := range err.(Errors) {
				require.Contains(t, e.Msg, "pipeline file", "%s: %s", svc, e)
				require.Contains(t, e.Msg, "does not exist", "%s: %s", svc, e)
			}
		}
		require.Equal(t, role, c.Role, svc)
		require.True(t, strings.HasPrefix(c.Bus.DSN, "postgres://amoskys@postgres:5432/"), svc)
		envs := []string{c.API.TokenEnv}
		if role != RoleAgent { // an agent never opens the warehouse
			require.True(t, strings.HasPrefix(c.Warehouse.DSN, "clickhouse://clickhouse:9000/"), svc)
			envs = append(envs, c.Warehouse.UsernameEnv, c.Warehouse.PasswordEnv)
		}
		for _, env := range envs {
			_, set := s.Environment[env]
			require.True(t, set, "%s: compose must set %s", svc, env)
		}
		_, port, err := net.SplitHostPort(c.API.Listen)
		require.NoError(t, err)
		require.Equal(t, "8080", port, svc)
	}
}

func TestPrometheusScrapesEveryAmoskys(t *testing.T) {
	cf := loadCompose(t)
	b, err := os.ReadFile(filepath.Join(repoRoot, "prometheus/prometheus.yml"))
	require.NoError(t, err)
	var pc struct {
		ScrapeConfigs []struct {
			JobName       string `yaml:"job_name"`
			StaticConfigs []struct {
				Targets []string `yaml:"targets"`
			} `yaml:"static_configs"`
		} `yaml:"scrape_configs"`
	}
	require.NoError(t, yaml.Unmarshal(b, &pc))
	var targets []string
	for _, sc := range pc.ScrapeConfigs {
		for _, st := range sc.StaticConfigs {
			for _, tg := range st.Targets {
				host, _, err := net.SplitHostPort(tg)
				require.NoError(t, err)
				_, ok := cf.Services[host]
				require.True(t, ok, "target %s is not a compose service", tg)
				targets = append(targets, tg)
			}
		}
	}
	for _, svc := range []string{"agent-1", "agent-2", "detector", "api"} {
		require.Contains(t, targets, svc+":8080")
	}
}
