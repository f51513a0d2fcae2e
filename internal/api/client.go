package api

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/amoskys/amoskys/internal/config"
)

// Client talks to the API of a running `amoskys run` (what `amoskys sql` does while the running
// instance holds the chDB directory).
type Client struct {
	Base  string // http://127.0.0.1:8080
	Token string
	HTTP  *http.Client
}

// ErrNotRunning says no amoskys API answered at the configured address.
var ErrNotRunning = errors.New("no running amoskys API answered")

// APIError is a 4xx/5xx answer of the API with its JSON message.
type APIError struct {
	Status  int
	Message string
}

func (e *APIError) Error() string { return fmt.Sprintf("HTTP %d: %s", e.Status, e.Message) }

// NewClient builds a client for the API that config c describes. A wildcard listen address is
// reached on loopback; with api.tls the client trusts the system roots plus cert_file/ca_file.
func NewClient(c *config.Config) (*Client, error) {
	host, port, err := net.SplitHostPort(c.API.Listen)
	if err != nil {
		return nil, fmt.Errorf("api.listen: %w", err)
	}
	switch host {
	case "", "0.0.0.0":
		host = "127.0.0.1"
	case "::":
		host = "::1"
	}
	scheme := "http"
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.Proxy = nil // a local API is never reached through a proxy
	if c.API.TLS.CertFile != "" {
		scheme = "https"
		pool, err := x509.SystemCertPool()
		if err != nil {
			pool = x509.NewCertPool()
		}
		for _, f := range []string{c.API.TLS.CertFile, c.API.TLS.CAFile} {
			if f == "" {
				continue
			}
			if pem, err := os.ReadFile(c.Path(f)); err == nil {
				pool.AppendCertsFromPEM(pem)
			}
		}
		tr.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: pool}
	}
	return &Client{Base: scheme + "://" + net.JoinHostPort(host, port), HTTP: &http.Client{Transport: tr}}, nil
}

// Running reports whether an amoskys API answers /healthz (any JSON answer, healthy or degraded).
func (cl *Client) Running(ctx context.Context) bool {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, cl.Base+"/healthz", nil)
	if err != nil {
		return false
	}
	resp, err := cl.HTTP.Do(req)
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	var h HealthBody
	return json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&h) == nil && h.Status != ""
}

// SQL runs query through POST /api/sql and returns the rendered result.
func (cl *Client) SQL(ctx context.Context, query, format string) (*Result, error) {
	body, err := json.Marshal(SQLRequest{Query: query, Format: format})
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, cl.Base+"/api/sql", bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+cl.Token)
	resp, err := cl.HTTP.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%w at %s: %v", ErrNotRunning, cl.Base, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		var e ErrorBody
		if json.Unmarshal(b, &e) != nil || e.Error == "" {
			e.Error = string(bytes.TrimSpace(b))
		}
		return nil, &APIError{Status: resp.StatusCode, Message: e.Error}
	}
	return &Result{Format: format, Body: b, Truncated: resp.Header.Get(TruncatedHeader) == "true"}, nil
}
