// Package snmptest starts a real, private Debian net-snmp agent (snmpd) on 127.0.0.1 for tests:
// an unprivileged process on a free high port with a v2c community and a v3 authPriv user
// (SHA/AES), numeric OIDs only (no MIBs), its persistent state in the test's temp dir.
package snmptest

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Agent is a running snmpd.
type Agent struct {
	Host      string // 127.0.0.1
	Port      uint16
	Community string // v2c read-only community
	// CommunityNoIfX sees system, IF-MIB ifTable and HOST-RESOURCES but not ifXTable: an agent
	// without 64-bit counters, as old devices are.
	CommunityNoIfX string
	User           string // v3 user (authPriv)
	AuthPass       string // SHA
	PrivPass       string // AES
	Dir            string // conf, log, pid and persistent files
	cmd            *exec.Cmd
}

// Addr is host:port.
func (a *Agent) Addr() string { return net.JoinHostPort(a.Host, strconv.Itoa(int(a.Port))) }

// LogTail returns the end of the agent's log (for failure messages).
func (a *Agent) LogTail() string {
	b, _ := os.ReadFile(filepath.Join(a.Dir, "snmpd.log"))
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return string(b)
}

// Binary returns the path of snmpd, or an error saying how to get it.
func Binary() (string, error) {
	for _, p := range []string{"snmpd", "/usr/sbin/snmpd"} {
		if path, err := exec.LookPath(p); err == nil {
			return path, nil
		}
	}
	return "", errors.New("snmpd not found: run scripts/deps/20-snmpd.sh (apt-get install snmpd)")
}

// Options change the agent Start makes.
type Options struct {
	Port    uint16 // 0: a free port
	SysName string // default amoskys-snmptest
}

// Start starts an agent for t and stops it at cleanup. Without snmpd the test is skipped, unless
// AMOSKYS_REQUIRE_DEPS=1, when it fails.
func Start(t testing.TB) *Agent {
	t.Helper()
	return StartWith(t, Options{})
}

// StartWith is Start with options.
func StartWith(t testing.TB, o Options) *Agent {
	t.Helper()
	bin, err := Binary()
	if err != nil {
		if os.Getenv("AMOSKYS_REQUIRE_DEPS") == "1" {
			t.Fatalf("AMOSKYS_REQUIRE_DEPS=1: %v", err)
		}
		t.Skip(err.Error())
	}
	a, err := start(bin, t.TempDir(), o)
	if err != nil {
		t.Fatalf("starting snmpd: %v", err)
	}
	t.Cleanup(a.Stop)
	return a
}

// StartDir starts an agent whose files live in dir (for benchmarks and tools); call Stop.
func StartDir(dir string) (*Agent, error) {
	return StartDirWith(dir, Options{})
}

// StartDirWith is StartDir with options.
func StartDirWith(dir string, o Options) (*Agent, error) {
	bin, err := Binary()
	if err != nil {
		return nil, err
	}
	return start(bin, dir, o)
}

func freeUDPPort() (uint16, error) {
	c, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer c.Close()
	return uint16(c.LocalAddr().(*net.UDPAddr).Port), nil
}

