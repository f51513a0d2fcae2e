package connections

import (
	"net"
	"os"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/amoskys/amoskys/processors/normalise"
	"github.com/amoskys/amoskys/schemas"
)

const tcpSample = `  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 12345 1 0000000000000000 100 0 0 10 0
   1: 0100007F:1F90 0100007F:C350 01 00000000:00000000 00:00000000 00000000  1000        0 12346 1 0000000000000000 20 4 30 10 -1
   2: garbage
`
const tcp6Sample = `  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000000000000000000001000000:0016 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 999 1 0000000000000000 100 0 0 10 0
`

func TestParseProcNet(t *testing.T) {
	socks, bad := ParseProcNet("tcp", []byte(tcpSample))
	require.Equal(t, 1, bad)
	require.Len(t, socks, 2)
	require.Equal(t, "127.0.0.1:8080", socks[0].Local.String())
	require.True(t, socks[0].Listening())
	require.Equal(t, "LISTEN", socks[0].StateName())
	require.Equal(t, "127.0.0.1:50000", socks[1].Remote.String())
	require.True(t, socks[1].Active())
	require.Equal(t, uint32(1000), socks[1].UID)
	require.Equal(t, uint64(12346), socks[1].Inode)

	socks, bad = ParseProcNet("tcp6", []byte(tcp6Sample))
	require.Zero(t, bad)
	require.Equal(t, "[::1]:22", socks[0].Local.String())

	ino, ok := socketInode("socket:[4242]")
	require.True(t, ok)
	require.Equal(t, uint64(4242), ino)
	_, ok = socketInode("pipe:[1]")
	require.False(t, ok)
}

func FuzzParseProcNet(f *testing.F) {
	f.Add([]byte(tcpSample))
	f.Add([]byte(tcp6Sample))
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, proto := range []string{"tcp", "udp6"} {
			socks, _ := ParseProcNet(proto, b)
			for _, s := range socks {
				_ = s.StateName()
				_ = s.Listening() && s.Active()
			}
		}
	})
}

func find(evs []*schemas.TelemetryEvent, kind schemas.Kind, action string, port uint16, remote bool) *schemas.TelemetryEvent {
	for _, ev := range evs {
		if ev.Kind != kind || ev.Conn.Action != action {
			continue
		}
		if !remote && ev.Conn.LocalPort == port || remote && ev.Conn.RemotePort == port {
			return ev
		}
	}
	return nil
}

func TestLoopbackListenersAndConnections(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("needs Linux /proc/net")
	}
	c, err := NewCollector(Config{Interval: time.Hour})
	require.NoError(t, err)
	c.Scan() // baseline

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	port := uint16(ln.Addr().(*net.TCPAddr).Port)
	udp, err := net.ListenPacket("udp", "127.0.0.1:0")
	require.NoError(t, err)
	uport := uint16(udp.LocalAddr().(*net.UDPAddr).Port)

	evs := c.Scan()
	l := find(evs, schemas.KindListener, "opened", port, false)
	require.NotNil(t, l, "tcp listener opened")
	require.Equal(t, "127.0.0.1", l.Conn.LocalAddr)
	require.Equal(t, "LISTEN", l.Conn.State)
	require.Equal(t, int32(os.Getpid()), l.Conn.PID)
	require.NotEmpty(t, l.Conn.Process)
	exe, _ := os.Executable()
	require.Equal(t, exe, l.Conn.Exe)
	require.Equal(t, uint32(os.Getuid()), l.Conn.UID)
	u := find(evs, schemas.KindListener, "opened", uport, false)
	require.NotNil(t, u, "udp listener opened")
	require.Equal(t, "udp", u.Conn.Proto)

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
	evs = c.Scan()
	out := find(evs, schemas.KindConnection, "opened", port, true)
	require.NotNil(t, out, "client side opened")
	require.Equal(t, "ESTABLISHED", out.Conn.State)
	require.Equal(t, int32(os.Getpid()), out.Conn.PID)
	require.Equal(t, "127.0.0.1", out.Conn.RemoteAddr)
	in := find(evs, schemas.KindConnection, "opened", port, false)
	require.NotNil(t, in, "server side opened")
	require.Nil(t, find(evs, schemas.KindListener, "opened", port, false), "the listener is not new")

	n := normalise.New(normalise.Config{})
	for _, ev := range evs {
		require.NoError(t, n.Event(ev))
	}

	require.NoError(t, cl.Close())
	require.NoError(t, srv.Close())
	require.NoError(t, ln.Close())
	require.NoError(t, udp.Close())
	evs = c.Scan()
	require.NotNil(t, find(evs, schemas.KindConnection, "closed", port, true), "client side closed")
	closedL := find(evs, schemas.KindListener, "closed", port, false)
	require.NotNil(t, closedL, "listener closed")
	require.Equal(t, int32(os.Getpid()), closedL.Conn.PID, "closed events keep the owner")
	require.NotNil(t, find(evs, schemas.KindListener, "closed", uport, false))
	require.Positive(t, c.Stats().FDScans)
}

func TestIPv6Listener(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("needs Linux /proc/net")
	}
	c, err := NewCollector(Config{Interval: time.Hour})
	require.NoError(t, err)
	c.Scan()
	ln, err := net.Listen("tcp6", "[::1]:0")
	if err != nil {
		t.Skipf("no IPv6 loopback here: %v", err)
	}
	defer ln.Close()
	port := uint16(ln.Addr().(*net.TCPAddr).Port)
	l := find(c.Scan(), schemas.KindListener, "opened", port, false)
	require.NotNil(t, l)
	require.Equal(t, "tcp6", l.Conn.Proto)
	require.Equal(t, "::1", l.Conn.LocalAddr)
}

func BenchmarkScan(b *testing.B) {
	if runtime.GOOS != "linux" {
		b.Skip("needs Linux /proc/net")
	}
	c, err := NewCollector(Config{Interval: time.Hour})
	require.NoError(b, err)
	c.Scan()
	b.Run("table", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			c.Scan()
		}
	})
	b.Run("fd-map-incremental", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			c.scanFDs(nil)
		}
	})
	b.Run("fd-map-full", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			c.scanFDs(map[uint64]bool{1: true}) // an inode nobody holds: incremental, then full
		}
	})
}
