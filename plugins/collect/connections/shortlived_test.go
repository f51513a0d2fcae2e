package connections

import (
	"net"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/amoskys/amoskys/processors/normalise"
	"github.com/amoskys/amoskys/schemas"
)

func metric(evs []*schemas.TelemetryEvent, name string) *schemas.Metric {
	for _, ev := range evs {
		if ev.Kind == schemas.KindHostMetric && ev.Metric.Name == name {
			return ev.Metric
		}
	}
	return nil
}

// A connection opened and closed (client first) between two reads: seen through its TIME_WAIT
// socket, and the kernel counters say how many TCP opens were not reported.
func TestShortLivedConnection(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("needs Linux /proc/net")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	port := uint16(ln.Addr().(*net.TCPAddr).Port)
	c, err := NewCollector(Config{Interval: time.Hour})
	require.NoError(t, err)
	first := c.Scan()
	require.Nil(t, metric(first, MetricTCPOpened), "no counts at the first read: no baseline")

	short := func() {
		accepted := make(chan net.Conn, 1)
		go func() {
			cn, err := ln.Accept()
			if err == nil {
				accepted <- cn
			}
		}()
		cl, err := net.Dial("tcp", ln.Addr().String())
		require.NoError(t, err)
		srv := <-accepted
		require.NoError(t, cl.Close()) // the client closes first: its socket goes to TIME_WAIT
		buf := make([]byte, 1)
		_, _ = srv.Read(buf) // EOF once the FIN arrived
		require.NoError(t, srv.Close())
	}
	short()
	evs := c.Scan()
	o := find(evs, schemas.KindConnection, "opened", port, true)
	require.NotNil(t, o, "the short connection is reported from its TIME_WAIT socket")
	require.Equal(t, SeenByTimeWait, o.Labels[LabelSeenBy])
	require.Equal(t, "TIME_WAIT", o.Conn.State)
	require.Zero(t, o.Conn.PID, "the owner is gone")
	cl := find(evs, schemas.KindConnection, "closed", port, true)
	require.NotNil(t, cl)
	require.Equal(t, o.Conn.LocalPort, cl.Conn.LocalPort)
	n := normalise.New(normalise.Config{})
	for _, ev := range evs {
		require.NoError(t, n.Event(ev), "every event passes normalise")
	}
	opened, unseen := metric(evs, MetricTCPOpened), metric(evs, MetricTCPOpenedUnseen)
	require.NotNil(t, opened)
	require.NotNil(t, unseen)
	// Two sockets (client and server) at least; other processes may open more meanwhile.
	require.GreaterOrEqual(t, opened.Value, 2.0)
	require.GreaterOrEqual(t, unseen.Value, 1.0, "the server side left no trace")
	require.Positive(t, c.Stats().ShortLived)

	// Reported once: the same TIME_WAIT socket at the next read is not new.
	evs = c.Scan()
	require.Nil(t, find(evs, schemas.KindConnection, "opened", port, true))

	// A connection tracked live and then closed is reported closed, not again as short-lived.
	accepted := make(chan net.Conn, 1)
	go func() {
		cn, err := ln.Accept()
		if err == nil {
			accepted <- cn
		}
	}()
	dial, err := net.Dial("tcp", ln.Addr().String())
	require.NoError(t, err)
	srv := <-accepted
	evs = c.Scan()
	live := find(evs, schemas.KindConnection, "opened", port, true)
	require.NotNil(t, live)
	require.Empty(t, live.Labels[LabelSeenBy])
	require.NoError(t, dial.Close())
	_, _ = srv.Read(make([]byte, 1))
	require.NoError(t, srv.Close())
	evs = c.Scan()
	for _, ev := range evs {
		if ev.Conn != nil && ev.Conn.RemotePort == port && ev.Conn.Action == "opened" {
			t.Fatalf("a tracked connection in TIME_WAIT reported again: %+v", ev.Conn)
		}
	}
	require.NotNil(t, find(evs, schemas.KindConnection, "closed", port, true))
}

func TestShortLivedOff(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("needs Linux /proc/net")
	}
	off := false
	c, err := NewCollector(Config{Interval: time.Hour, ShortLived: &off, OpenCounts: &off})
	require.NoError(t, err)
	c.Scan()
	for _, ev := range c.Scan() {
		require.NotEqual(t, schemas.KindHostMetric, ev.Kind)
		require.NotEqual(t, SeenByTimeWait, ev.Labels[LabelSeenBy])
	}
}

// The balance is cumulative: reported before counted is not unseen later, and a counter going
// back starts a new baseline.
func TestOpenCountsBalance(t *testing.T) {
	c := &Collector{cfg: Config{Host: "h"}}
	now := time.Unix(1e9, 0)
	require.Nil(t, c.openCounts(100, 0, true, now))
	get := func(evs []*schemas.TelemetryEvent) (float64, float64) {
		return metric(evs, MetricTCPOpened).Value, metric(evs, MetricTCPOpenedUnseen).Value
	}
	o, u := get(c.openCounts(104, 1, false, now)) // 4 opened, 1 reported
	require.Equal(t, [2]float64{4, 3}, [2]float64{o, u})
	o, u = get(c.openCounts(105, 3, false, now)) // 1 opened, 3 reported (2 counted earlier, unseen then)
	require.Equal(t, [2]float64{1, 0}, [2]float64{o, u})
	o, u = get(c.openCounts(110, 0, false, now)) // 5 opened, none reported
	require.Equal(t, 5.0, o)
	require.Equal(t, 3.0, u, "kernel 10 in all, reported 4, unseen already said 3: 3 more (the 2 reported early offset)")
	require.Nil(t, c.openCounts(50, 0, false, now), "counter went back: new baseline")
	o, u = get(c.openCounts(52, 2, false, now))
	require.Equal(t, [2]float64{2, 0}, [2]float64{o, u})
}

func TestParseTCPOpens(t *testing.T) {
	snmp := "Ip: Forwarding DefaultTTL\nIp: 1 64\nTcp: RtoAlgorithm RtoMin RtoMax MaxConn ActiveOpens PassiveOpens AttemptFails\nTcp: 1 200 120000 -1 1234 567 8\nUdp: InDatagrams\nUdp: 5\n"
	n, err := parseTCPOpens([]byte(snmp))
	require.NoError(t, err)
	require.Equal(t, uint64(1234+567), n)
	for _, bad := range []string{"", "Tcp: ActiveOpens PassiveOpens\nTcp: 1\n", "Tcp: ActiveOpens PassiveOpens\nTcp: 1 x\n", "Tcp: A B\nTcp: 1 2\n"} {
		_, err := parseTCPOpens([]byte(bad))
		require.Error(t, err, bad)
	}
}

func FuzzParseTCPOpens(f *testing.F) {
	f.Add([]byte("Tcp: ActiveOpens PassiveOpens\nTcp: 1 2\n"))
	f.Fuzz(func(t *testing.T, b []byte) { _, _ = parseTCPOpens(b) })
}
