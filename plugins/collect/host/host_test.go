package host

import (
	"net"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/amoskys/amoskys/processors/normalise"
	"github.com/amoskys/amoskys/schemas"
)

func metrics(evs []*schemas.TelemetryEvent) map[string][]*schemas.Metric {
	m := map[string][]*schemas.Metric{}
	for _, ev := range evs {
		m[ev.Metric.Name] = append(m[ev.Metric.Name], ev.Metric)
	}
	return m
}

func TestSampleRealHost(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("gauges and rates checked against Linux /proc")
	}
	// Loopback traffic between the two samples makes lo's counters move.
	c := NewCollector(Config{Interfaces: []string{"lo"}})
	first := metrics(c.Sample(t.Context()))
	require.Contains(t, first, "mem.total_bytes")
	require.NotContains(t, first, "cpu.user", "no rate before the second sample")

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	go func() {
		cn, err := ln.Accept()
		if err == nil {
			buf := make([]byte, 1<<16)
			for {
				if _, err := cn.Read(buf); err != nil {
					return
				}
			}
		}
	}()
	cl, err := net.Dial("tcp", ln.Addr().String())
	require.NoError(t, err)
	_, err = cl.Write(make([]byte, 1<<20))
	require.NoError(t, err)
	cl.Close()
	time.Sleep(200 * time.Millisecond) // CPU counters tick at 100 Hz

	evs := c.Sample(t.Context())
	m := metrics(evs)
	for _, name := range []string{"cpu.user", "cpu.system", "cpu.iowait", "cpu.steal", "cpu.idle", "mem.used_bytes",
		"swap.used_bytes", "load.1", "fds.in_use", "procs.count", "net.rx_bytes_per_s", "net.tx_bytes_per_s"} {
		require.Contains(t, m, name)
	}
	sum := 0.0
	for _, n := range []string{"cpu.user", "cpu.system", "cpu.iowait", "cpu.steal", "cpu.idle"} {
		v := m[n][0].Value
		require.GreaterOrEqual(t, v, 0.0)
		require.LessOrEqual(t, v, 100.0)
		sum += v
	}
	require.InDelta(t, 100, sum, 5, "cpu parts add up to ~100%%")
	rx := m["net.rx_bytes_per_s"][0]
	require.Equal(t, "lo", rx.Labels["interface"])
	require.Greater(t, rx.Value, float64(1<<20)/10, "1 MiB over loopback shows as a rate")
	require.Positive(t, m["procs.count"][0].Value)
	n := normalise.New(normalise.Config{})
	for _, ev := range evs {
		require.NoError(t, n.Event(ev))
	}
}

func TestParseFileNr(t *testing.T) {
	in, max, err := parseFileNr([]byte("3200\t0\t9223372036854775807\n"))
	require.NoError(t, err)
	require.Equal(t, uint64(3200), in)
	require.Equal(t, uint64(9223372036854775807), max)
	for _, bad := range []string{"", "1 2", "a 0 1", "1 5 9"} {
		_, _, err := parseFileNr([]byte(bad))
		require.Error(t, err, bad)
	}
}

func FuzzParseFileNr(f *testing.F) {
	f.Add([]byte("3200\t0\t9223372036854775807\n"))
	f.Fuzz(func(t *testing.T, b []byte) { _, _, _ = parseFileNr(b) })
}