func start(bin, dir string, o Options) (*Agent, error) {
	if o.SysName == "" {
		o.SysName = "amoskys-snmptest"
	}
	a := &Agent{Host: "127.0.0.1", Community: "amoskys-ro", CommunityNoIfX: "amoskys-noifx", User: "amoskysv3",
		AuthPass: "auth-secret-123", PrivPass: "priv-secret-456", Dir: dir}
	persist := filepath.Join(dir, "persist")
	mibs := filepath.Join(dir, "mibs")
	for _, d := range []string{persist, mibs} {
		if err := os.MkdirAll(d, 0o777); err != nil {
			return nil, err
		}
	}
	// snmpd drops to nobody when started as root: it must reach its files.
	dropArgs := []string{}
	if os.Geteuid() == 0 {
		if _, err := user.Lookup("nobody"); err == nil {
			for _, d := range []string{dir, persist} {
				_ = os.Chmod(d, 0o777)
			}
			if p := filepath.Dir(dir); p != "/" {
				_ = os.Chmod(p, 0o755) // t.TempDir's parent is 0700
			}
			dropArgs = []string{"-u", "nobody", "-g", "nogroup"}
		}
	}
	var lastErr error
	for attempt := 0; attempt < 5; attempt++ {
		port := o.Port
		if port == 0 {
			var err error
			if port, err = freeUDPPort(); err != nil {
				return nil, err
			}
		}
		a.Port = port
		conf := fmt.Sprintf(`agentAddress udp:127.0.0.1:%d
rocommunity %s 127.0.0.1
view noifx included .1.3.6.1.2.1.1
view noifx included .1.3.6.1.2.1.2
view noifx included .1.3.6.1.2.1.25
rocommunity %s 127.0.0.1 -V noifx
createUser %s SHA "%s" AES "%s"
rouser %s priv
sysLocation amoskys-test
sysContact amoskys@localhost
sysName %s
`, port, a.Community, a.CommunityNoIfX, a.User, a.AuthPass, a.PrivPass, a.User, o.SysName)
		confPath := filepath.Join(dir, "snmpd.conf")
		if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
			return nil, err
		}
		logPath := filepath.Join(dir, "snmpd.log")
		_ = os.Remove(logPath)
		args := append([]string{"-f", "-C", "-c", confPath, "-M", mibs, "-m", "", "-I", "-smux",
			"-p", filepath.Join(dir, "snmpd.pid"), "-Lf", logPath}, dropArgs...)
		cmd := exec.Command(bin, args...)
		cmd.Env = append(os.Environ(), "SNMP_PERSISTENT_DIR="+persist, "MIBDIRS="+mibs, "MIBS=")
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			return nil, err
		}
		a.cmd = cmd
		if err := a.waitReady(10*time.Second, o.SysName); err != nil {
			a.Stop()
			lastErr = fmt.Errorf("%w; log: %s %s", err, a.LogTail(), stderr.String())
			if o.Port == 0 && strings.Contains(a.LogTail(), "Error opening specified endpoint") {
				continue // port taken in the meantime: try another
			}
			return nil, lastErr
		}
		return a, nil
	}
	return nil, lastErr
}

// waitReady waits until the agent answers a v2c GET of sysName (a raw BER packet: no client
// library needed here).
func (a *Agent) waitReady(limit time.Duration, sysName string) error {
	deadline := time.Now().Add(limit)
	exited := make(chan struct{})
	go func() { _, _ = a.cmd.Process.Wait(); close(exited) }()
	pkt := getRequest(a.Community, []int{1, 3, 6, 1, 2, 1, 1, 5, 0})
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return errors.New("snmpd exited at start")
		default:
		}
		c, err := net.Dial("udp", a.Addr())
		if err == nil {
			_ = c.SetDeadline(time.Now().Add(200 * time.Millisecond))
			_, _ = c.Write(pkt)
			buf := make([]byte, 1500)
			n, err := c.Read(buf)
			c.Close()
			if err == nil && n > 0 && bytes.Contains(buf[:n], []byte(sysName)) {
				return nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return errors.New("snmpd did not answer within " + limit.String())
}

// Stop kills the agent.
func (a *Agent) Stop() {
	if a.cmd != nil && a.cmd.Process != nil {
		_ = a.cmd.Process.Kill()
		_ = a.cmd.Wait()
		a.cmd = nil
	}
}

// getRequest encodes a minimal SNMPv2c GetRequest for one OID.
func getRequest(community string, oid []int) []byte {
	tlv := func(tag byte, body []byte) []byte {
		out := []byte{tag}
		if len(body) < 128 {
			out = append(out, byte(len(body)))
		} else {
			out = append(out, 0x82, byte(len(body)>>8), byte(len(body)))
		}
		return append(out, body...)
	}
	enc := []byte{byte(oid[0]*40 + oid[1])}
	for _, n := range oid[2:] {
		var b []byte
		for {
			b = append([]byte{byte(n & 0x7f)}, b...)
			n >>= 7
			if n == 0 {
				break
			}
		}
		for i := 0; i < len(b)-1; i++ {
			b[i] |= 0x80
		}
		enc = append(enc, b...)
	}
	vb := tlv(0x30, append(tlv(0x06, enc), 0x05, 0x00))
	pdu := tlv(0xa0, append(append(append(tlv(0x02, []byte{1}), tlv(0x02, []byte{0})...), tlv(0x02, []byte{0})...), tlv(0x30, vb)...))
	msg := append(append(tlv(0x02, []byte{1}), tlv(0x04, []byte(community))...), pdu...)
	return tlv(0x30, msg)
}
