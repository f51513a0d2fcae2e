package api

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/amoskys/amoskys/internal/config"
)

// writeSelfSigned writes a certificate for 127.0.0.1 and its key into dir.
func writeSelfSigned(t *testing.T, dir string) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "amoskys-test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, IsCA: true, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	kder, err := x509.MarshalECPrivateKey(key)
	require.NoError(t, err)
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	require.NoError(t, os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600))
	require.NoError(t, os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600))
	return certFile, keyFile
}

// With api.tls the server speaks HTTPS and the client of `amoskys sql` trusts cert_file.
func TestTLSServerAndClient(t *testing.T) {
	var cert, key string
	s := newServer(t, nil, func(c *config.Config) {
		cert, key = writeSelfSigned(t, c.BaseDir)
		c.API.TLS = config.TLSConfig{CertFile: cert, KeyFile: key}
		c.API.Listen = "127.0.0.1:0"
	})
	ln, err := s.Listen()
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { done <- s.Serve(ln) }()

	c := *s.deps.Config
	c.API.Listen = ln.Addr().String()
	cl, err := NewClient(&c)
	require.NoError(t, err)
	require.Equal(t, "https://"+ln.Addr().String(), cl.Base)
	require.True(t, cl.Running(t.Context()))

	cl.Token = testToken
	_, err = cl.SQL(t.Context(), "DROP TABLE alerts", FormatJSON)
	var ae *APIError
	require.ErrorAs(t, err, &ae)
	require.Equal(t, 403, ae.Status)
	cl.Token = "wrong"
	_, err = cl.SQL(t.Context(), "SELECT 1", FormatJSON)
	require.ErrorAs(t, err, &ae)
	require.Equal(t, 401, ae.Status)

	// A plain-HTTP client does not get through.
	c.API.TLS = config.TLSConfig{}
	plain, err := NewClient(&c)
	require.NoError(t, err)
	require.False(t, plain.Running(t.Context()))

	require.NoError(t, s.Shutdown(t.Context()))
	require.NoError(t, <-done)
}

func TestClientNotRunning(t *testing.T) {
	c := testConfig(t)
	c.API.Listen = "127.0.0.1:1"
	cl, err := NewClient(c)
	require.NoError(t, err)
	require.False(t, cl.Running(t.Context()))
	_, err = cl.SQL(t.Context(), "SELECT 1", FormatTSV)
	require.ErrorIs(t, err, ErrNotRunning)
	c.API.Listen = "0.0.0.0:9"
	cl, err = NewClient(c)
	require.NoError(t, err)
	require.Equal(t, "http://127.0.0.1:9", cl.Base)
}
