// Package geometric_test runs real processes that reproduce privilege-escalation and
// process-topology patterns, and checks that each is detected through the real path:
// the process collector (kernel process connector + /proc) -> normalise -> window -> geometric.
package geometric_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/amoskys/amoskys/plugins/collect/connections"
	"github.com/amoskys/amoskys/plugins/collect/process"
	"github.com/amoskys/amoskys/processors/geometric"
	"github.com/amoskys/amoskys/processors/normalise"
	"github.com/amoskys/amoskys/processors/window"
	"github.com/amoskys/amoskys/schemas"
)

const nobody = 65534

var requireDeps = os.Getenv("AMOSKYS_REQUIRE_DEPS") == "1"

func skipOrFail(t *testing.T, format string, a ...any) {
	t.Helper()
	if requireDeps {
		t.Fatalf(format, a...)
	}
	t.Skipf(format, a...)
}

func repoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// pipeline is collect -> normalise -> window -> geometric, in process.
type pipeline struct {
	win     *window.Window
	mu      sync.Mutex
	results []judged
	sockets []judged // connection and listener events
	vectors []*schemas.FeatureVector
	events  int
}

type judged struct {
	ev         *schemas.TelemetryEvent
	result     *schemas.LayerResult
	suppressed int // matches dropped by the allow-list
}

