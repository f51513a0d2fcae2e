// Package snmp polls network devices over SNMP v2c or v3 (authPriv) with gosnmp and emits
// `snmp_metric` TelemetryEvents: the system group, IF-MIB ifTable/ifXTable counters as rates
// (64-bit counters preferred, 32-bit wrap and resets handled), HOST-RESOURCES hrProcessorLoad and
// hrStorage, optionally the hrSWRun process table, and user-listed OIDs. Each target is polled by
// its own goroutine with its own timeout and retries, so one dead or slow target never stalls the
// others. plugin.go registers the Benthos batch input `snmp`.
package snmp

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/gosnmp/gosnmp"
)

// Numeric OIDs (no MIBs needed).
const (
	oidSystem         = ".1.3.6.1.2.1.1"
	oidSysDescr       = ".1.3.6.1.2.1.1.1.0"
	oidSysObjectID    = ".1.3.6.1.2.1.1.2.0"
	oidSysUpTime      = ".1.3.6.1.2.1.1.3.0"
	oidSysName        = ".1.3.6.1.2.1.1.5.0"
	oidIfTable        = ".1.3.6.1.2.1.2.2"
	oidIfEntry        = ".1.3.6.1.2.1.2.2.1"
	oidIfXEntry       = ".1.3.6.1.2.1.31.1.1.1"
	oidIfXTable       = ".1.3.6.1.2.1.31.1.1"
	oidHrProcLoad     = ".1.3.6.1.2.1.25.3.3.1.2"
	oidHrStorageEntry = ".1.3.6.1.2.1.25.2.3.1"
	oidHrSWRunEntry   = ".1.3.6.1.2.1.25.4.2.1"
	oidHrSWRunTable   = ".1.3.6.1.2.1.25.4.2"
	oidHrSWRunPerf    = ".1.3.6.1.2.1.25.5.1.1"
)

// Target is one device to poll.
type Target struct {
	Name    string        // label on events; default Address
	Address string        // host or host:port (port 161 by default)
	Version string        // "2c" (default), "3" or "1"
	Timeout time.Duration // per request; default 2s
	Retries int           // per request; default 1

	CommunityEnv string // v1/v2c: name of the env var holding the community

	User         string // v3 user name
	AuthProtocol string // v3: SHA (default), SHA224, SHA256, SHA384, SHA512, MD5
	AuthPassEnv  string // v3: env var holding the auth passphrase
	PrivProtocol string // v3: AES (default), AES192, AES256, AES192C, AES256C, DES
	PrivPassEnv  string // v3: env var holding the privacy passphrase
}

// UserOID is an extra OID polled with GET; counters become rates.
type UserOID struct {
	OID  string // numeric, e.g. .1.3.6.1.4.1.2021.10.1.3.1
	Name string // metric name, e.g. ucd.load1
}

// Endpoint splits Address into host and port.
func (t Target) Endpoint() (string, uint16, error) {
	host, port := t.Address, "161"
	if h, p, err := net.SplitHostPort(t.Address); err == nil {
		host, port = h, p
	}
	if host == "" {
		return "", 0, errors.New("empty address")
	}
	n, err := strconv.ParseUint(port, 10, 16)
	if err != nil || n == 0 {
		return "", 0, fmt.Errorf("bad port %q", port)
	}
	return host, uint16(n), nil
}

func env(name, what string) (string, error) {
	if name == "" {
		return "", fmt.Errorf("%s: no env var named", what)
	}
	v, ok := os.LookupEnv(name)
	if !ok || v == "" {
		return "", fmt.Errorf("%s: env var %s is empty or unset", what, name)
	}
	return v, nil
}

// Validate checks t without connecting; secrets must be present in the environment.
func (t Target) Validate() error {
	_, err := t.client(context.Background(), 10)
	return err
}

