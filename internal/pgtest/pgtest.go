// Package pgtest starts a throwaway PostgreSQL cluster for tests and benchmarks: initdb and pg_ctl
// from Debian's postgresql package, run as the postgres user when the caller is root, listening
// only on 127.0.0.1 on a free port, with its data in a temp dir that Stop removes.
package pgtest

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// ErrNotInstalled says no PostgreSQL server binaries were found.
var ErrNotInstalled = errors.New("PostgreSQL server not installed (initdb, pg_ctl): run scripts/deps/10-postgres.sh")

// Options shape the cluster.
type Options struct {
	// TLS turns on ssl with a fresh CA and server certificate for 127.0.0.1; the DSN then asks for
	// sslmode=verify-full against that CA.
	TLS bool
}

// Cluster is a running PostgreSQL.
type Cluster struct {
	Dir    string // temp dir holding data, socket, log and certificates
	Port   int
	DSN    string // postgres://postgres@127.0.0.1:PORT/postgres?sslmode=...
	CAFile string // with TLS: the CA certificate to verify the server with
	bin    string
	cred   *syscall.Credential
}

// BinDir finds the directory of initdb and pg_ctl: the newest /usr/lib/postgresql/N/bin, else PATH.
func BinDir() (string, error) {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool {
		vi, _ := strconv.Atoi(filepath.Base(filepath.Dir(dirs[i])))
		vj, _ := strconv.Atoi(filepath.Base(filepath.Dir(dirs[j])))
		return vi > vj
	})
	for _, d := range dirs {
		if fileExists(filepath.Join(d, "initdb")) && fileExists(filepath.Join(d, "pg_ctl")) {
			return d, nil
		}
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		if real, err := filepath.EvalSymlinks(p); err == nil {
			p = real
		}
		d := filepath.Dir(p)
		if fileExists(filepath.Join(d, "pg_ctl")) {
			return d, nil
		}
	}
	return "", ErrNotInstalled
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

// Start initialises and starts a cluster. Call Stop when done.
func Start(opts Options) (*Cluster, error) {
	bin, err := BinDir()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "amoskys-pg-")
	if err != nil {
		return nil, err
	}
	c := &Cluster{Dir: dir, bin: bin}
	ok := false
	defer func() {
		if !ok {
			_ = os.RemoveAll(dir)
		}
	}()
	// initdb refuses to run as root: run the server as the postgres user, who must reach the dir.
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			return nil, fmt.Errorf("running as root needs the postgres user: %w", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		c.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
		if err := os.Chmod(dir, 0o711); err != nil {
			return nil, err
		}
	}
	data := filepath.Join(dir, "data")
	sock := filepath.Join(dir, "sock")
	for _, d := range []string{data, sock} {
		if err := os.Mkdir(d, 0o700); err != nil {
			return nil, err
		}
		if err := c.chown(d); err != nil {
			return nil, err
		}
	}
	if out, err := c.run("initdb", "-D", data, "-U", "postgres", "-A", "trust", "-E", "UTF8",
		"--locale=C", "--no-sync"); err != nil {
		return nil, fmt.Errorf("initdb: %w: %s", err, out)
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	c.Port = port
	srvOpts := []string{
		"-p " + strconv.Itoa(port), "-k " + sock, "-c listen_addresses=127.0.0.1",
		// A test cluster: durability of the server itself is not what the tests check.
		"-c fsync=off", "-c full_page_writes=off", "-c max_connections=200",
	}
	sslmode := "disable"
	if opts.TLS {
		if err := c.makeCerts(); err != nil {
			return nil, err
		}
		srvOpts = append(srvOpts, "-c ssl=on",
			"-c ssl_cert_file="+filepath.Join(data, "server.crt"),
			"-c ssl_key_file="+filepath.Join(data, "server.key"))
		sslmode = "verify-full&sslrootcert=" + c.CAFile
	}
	logFile := filepath.Join(dir, "postgres.log")
	if err := touch(logFile); err != nil {
		return nil, err
	}
	if err := c.chown(logFile); err != nil {
		return nil, err
	}
	if out, err := c.run("pg_ctl", "-D", data, "-l", logFile, "-w", "-t", "60",
		"-o", strings.Join(srvOpts, " "), "start"); err != nil {
		log, _ := os.ReadFile(logFile)
		return nil, fmt.Errorf("pg_ctl start: %w: %s\n%s", err, out, log)
	}
	c.DSN = fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=%s", port, sslmode)
	ok = true
	return c, nil
}