func startPipeline(t *testing.T) *pipeline {
	t.Helper()
	if runtime.GOOS != "linux" || os.Geteuid() != 0 {
		skipOrFail(t, "needs Linux and root for the process connector and setuid binaries")
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	col, err := process.NewCollector(process.Config{Interval: 2 * time.Second, UseConnector: process.ConnectorOn, FlushInterval: 20 * time.Millisecond})
	if err != nil {
		t.Fatalf("collector: %v", err)
	}
	if err := col.Start(ctx); err != nil {
		skipOrFail(t, "process connector unavailable: %v", err)
	}
	emitInitial := false
	conns, err := connections.NewCollector(connections.Config{Interval: 200 * time.Millisecond, EmitInitial: &emitInitial})
	if err != nil {
		t.Fatalf("connections collector: %v", err)
	}
	if err := conns.Start(ctx); err != nil {
		t.Fatalf("connections collector: %v", err)
	}
	norm := normalise.New(normalise.Config{})
	wcfg := window.DefaultConfig()
	wcfg.AllowedLateness = 2 * time.Second
	win, err := window.New(wcfg)
	if err != nil {
		t.Fatal(err)
	}
	sigmaDirs := []string{}
	if d := filepath.Join(repoRoot(), "..", "shared", "data", "sigma", "rules", "linux"); dirExists(d) {
		sigmaDirs = append(sigmaDirs, d) // every SigmaHQ Linux rule, as the detect pipeline may load them
	}
	// The plugin's default allow-list: Go's own build directory (this test binary runs from it).
	eng, err := geometric.New(geometric.Config{RuleDirs: []string{filepath.Join(repoRoot(), "rules")}, SigmaDirs: sigmaDirs, Allow: geometric.DefaultAllow})
	if err != nil {
		t.Fatal(err)
	}
	p := &pipeline{win: win}
	consume := func(events <-chan []*schemas.TelemetryEvent) {
		for batch := range events {
			for _, ev := range batch {
				if err := norm.Event(ev); err != nil {
					continue
				}
				p.mu.Lock() // one event at a time through window and geometric, as one pipeline thread
				vs := win.Add(ev)
				r, v, ok := eng.Judge(ev)
				p.events++
				p.vectors = append(p.vectors, vs...)
				j := judged{ev: ev, suppressed: v.Suppressed}
				if ok {
					j.result = &r
				}
				switch ev.Kind {
				case schemas.KindProcessExec:
					p.results = append(p.results, j)
				case schemas.KindConnection, schemas.KindListener:
					p.sockets = append(p.sockets, j)
				}
				p.mu.Unlock()
			}
		}
	}
	go consume(col.Events())
	go consume(conns.Events())
	return p
}

func dirExists(d string) bool { st, err := os.Stat(d); return err == nil && st.IsDir() }

// subtree returns the judged exec events of root and its descendants.
func (p *pipeline) subtree(root int) []judged {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []judged
	for _, j := range p.results {
		pr := j.ev.Process
		in := int(pr.PID) == root
		for _, a := range pr.Ancestry {
			if int(a.PID) == root {
				in = true
			}
		}
		if in {
			out = append(out, j)
		}
	}
	return out
}

func ruleIDs(js []judged) map[string]bool {
	ids := map[string]bool{}
	for _, j := range js {
		if j.result != nil {
			for _, r := range j.result.Reasons {
				ids[r.ID] = true
			}
		}
	}
	return ids
}

func describe(js []judged) string {
	var b strings.Builder
	for _, j := range js {
		pr := j.ev.Process
		fmt.Fprintf(&b, "  pid %d exe %q name %q cmd %q uid %d euid %d deleted %v stdio_socket %v cap %q", pr.PID, pr.Exe, pr.Name, pr.Cmdline, pr.UID, pr.EUID, pr.ExeDeleted, pr.StdioSocket, pr.CapEff)
		if len(pr.Ancestry) > 0 {
			fmt.Fprintf(&b, " parent %q uid %d euid %d", pr.Ancestry[0].Exe, pr.Ancestry[0].UID, pr.Ancestry[0].EUID)
		}
		if j.result != nil {
			for _, r := range j.result.Reasons {
				fmt.Fprintf(&b, " [%s %.2f]", r.ID, r.Score)
			}
		}
		b.WriteString("\n")
	}
	return b.String()
}

// await waits until the subtree of root shows every wanted rule id.
func (p *pipeline) await(t *testing.T, root int, want ...string) []judged {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		js := p.subtree(root)
		ids := ruleIDs(js)
		missing := []string{}
		for _, w := range want {
			if !ids[w] {
				missing = append(missing, w)
			}
		}
		if len(missing) == 0 {
			return js
		}
		if time.Now().After(deadline) {
			t.Fatalf("pid %d: rules %v not raised; exec events seen:\n%s", root, missing, describe(js))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// workDir is a directory for setuid and capability binaries: under /var/tmp (on a filesystem
// without nosuid here), reachable by nobody.
func workDir(t *testing.T) string {
	t.Helper()
	d, err := os.MkdirTemp("/var/tmp", "amoskys-geo-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(d) })
	if err := os.Chmod(d, 0o755); err != nil {
		t.Fatal(err)
	}
	var st syscall.Statfs_t
	if err := syscall.Statfs(d, &st); err == nil && st.Flags&0x2 != 0 { // ST_NOSUID
		skipOrFail(t, "%s is mounted nosuid: setuid tests cannot run", d)
	}
	return d
}

func buildHelper(t *testing.T, dir string) string {
	t.Helper()
	out := filepath.Join(dir, "helper")
	cmd := exec.Command("go", "build", "-buildvcs=false", "-o", out, ".")
	cmd.Dir = filepath.Join(repoRoot(), "tests", "geometric", "testdata", "helper")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building helper: %v\n%s", err, b)
	}
	return out
}

func install(t *testing.T, src, dst string, uid int, mode os.FileMode) string {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, b, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(dst, uid, 0); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dst, mode); err != nil { // after chown, which clears setuid bits
		t.Fatal(err)
	}
	return dst
}

// asNobody runs a shell as nobody that runs script; the shell stays the parent (the trailing
// `; true` keeps it from exec'ing the last command).
func asNobody(t *testing.T, script string) int {
	t.Helper()
	cmd := exec.Command("/bin/sh", "-c", script+"; true")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nobody, Gid: nobody}}
	cmd.Env = []string{"PATH=/usr/bin:/bin"}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", script, err, out)
	}
	return cmd.Process.Pid
}

// run runs a command under a root shell, so its parent is an ordinary shell and not this test
// binary (whose directory, Go's build dir, is on the default allow-list).
func run(t *testing.T, name string, args ...string) int {
	t.Helper()
	script := shellQuote(name)
	for _, a := range args {
		script += " " + shellQuote(a)
	}
	cmd := exec.Command("/bin/sh", "-c", script+"; true")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %v: %v\n%s", name, args, err, out)
	}
	return cmd.Process.Pid
}

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

