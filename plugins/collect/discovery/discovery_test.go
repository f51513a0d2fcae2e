package discovery

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/amoskys/amoskys/internal/snmptest"
	"github.com/amoskys/amoskys/plugins/collect/snmp"
	"github.com/amoskys/amoskys/processors/normalise"
)

const arpSample = `IP address       HW type     Flags       HW address            Mask     Device
192.0.2.1        0x1         0x2         52:54:00:AB:CD:EF     *        eth0
192.0.2.7        0x1         0x0         00:00:00:00:00:00     *        eth0
2001:db8::1      0x1         0x2         52:54:00:00:00:01     *        eth0
bogus            0x1         0x2         52:54:00:00:00:02     *        eth0
`

func TestParseARP(t *testing.T) {
	n := ParseARP([]byte(arpSample))
	require.Len(t, n, 2)
	require.Equal(t, "192.0.2.1", n[0].Addr.String())
	require.Equal(t, "52:54:00:ab:cd:ef", n[0].MAC)
	require.Equal(t, "eth0", n[0].Device)
}

func FuzzParseARP(f *testing.F) {
	f.Add([]byte(arpSample))
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, n := range ParseARP(b) {
			require.True(t, n.Addr.IsValid())
		}
	})
}

func TestExpandCIDR(t *testing.T) {
	a, err := ExpandCIDR("192.0.2.0/30", 10)
	require.NoError(t, err)
	require.Equal(t, "192.0.2.1", a[0].String())
	require.Len(t, a, 2, "network and broadcast left out")
	a, err = ExpandCIDR("127.0.0.1", 10)
	require.NoError(t, err)
	require.Len(t, a, 1)
	a, err = ExpandCIDR("127.0.0.0/31", 10)
	require.NoError(t, err)
	require.Len(t, a, 2)
	_, err = ExpandCIDR("10.0.0.0/8", 1024)
	require.Error(t, err)
	_, err = ExpandCIDR("nonsense", 1024)
	require.Error(t, err)
}

func TestDiscoverLoopbackAgent(t *testing.T) {
	a := snmptest.Start(t)
	t.Setenv("TEST_DISCOVERY_COMMUNITY", a.Community)
	cfg := Config{
		CIDRs: []string{"127.0.0.0/29"}, // loopback only: 127.0.0.1..6
		Port:  a.Port, Rate: 200, MissLimit: 2,
		Credentials: snmp.Target{Version: "2c", CommunityEnv: "TEST_DISCOVERY_COMMUNITY", Timeout: 300 * time.Millisecond},
	}
	c, err := NewCollector(cfg)
	require.NoError(t, err)

	evs := c.Sweep(t.Context())
	require.Len(t, evs, 1, "only 127.0.0.1 runs an agent")
	d := evs[0].Device
	require.Equal(t, "appeared", d.Action)
	require.Equal(t, "127.0.0.1", d.Address)
	require.Equal(t, "amoskys-snmptest", d.SysName)
	require.Contains(t, d.SysDescr, "Linux")
	require.Equal(t, ".1.3.6.1.4.1.8072.3.2.10", d.SysObjectID)
	require.Equal(t, "cidr", d.Via)
	require.Equal(t, uint64(6), c.Probes.Load())
	require.NoError(t, normalise.New(normalise.Config{}).Event(evs[0]))

	require.Empty(t, c.Sweep(t.Context()), "nothing changed")

	// The same address answers with another name: changed.
	a.Stop()
	b := snmptest.StartWith(t, snmptest.Options{Port: a.Port, SysName: "renamed-device"})
	t.Setenv("TEST_DISCOVERY_COMMUNITY", b.Community)
	evs = c.Sweep(t.Context())
	require.Len(t, evs, 1)
	require.Equal(t, "changed", evs[0].Device.Action)
	require.Equal(t, "renamed-device", evs[0].Device.SysName)

	// Gone for MissLimit sweeps: disappeared.
	b.Stop()
	require.Empty(t, c.Sweep(t.Context()), "one miss is not enough")
	evs = c.Sweep(t.Context())
	require.Len(t, evs, 1)
	require.Equal(t, "disappeared", evs[0].Device.Action)
	require.Equal(t, "renamed-device", evs[0].Device.SysName)
}

func TestPluginConfig(t *testing.T) {
	t.Setenv("AMOSKYS_SNMP_COMMUNITY", "c")
	conf, err := spec().ParseYAML(`
cidrs: ["", "127.0.0.1/32, 127.0.0.2"]
port: 1161
rate: 5
`, nil)
	require.NoError(t, err)
	cfg, err := configFrom(conf)
	require.NoError(t, err)
	require.Equal(t, []string{"127.0.0.1/32", "127.0.0.2"}, cfg.CIDRs)
	require.Equal(t, uint16(1161), cfg.Port)
	require.False(t, cfg.UseARP, "ARP neighbours are probed only when asked")
	_, err = NewCollector(cfg)
	require.NoError(t, err)
}
