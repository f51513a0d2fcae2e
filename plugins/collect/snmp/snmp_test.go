package snmp

import (
	"context"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/gosnmp/gosnmp"
	"github.com/stretchr/testify/require"

	"github.com/amoskys/amoskys/internal/snmptest"
	"github.com/amoskys/amoskys/processors/normalise"
	"github.com/amoskys/amoskys/schemas"
)

func v2(t *testing.T, a *snmptest.Agent) Target {
	t.Setenv("TEST_SNMP_COMMUNITY", a.Community)
	return Target{Name: "local-v2c", Address: a.Addr(), Version: "2c", CommunityEnv: "TEST_SNMP_COMMUNITY", Timeout: 2 * time.Second}
}

func v3(t *testing.T, a *snmptest.Agent) Target {
	t.Setenv("TEST_SNMP_AUTH", a.AuthPass)
	t.Setenv("TEST_SNMP_PRIV", a.PrivPass)
	return Target{Name: "local-v3", Address: a.Addr(), Version: "3", User: a.User, AuthProtocol: "SHA",
		AuthPassEnv: "TEST_SNMP_AUTH", PrivProtocol: "AES", PrivPassEnv: "TEST_SNMP_PRIV", Timeout: 2 * time.Second}
}

func byName(evs []*schemas.TelemetryEvent) map[string][]*schemas.Metric {
	m := map[string][]*schemas.Metric{}
	for _, ev := range evs {
		m[ev.Metric.Name] = append(m[ev.Metric.Name], ev.Metric)
	}
	return m
}