func TestGeometricRealProcesses(t *testing.T) {
	p := startPipeline(t)
	dir := workDir(t)
	helper := buildHelper(t, dir)

	t.Run("escalation/setuid shell copy run by nobody", func(t *testing.T) {
		sh := install(t, "/bin/bash", filepath.Join(dir, "bash"), 0, 0o4755|os.ModeSetuid)
		pid := asNobody(t, sh+" -p -c 'sleep 0.2; true'") // '; true': bash stays the parent instead of exec'ing sleep
		p.await(t, pid, "amoskys-setuid-shell", "amoskys-privilege-crossing", "amoskys-setuid-outside-system")
	})
	rootHelper := install(t, helper, filepath.Join(dir, "suhelper"), 0, 0o4755|os.ModeSetuid)
	t.Run("escalation/setuid helper spawns a root shell under a non-root parent", func(t *testing.T) {
		pid := asNobody(t, rootHelper+" spawn-root /bin/sh -c 'sleep 0.2; true'")
		js := p.await(t, pid, "amoskys-privilege-crossing")
		shellFlagged := false
		for _, j := range js {
			if j.ev.Process.Exe == "/usr/bin/dash" || strings.HasSuffix(j.ev.Process.Exe, "/sh") {
				shellFlagged = shellFlagged || ruleIDs([]judged{j})["amoskys-privilege-crossing"]
			}
		}
		if !shellFlagged {
			t.Fatalf("the root shell itself was not flagged:\n%s", describe(js))
		}
	})
	t.Run("escalation/euid differs from uid", func(t *testing.T) {
		h := install(t, helper, filepath.Join(dir, "daemonhelper"), 1, 0o4755|os.ModeSetuid) // owned by daemon (uid 1)
		pid := asNobody(t, h+" sleep 0.2")
		js := p.await(t, pid, "amoskys-setuid-outside-system")
		if ruleIDs(js)["amoskys-privilege-crossing"] {
			t.Fatalf("euid 1 is not root, yet privilege-crossing fired:\n%s", describe(js))
		}
	})
	t.Run("escalation/sudo-less euid 0 under a user session", func(t *testing.T) {
		pid := asNobody(t, rootHelper+" sleep 0.2")
		p.await(t, pid, "amoskys-privilege-crossing", "amoskys-setuid-outside-system")
	})
	t.Run("escalation/capability-raised binary", func(t *testing.T) {
		setcap, err := exec.LookPath("setcap")
		if err != nil {
			for _, c := range []string{"/usr/sbin/setcap", "/sbin/setcap"} {
				if _, e := os.Stat(c); e == nil {
					setcap, err = c, nil
				}
			}
		}
		if err != nil {
			skipOrFail(t, "setcap not installed (scripts/deps/30-libcap.sh installs libcap2-bin)")
		}
		h := install(t, helper, filepath.Join(dir, "caphelper"), 0, 0o755)
		run(t, setcap, "cap_net_raw,cap_dac_override+ep", h)
		pid := asNobody(t, h+" sleep 0.2")
		p.await(t, pid, "amoskys-capability-raised")
	})

	t.Run("topology/shell under a network daemon", func(t *testing.T) {
		d := install(t, helper, filepath.Join(dir, "nginx"), 0, 0o755)
		pid := run(t, d, "spawn", "/bin/sh", "-c", "sleep 0.2; true")
		p.await(t, pid, "amoskys-shell-under-daemon")
	})
	t.Run("topology/exec from /tmp", func(t *testing.T) {
		td, err := os.MkdirTemp("/tmp", "amoskys-geo-")
		if err != nil {
			t.Fatal(err)
		}
		defer os.RemoveAll(td)
		s := install(t, "/bin/sleep", filepath.Join(td, "sleepy"), 0, 0o755)
		pid := run(t, s, "0.2")
		p.await(t, pid, "amoskys-exec-writable-dir")
	})
	t.Run("topology/deleted executable", func(t *testing.T) {
		pid := run(t, "/usr/bin/env", "HELPER_DIR="+dir, helper, "deleted", "/bin/sleep", "0.3")
		p.await(t, pid, "amoskys-exec-deleted")
	})
	t.Run("topology/masquerading name", func(t *testing.T) {
		target := install(t, "/bin/sleep", filepath.Join(dir, "xmrig"), 0, 0o755)
		link := filepath.Join(dir, "sshd")
		if err := os.Symlink(target, link); err != nil {
			t.Fatal(err)
		}
		pid := run(t, link, "0.2")
		p.await(t, pid, "amoskys-name-masquerade")
		pid = run(t, "/bin/bash", "-c", "exec -a '[kworker/0:9]' /bin/sleep 0.2")
		p.await(t, pid, "amoskys-kernel-thread-lookalike")
	})
	t.Run("topology/reverse shell on loopback", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		go func() {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close()
			_, _ = io.WriteString(c, "sleep 0.3\nexit\n")
			_, _ = io.Copy(io.Discard, c)
		}()
		pid := run(t, helper, "revshell", ln.Addr().String())
		p.await(t, pid, "amoskys-reverse-shell")
	})

	t.Run("topology/new listener opened by a program in a world-writable directory", func(t *testing.T) {
		l := install(t, helper, filepath.Join(dir, "listener"), 0, 0o755)
		// Listening on the wildcard address (no traffic is sent anywhere): loopback listeners are
		// ordinary and filtered out by the rule.
		cmd := exec.Command(l, "listen", "0.0.0.0:0", "3")
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		defer cmd.Wait()
		deadline := time.Now().Add(10 * time.Second)
		for {
			p.mu.Lock()
			found := false
			var seen []string
			for _, j := range p.sockets {
				if j.ev.Kind == schemas.KindListener && int(j.ev.Conn.PID) == cmd.Process.Pid {
					seen = append(seen, fmt.Sprintf("%+v", *j.ev.Conn))
					found = found || ruleIDs([]judged{j})["amoskys-new-listener-non-service"]
				}
			}
			p.mu.Unlock()
			if found {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("no amoskys-new-listener-non-service for pid %d; listener events: %v", cmd.Process.Pid, seen)
			}
			time.Sleep(50 * time.Millisecond)
		}
	})

	// The window stage saw the same events and flagged the escalations and the new executables
	// on the host and process vectors of the windows they fell in.
	t.Run("window flags", func(t *testing.T) {
		p.mu.Lock()
		vs := append(p.vectors, p.win.Flush()...)
		p.mu.Unlock()
		flags := map[string]map[string]bool{}
		for _, v := range vs {
			for _, f := range v.Flags {
				if flags[f] == nil {
					flags[f] = map[string]bool{}
				}
				flags[f][v.KeyKind] = true
			}
		}
		for _, f := range []string{window.FlagPrivilegeEscalation, window.FlagNewExecutable} {
			if !flags[f][window.KindHost] || !flags[f][window.KindProcess] {
				t.Errorf("flag %s on host/process vectors: %v", f, flags[f])
			}
		}
		if !flags[window.FlagNewListener][window.KindHost] {
			t.Errorf("flag %s on host vectors: %v", window.FlagNewListener, flags[window.FlagNewListener])
		}
	})
}