// Dial returns a connected gosnmp client for t (the caller closes x.Conn). maxReps sets bulk size.
func (t Target) Dial(ctx context.Context, maxReps uint32) (*gosnmp.GoSNMP, error) {
	x, err := t.client(ctx, maxReps)
	if err != nil {
		return nil, err
	}
	if err := x.Connect(); err != nil {
		return nil, fmt.Errorf("snmp target %s: %w", t.Address, err)
	}
	return x, nil
}

func (t Target) client(ctx context.Context, maxReps uint32) (*gosnmp.GoSNMP, error) {
	host, port, err := t.Endpoint()
	if err != nil {
		return nil, fmt.Errorf("snmp target %q: %w", t.Address, err)
	}
	x := &gosnmp.GoSNMP{Target: host, Port: port, Transport: "udp", Context: ctx,
		Timeout: t.Timeout, Retries: t.Retries, MaxRepetitions: maxReps, MaxOids: gosnmp.MaxOids}
	if x.Timeout <= 0 {
		x.Timeout = 2 * time.Second
	}
	if x.Retries < 0 {
		x.Retries = 0
	}
	switch t.Version {
	case "", "2c", "2":
		x.Version = gosnmp.Version2c
	case "1":
		x.Version = gosnmp.Version1
	case "3":
		x.Version = gosnmp.Version3
	default:
		return nil, fmt.Errorf("snmp target %s: version %q: want 1, 2c or 3", t.Address, t.Version)
	}
	if x.Version != gosnmp.Version3 {
		if x.Community, err = env(t.CommunityEnv, "snmp target "+t.Address+" community"); err != nil {
			return nil, err
		}
		return x, nil
	}
	if t.User == "" {
		return nil, fmt.Errorf("snmp target %s: v3 needs a user", t.Address)
	}
	usm := &gosnmp.UsmSecurityParameters{UserName: t.User}
	if usm.AuthenticationProtocol, err = authProto(t.AuthProtocol); err != nil {
		return nil, fmt.Errorf("snmp target %s: %w", t.Address, err)
	}
	if usm.PrivacyProtocol, err = privProto(t.PrivProtocol); err != nil {
		return nil, fmt.Errorf("snmp target %s: %w", t.Address, err)
	}
	if usm.AuthenticationPassphrase, err = env(t.AuthPassEnv, "snmp target "+t.Address+" auth passphrase"); err != nil {
		return nil, err
	}
	if usm.PrivacyPassphrase, err = env(t.PrivPassEnv, "snmp target "+t.Address+" privacy passphrase"); err != nil {
		return nil, err
	}
	x.SecurityModel = gosnmp.UserSecurityModel
	x.MsgFlags = gosnmp.AuthPriv
	x.SecurityParameters = usm
	return x, nil
}

func authProto(s string) (gosnmp.SnmpV3AuthProtocol, error) {
	switch strings.ToUpper(s) {
	case "", "SHA":
		return gosnmp.SHA, nil
	case "SHA224":
		return gosnmp.SHA224, nil
	case "SHA256":
		return gosnmp.SHA256, nil
	case "SHA384":
		return gosnmp.SHA384, nil
	case "SHA512":
		return gosnmp.SHA512, nil
	case "MD5":
		return gosnmp.MD5, nil
	}
	return 0, fmt.Errorf("auth protocol %q: want SHA, SHA224, SHA256, SHA384, SHA512 or MD5", s)
}

func privProto(s string) (gosnmp.SnmpV3PrivProtocol, error) {
	switch strings.ToUpper(s) {
	case "", "AES":
		return gosnmp.AES, nil
	case "AES192":
		return gosnmp.AES192, nil
	case "AES256":
		return gosnmp.AES256, nil
	case "AES192C":
		return gosnmp.AES192C, nil
	case "AES256C":
		return gosnmp.AES256C, nil
	case "DES":
		return gosnmp.DES, nil
	}
	return 0, fmt.Errorf("privacy protocol %q: want AES, AES192, AES256, AES192C, AES256C or DES", s)
}