// CreateDatabase makes an empty database and returns its DSN.
func (c *Cluster) CreateDatabase(name string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, c.DSN)
	if err != nil {
		return "", err
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		return "", fmt.Errorf("create database %s: %w", name, err)
	}
	return strings.Replace(c.DSN, "/postgres?", "/"+name+"?", 1), nil
}

// Stop stops the server at once and removes its files.
func (c *Cluster) Stop() error {
	_, err := c.run("pg_ctl", "-D", filepath.Join(c.Dir, "data"), "-m", "immediate", "-w", "stop")
	if rerr := os.RemoveAll(c.Dir); err == nil {
		err = rerr
	}
	return err
}

// Require starts a cluster for t and stops it at cleanup. Without PostgreSQL the test is skipped,
// or fails when AMOSKYS_REQUIRE_DEPS=1.
func Require(t testing.TB, opts Options) *Cluster {
	t.Helper()
	c, err := Start(opts)
	if errors.Is(err, ErrNotInstalled) {
		if os.Getenv("AMOSKYS_REQUIRE_DEPS") == "1" {
			t.Fatalf("AMOSKYS_REQUIRE_DEPS=1: %v", err)
		}
		t.Skipf("skipping: %v", err)
	}
	if err != nil {
		t.Fatalf("starting PostgreSQL: %v", err)
	}
	t.Cleanup(func() {
		if err := c.Stop(); err != nil {
			t.Logf("stopping PostgreSQL: %v", err)
		}
	})
	return c
}

func (c *Cluster) run(name string, args ...string) ([]byte, error) {
	cmd := exec.Command(filepath.Join(c.bin, name), args...)
	cmd.Dir = c.Dir
	cmd.Env = append(os.Environ(), "LC_ALL=C", "PGPASSWORD=")
	if c.cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: c.cred}
	}
	return cmd.CombinedOutput()
}

func (c *Cluster) chown(p string) error {
	if c.cred == nil {
		return nil
	}
	return os.Chown(p, int(c.cred.Uid), int(c.cred.Gid))
}

func touch(p string) error {
	f, err := os.OpenFile(p, os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	return f.Close()
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// makeCerts writes a CA (Dir/ca.crt) and a server certificate for 127.0.0.1 into the data dir.
func (c *Cluster) makeCerts() error {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "amoskys test CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return err
	}
	caCert, _ := x509.ParseCertificate(caDER)
	srvKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	srvTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, DNSNames: []string{"localhost"},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	srvDER, err := x509.CreateCertificate(rand.Reader, srvTmpl, caCert, &srvKey.PublicKey, caKey)
	if err != nil {
		return err
	}
	keyDER, err := x509.MarshalECPrivateKey(srvKey)
	if err != nil {
		return err
	}
	c.CAFile = filepath.Join(c.Dir, "ca.crt")
	data := filepath.Join(c.Dir, "data")
	files := []struct {
		path, typ string
		der       []byte
		own       bool
	}{
		{c.CAFile, "CERTIFICATE", caDER, false},
		{filepath.Join(data, "server.crt"), "CERTIFICATE", srvDER, true},
		{filepath.Join(data, "server.key"), "EC PRIVATE KEY", keyDER, true},
	}
	for _, f := range files {
		if err := os.WriteFile(f.path, pem.EncodeToMemory(&pem.Block{Type: f.typ, Bytes: f.der}), 0o600); err != nil {
			return err
		}
		if f.own {
			if err := c.chown(f.path); err != nil {
				return err
			}
		}
	}
	return nil
}
