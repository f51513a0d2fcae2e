package warehouse

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// testPKI is a throwaway CA with a server certificate for 127.0.0.1 and a client certificate.
type testPKI struct {
	dir                                      string
	caFile, srvCert, srvKey, cliCert, cliKey string
	caPool                                   *x509.CertPool
}

func newTestPKI(t *testing.T) *testPKI {
	t.Helper()
	p := &testPKI{dir: t.TempDir()}
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "amoskys test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true,
		BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	require.NoError(t, err)
	ca, err := x509.ParseCertificate(caDER)
	require.NoError(t, err)
	p.caPool = x509.NewCertPool()
	p.caPool.AddCert(ca)
	p.caFile = p.write(t, "ca.pem", "CERTIFICATE", caDER)
	leaf := func(name string, serial int64, usage x509.ExtKeyUsage) (string, string) {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		require.NoError(t, err)
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: name},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
			KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage},
			IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &k.PublicKey, caKey)
		require.NoError(t, err)
		kder, err := x509.MarshalECPrivateKey(k)
		require.NoError(t, err)
		return p.write(t, name+".pem", "CERTIFICATE", der), p.write(t, name+"-key.pem", "EC PRIVATE KEY", kder)
	}
	p.srvCert, p.srvKey = leaf("server", 2, x509.ExtKeyUsageServerAuth)
	p.cliCert, p.cliKey = leaf("amoskys-client", 3, x509.ExtKeyUsageClientAuth)
	return p
}

func (p *testPKI) write(t *testing.T, name, typ string, der []byte) string {
	t.Helper()
	path := filepath.Join(p.dir, name)
	require.NoError(t, os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600))
	return path
}

// TestServerOptionsClientCertificate: cert_file/key_file in a clickhouse:// DSN become the
// client certificate of the TLS config handed to clickhouse-go, and a server that requires a
// client certificate receives it when clickhouse-go connects.
func TestServerOptionsClientCertificate(t *testing.T) {
	p := newTestPKI(t)
	srv, err := tls.LoadX509KeyPair(p.srvCert, p.srvKey)
	require.NoError(t, err)
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{srv},
		ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: p.caPool, MinVersion: tls.VersionTLS12})
	require.NoError(t, err)
	defer ln.Close()
	seen := make(chan string, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			seen <- "accept: " + err.Error()
			return
		}
		defer c.Close()
		tc := c.(*tls.Conn)
		if err := tc.Handshake(); err != nil {
			seen <- "handshake: " + err.Error()
			return
		}
		seen <- tc.ConnectionState().PeerCertificates[0].Subject.CommonName
	}()

	dsn := fmt.Sprintf("clickhouse://%s/db?secure=true&ca_file=%s&cert_file=%s&key_file=%s&dial_timeout=3s",
		ln.Addr(), p.caFile, p.cliCert, p.cliKey)
	c, err := ParseDSN(dsn)
	require.NoError(t, err)
	require.Equal(t, p.cliCert, c.CertFile)
	require.Equal(t, p.cliKey, c.KeyFile)
	o, err := ServerOptions(c, func(string) string { return "" })
	require.NoError(t, err)
	require.Len(t, o.TLS.Certificates, 1)

	// The listener speaks TLS but not the ClickHouse protocol: the open fails after the handshake,
	// which is what this test looks at.
	_, _ = Open(t.Context(), dsn)
	select {
	case cn := <-seen:
		require.Equal(t, "amoskys-client", cn, "the server must receive the configured client certificate")
	case <-time.After(10 * time.Second):
		t.Fatal("clickhouse-go never completed a TLS handshake")
	}
}

func TestServerOptionsClientCertificateBad(t *testing.T) {
	p := newTestPKI(t)
	for dsn, want := range map[string]string{
		"clickhouse://h/db?secure=true&cert_file=" + p.cliCert:                           "cert_file and key_file go together",
		"clickhouse://h/db?secure=true&key_file=" + p.cliKey:                             "cert_file and key_file go together",
		"clickhouse://h/db?cert_file=" + p.cliCert + "&key_file=" + p.cliKey:             "need secure=true",
		"clickhouse://h/db?secure=true&cert_file=/nonexistent.pem&key_file=" + p.cliKey:  "loading client certificate",
		"clickhouse://h/db?secure=true&cert_file=" + p.cliCert + "&key_file=" + p.srvKey: "loading client certificate", // key of another cert
		"clickhouse://h/db?secure=true&cert_file=" + p.caFile + "&key_file=" + p.caFile:  "loading client certificate",
	} {
		c, err := ParseDSN(dsn)
		require.NoError(t, err, dsn)
		_, err = ServerOptions(c, func(string) string { return "" })
		require.ErrorContains(t, err, want, dsn)
	}
}