// loopbackTraffic moves the lo interface counters between two polls.
func loopbackTraffic(t *testing.T) {
	ln, err := net.ListenPacket("udp4", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	c, err := net.Dial("udp4", ln.LocalAddr().String())
	require.NoError(t, err)
	defer c.Close()
	buf := make([]byte, 8000)
	for i := 0; i < 64; i++ {
		_, _ = c.Write(buf)
	}
}

func TestPollRealAgent(t *testing.T) {
	a := snmptest.Start(t)
	for _, tc := range []struct {
		name   string
		target func(*testing.T, *snmptest.Agent) Target
	}{{"v2c", v2}, {"v3 authPriv", v3}} {
		t.Run(tc.name, func(t *testing.T) {
			g := DefaultGroups
			g.SWRun = true
			p := newPoller(tc.target(t, a), g, []UserOID{
				{OID: ".1.3.6.1.2.1.2.1.0", Name: "if.number"},         // ifNumber: an Integer gauge
				{OID: ".1.3.6.1.2.1.2.2.1.10.1", Name: "lo.in_octets"}, // Counter32: a rate
			}, 25, "poller", time.Now)
			defer p.close()
			first, err := p.poll(t.Context())
			require.NoError(t, err)
			m := byName(first)
			require.Equal(t, "amoskys-snmptest", p.SysName)
			require.Contains(t, p.SysDescr, "Linux")
			require.Positive(t, m["sys.uptime_seconds"][0].Value)
			require.Equal(t, a.Addr(), m["sys.uptime_seconds"][0].Device)
			require.NotEmpty(t, m["if.oper_status"])
			// hrProcessorLoad: net-snmp serves it only after a minute of uptime (a 1-minute
			// average), so a fresh agent has none; the walk itself must still succeed (err nil).
			require.NotEmpty(t, m["hr.storage_size_bytes"])
			require.Positive(t, m["hr.swrun_count"][0].Value)
			require.NotEmpty(t, m["hr.swrun_mem_bytes"])
			require.NotEmpty(t, m["if.number"])
			require.NotContains(t, m, "if.in_octets_per_s", "no rate from one reading")

			// snmpd caches interface counters for a few seconds: poll until lo's counters moved.
			var second []*schemas.TelemetryEvent
			var lo *schemas.Metric
			for try := 0; try < 10 && (lo == nil || lo.Value == 0); try++ {
				loopbackTraffic(t)
				time.Sleep(time.Second)
				second, err = p.poll(t.Context())
				require.NoError(t, err)
				m = byName(second)
				for _, x := range m["if.in_octets_per_s"] {
					if x.Labels["interface"] == "lo" {
						lo = x
					}
				}
				require.NotNil(t, lo, "a rate for lo from the 64-bit counters")
			}
			require.Positive(t, lo.Value)
			require.Equal(t, "1", lo.Labels["ifIndex"])
			require.Equal(t, "amoskys-snmptest", lo.Labels["sys_name"])
			require.NotEmpty(t, m["lo.in_octets_per_s"], "user counter OID became a rate")

			n := normalise.New(normalise.Config{})
			for _, ev := range append(first, second...) {
				require.NoError(t, n.Event(ev))
			}
		})
	}
}

// TestThirtyTwoBitCounters polls over v1 with a community that cannot see ifXTable: rates come
// from the 32-bit ifInOctets through the GETNEXT walk.
func TestThirtyTwoBitCounters(t *testing.T) {
	a := snmptest.Start(t)
	t.Setenv("TEST_SNMP_NOIFX", a.CommunityNoIfX)
	p := newPoller(Target{Address: a.Addr(), Version: "1", CommunityEnv: "TEST_SNMP_NOIFX", Timeout: 2 * time.Second},
		Groups{System: true, Interfaces: true}, nil, 0, "h", time.Now)
	defer p.close()
	first, err := p.poll(t.Context())
	require.NoError(t, err)
	require.NotContains(t, byName(first), "if.speed_mbps", "ifHighSpeed lives in ifXTable, out of this view")
	var lo *schemas.Metric
	for try := 0; try < 10 && (lo == nil || lo.Value == 0); try++ {
		loopbackTraffic(t)
		time.Sleep(time.Second)
		evs, err := p.poll(t.Context())
		require.NoError(t, err)
		for _, x := range byName(evs)["if.in_octets_per_s"] {
			if x.Labels["ifIndex"] == "1" {
				lo = x
			}
		}
		require.NotNil(t, lo, "a rate for lo from the 32-bit counter")
		require.Equal(t, "lo", lo.Labels["interface"], "named by ifDescr without ifName")
	}
	require.Positive(t, lo.Value)
}

func TestDeadTargetDoesNotStallOthers(t *testing.T) {
	a := snmptest.Start(t)
	live := v2(t, a)
	// A port nobody answers on: every request times out.
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	require.NoError(t, err)
	defer pc.Close()
	dead := live
	dead.Name, dead.Address, dead.Timeout, dead.Retries = "dead", pc.LocalAddr().String(), 3*time.Second, 3

	var mu sync.Mutex
	failed := map[string]int{}
	c, err := NewCollector(Config{Targets: []Target{dead, live}, Interval: 200 * time.Millisecond,
		OnError: func(target string, err error) { mu.Lock(); failed[target]++; mu.Unlock() }})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	require.NoError(t, c.Start(ctx))
	polls := 0
	for batch := range c.Events() {
		require.Equal(t, "local-v2c", batch[0].Metric.Labels["target"])
		polls++
		if polls == 3 {
			break // three live polls while the dead target is still in its first 12 s of retries
		}
	}
	cancel()
	for range c.Events() {
	}
	require.Equal(t, 3, polls)
}

func TestBadCredentials(t *testing.T) {
	a := snmptest.Start(t)
	tg := v3(t, a)
	t.Setenv("TEST_SNMP_PRIV", "wrong-passphrase-999")
	tg.Timeout, tg.Retries = 500*time.Millisecond, 0
	p := newPoller(tg, DefaultGroups, nil, 10, "h", time.Now)
	_, err := p.poll(t.Context())
	require.Error(t, err)

	require.Error(t, Target{Address: "x", CommunityEnv: "AMOSKYS_TEST_UNSET_VAR"}.Validate())
	require.Error(t, Target{Address: "x", Version: "3", User: "u"}.Validate())
	require.Error(t, Target{Address: "x:99999"}.Validate())
	_, err = NewCollector(Config{})
	require.Error(t, err)
}

func TestTableAndNum(t *testing.T) {
	pdus := []gosnmp.SnmpPDU{
		{Name: oidIfEntry + ".2.1", Type: gosnmp.OctetString, Value: []byte("lo")},
		{Name: oidIfEntry + ".10.1", Type: gosnmp.Counter32, Value: uint(4000000000)},
		{Name: oidIfEntry + ".10.12", Type: gosnmp.Counter32, Value: uint(7)},
		{Name: oidIfEntry + ".bad", Type: gosnmp.Counter32, Value: uint(7)},
		{Name: ".1.2.3", Type: gosnmp.Counter32, Value: uint(7)},
	}
	rows := table(pdus, oidIfEntry)
	require.Len(t, rows, 2)
	require.Equal(t, []string{"1", "12"}, sortedIdx(rows))
	require.Equal(t, "lo", str(rows["1"][2]))
	v, ok := num(rows["1"][10])
	require.True(t, ok)
	require.Equal(t, uint64(4000000000), v)
	_, ok = num(gosnmp.SnmpPDU{Type: gosnmp.Integer, Value: -5})
	require.False(t, ok)
	_, ok = num(gosnmp.SnmpPDU{Type: gosnmp.OctetString, Value: []byte("1")})
	require.False(t, ok)
	require.Equal(t, "", str(gosnmp.SnmpPDU{}))
}

func TestPluginConfig(t *testing.T) {
	t.Setenv("AMOSKYS_SNMP_COMMUNITY", "c")
	conf, err := spec().ParseYAML(`
interval: 10s
targets:
  - address: ""
  - address: 127.0.0.1:1161
    name: lab
  - address: " 127.0.0.2:1161, 127.0.0.3 "
  - address: 10.9.9.9
    version: "3"
    user: u
    auth_pass_env: A
    priv_pass_env: P
hr_swrun: true
oids:
  - {oid: .1.3.6.1.2.1.2.1.0, name: if.number}
`, nil)
	require.NoError(t, err)
	cfg, err := configFrom(conf)
	require.NoError(t, err)
	require.Len(t, cfg.Targets, 4, "the empty address is skipped, the comma list makes two")
	require.Equal(t, "lab", cfg.Targets[0].Name)
	require.Equal(t, "AMOSKYS_SNMP_COMMUNITY", cfg.Targets[0].CommunityEnv)
	require.Equal(t, "127.0.0.2:1161", cfg.Targets[1].Address)
	require.Equal(t, "127.0.0.3", cfg.Targets[2].Address)
	require.Equal(t, "3", cfg.Targets[3].Version)
	require.True(t, cfg.Groups.SWRun && cfg.Groups.Interfaces)
	require.Len(t, cfg.OIDs, 1)
	_, err = NewCollector(cfg)
	require.Error(t, err, "the v3 target's passphrases are not in the environment")
	require.ErrorContains(t, err, "env var A")
}
