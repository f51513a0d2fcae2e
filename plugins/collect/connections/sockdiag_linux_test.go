//go:build linux

package connections

import (
	"net"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// sock_diag and /proc/net agree on this machine's sockets (the ones this test owns, which do not
// change between the two reads).
func TestSockDiagMatchesProcNet(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("needs Linux")
	}
	d, err := newSockDiag()
	if err != nil {
		if os.Getenv("AMOSKYS_REQUIRE_DEPS") == "1" {
			t.Fatalf("sock_diag: %v", err)
		}
		t.Skipf("no sock_diag here: %v", err)
	}
	defer d.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	go func() {
		for {
			cn, err := ln.Accept()
			if err != nil {
				return
			}
			defer cn.Close()
		}
	}()
	cl, err := net.Dial("tcp", ln.Addr().String())
	require.NoError(t, err)
	defer cl.Close()
	udp, err := net.ListenPacket("udp", "127.0.0.1:0")
	require.NoError(t, err)
	defer udp.Close()
	var ln6 net.Listener
	if l, err := net.Listen("tcp6", "[::1]:0"); err == nil {
		ln6 = l
		defer l.Close()
	}
	time.Sleep(50 * time.Millisecond) // the accept has run

	mine := map[uint16]bool{uint16(ln.Addr().(*net.TCPAddr).Port): true, uint16(udp.LocalAddr().(*net.UDPAddr).Port): true}
	if ln6 != nil {
		mine[uint16(ln6.Addr().(*net.TCPAddr).Port)] = true
	}
	pick := func(socks []Socket) []Socket {
		var out []Socket
		for _, s := range socks {
			if mine[s.Local.Port()] || mine[s.Remote.Port()] {
				out = append(out, s)
			}
		}
		slices.SortFunc(out, func(a, b Socket) int { return int(a.Inode) - int(b.Inode) })
		return out
	}
	for _, proto := range []string{"tcp", "tcp6", "udp", "udp6"} {
		nl, err := d.dump(proto, nil)
		if err != nil && (proto == "udp" || proto == "udp6") && os.Getenv("AMOSKYS_REQUIRE_DEPS") != "1" {
			t.Logf("%s: %v (udp_diag not loaded: /proc/net is read instead)", proto, err)
			continue
		}
		require.NoError(t, err, proto)
		b, err := os.ReadFile(filepath.Join("/proc/net", proto))
		require.NoError(t, err)
		pn, bad := ParseProcNet(proto, b)
		require.Zero(t, bad)
		got, want := pick(nl), pick(pn)
		require.Equal(t, want, got, proto)
		if proto == "tcp" {
			require.Len(t, got, 3, "listener and both ends of the connection")
		}
	}
	c, err := NewCollector(Config{Interval: time.Hour})
	require.NoError(t, err)
	defer c.Close()
	c.Scan()
	st := c.Stats()
	require.Positive(t, st.NetlinkReads, "the collector reads through sock_diag")
}

func TestParseDiagMalformed(t *testing.T) {
	// A length past the buffer, a short inet_diag_msg, an error record: errors, never a panic.
	_, _, err := parseDiag([]byte{0xff, 0xff, 0, 0, 20, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0}, "tcp", 1, nil)
	require.Error(t, err)
	short := make([]byte, 20)
	short[0], short[4], short[8] = 20, sockDiagByFam, 1
	_, _, err = parseDiag(short, "tcp", 1, nil)
	require.Error(t, err)
	e := make([]byte, 20)
	e[0], e[4], e[8] = 20, nlmsgError, 1
	e[16], e[17], e[18], e[19] = 0xfe, 0xff, 0xff, 0xff // -2: ENOENT
	_, _, err = parseDiag(e, "udp", 1, nil)
	require.Error(t, err)
}

func FuzzParseDiag(f *testing.F) {
	f.Add(make([]byte, 88))
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, proto := range []string{"tcp", "udp6"} {
			_, _, _ = parseDiag(b, proto, 0, nil)
		}
	})
}