// Ordinary work raises nothing above LOW through the same path.
func TestOrdinaryWorkStaysLow(t *testing.T) {
	p := startPipeline(t)
	// A project directory as a developer has one (not /tmp, where running a fresh binary is
	// exactly what the /tmp execution rules look for): under the user's cache directory, since
	// the checkout itself may live under /tmp (a CI clone).
	cache, err := os.UserCacheDir()
	if err != nil {
		t.Fatal(err)
	}
	base := filepath.Join(cache, "amoskys", "ordinary-work")
	if err := os.MkdirAll(base, 0o755); err != nil {
		t.Fatal(err)
	}
	dir, err := os.MkdirTemp(base, "ordinary-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module tiny\n\ngo 1.22\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "main.go"), []byte("package main\n\nimport \"fmt\"\n\nfunc main() { fmt.Println(\"hi\") }\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "main_test.go"), []byte("package main\n\nimport \"testing\"\n\nfunc TestHi(t *testing.T) { main() }\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// `make test` as a developer runs it: a shell recipe, go vet, go test (whose test binary runs
	// from Go's temporary build directory).
	if err := os.WriteFile(filepath.Join(dir, "Makefile"), []byte("test:\n\techo testing\n\tls -la > listing.txt\n\tgrep -c main main.go\n\tgo vet ./...\n\tgo test -count=1 ./...\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var roots []int
	build := exec.Command("go", "build", "-o", filepath.Join(dir, "tiny"), ".")
	build.Dir = dir
	build.Env = append(os.Environ(), "CGO_ENABLED=0", "GOFLAGS=-buildvcs=false")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	roots = append(roots, build.Process.Pid)
	mk := exec.Command("make", "-C", dir, "test")
	mk.Env = append(os.Environ(), "CGO_ENABLED=0", "GOFLAGS=-buildvcs=false")
	if out, err := mk.CombinedOutput(); err != nil {
		t.Fatalf("make: %v\n%s", err, out)
	}
	roots = append(roots, mk.Process.Pid)
	sh := exec.Command("/bin/bash", "-i")
	sh.Stdin = strings.NewReader("cd " + dir + "\nls\ncat go.mod | wc -l\n" + filepath.Join(dir, "tiny") + "\nexit\n")
	if out, err := sh.CombinedOutput(); err != nil {
		t.Fatalf("interactive shell: %v\n%s", err, out)
	}
	roots = append(roots, sh.Process.Pid)
	// A package install and removal: dpkg runs the package's maintainer scripts through sh.
	if _, err := exec.LookPath("dpkg-deb"); err == nil {
		pkg := filepath.Join(dir, "pkg")
		for _, d := range []string{"DEBIAN", "usr/share/doc/amoskys-ordinary"} {
			if err := os.MkdirAll(filepath.Join(pkg, d), 0o755); err != nil {
				t.Fatal(err)
			}
		}
		control := "Package: amoskys-ordinary\nVersion: 1.0\nArchitecture: all\nMaintainer: AMOSKYS tests <tests@amoskys.invalid>\nDescription: ordinary-work fixture\n"
		files := map[string]string{
			"DEBIAN/control":                        control,
			"DEBIAN/postinst":                       "#!/bin/sh\nset -e\necho configured > /dev/null\nmkdir -p /var/lib/amoskys-ordinary\n",
			"DEBIAN/postrm":                         "#!/bin/sh\nset -e\nrm -rf /var/lib/amoskys-ordinary\n",
			"usr/share/doc/amoskys-ordinary/README": "fixture\n",
		}
		for name, body := range files {
			mode := os.FileMode(0o644)
			if strings.HasPrefix(name, "DEBIAN/post") {
				mode = 0o755
			}
			if err := os.WriteFile(filepath.Join(pkg, name), []byte(body), mode); err != nil {
				t.Fatal(err)
			}
		}
		deb := filepath.Join(dir, "amoskys-ordinary.deb")
		for _, args := range [][]string{{"dpkg-deb", "--build", "--root-owner-group", pkg, deb}, {"dpkg", "-i", deb}, {"dpkg", "-r", "amoskys-ordinary"}} {
			c := exec.Command(args[0], args[1:]...)
			c.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
			if out, err := c.CombinedOutput(); err != nil {
				t.Fatalf("%v: %v\n%s", args, err, out)
			}
			roots = append(roots, c.Process.Pid)
		}
	} else if requireDeps {
		t.Fatal("dpkg-deb not found")
	}
	time.Sleep(time.Second) // let the collector flush
	seen, suppressed := 0, 0
	for _, root := range roots {
		js := p.subtree(root)
		seen += len(js)
		for _, j := range js {
			suppressed += j.suppressed
			if j.result != nil && *j.result.Score > 0.3 {
				t.Errorf("ordinary work raised %.2f (> LOW):\n%s", *j.result.Score, describe([]judged{j}))
			}
		}
	}
	if seen < 5 {
		t.Fatalf("only %d exec events seen for go build, make and a shell", seen)
	}
	set := map[string]bool{}
	for _, root := range roots {
		for id := range ruleIDs(p.subtree(root)) {
			set[id] = true
		}
	}
	ids := []string{}
	for id := range set {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	t.Logf("%d exec events of ordinary work judged; rules at or below LOW: %v; %d matches dropped by the default allow-list (Go's build directory)", seen, ids, suppressed)
}
