// Package connections watches the socket table and emits `connection` and `listener`
// TelemetryEvents (opened / closed) with the owning pid, process, exe and uid. It diffs the
// socket tables (NETLINK_SOCK_DIAG dumps, /proc/net/{tcp,tcp6,udp,udp6} where that fails) every
// interval and maps socket inodes to pids through /proc/PID/fd. Connections that opened and
// closed between two reads are reported from their TIME_WAIT socket where there is one, and
// counted against the kernel's TCP open counter otherwise. plugin.go registers the Benthos batch
// input `connections`.
package connections

import (
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"strconv"
	"strings"
)

// tcpStates names the st column of /proc/net/tcp (include/net/tcp_states.h).
var tcpStates = map[uint8]string{
	0x01: "ESTABLISHED", 0x02: "SYN_SENT", 0x03: "SYN_RECV", 0x04: "FIN_WAIT1", 0x05: "FIN_WAIT2",
	0x06: "TIME_WAIT", 0x07: "CLOSE", 0x08: "CLOSE_WAIT", 0x09: "LAST_ACK", 0x0A: "LISTEN", 0x0B: "CLOSING",
}

// Socket is one row of /proc/net/{tcp,udp}{,6}.
type Socket struct {
	Proto  string // tcp | tcp6 | udp | udp6
	Local  netip.AddrPort
	Remote netip.AddrPort
	State  uint8
	UID    uint32
	Inode  uint64
}

// StateName names s.State for its protocol.
func (s Socket) StateName() string {
	if n, ok := tcpStates[s.State]; ok {
		if strings.HasPrefix(s.Proto, "udp") {
			switch s.State {
			case 0x07:
				return "UNCONN"
			case 0x01:
				return "ESTABLISHED"
			}
		}
		return n
	}
	return "UNKNOWN"
}

// Listening reports whether s accepts connections: a TCP LISTEN socket or an unconnected UDP socket.
func (s Socket) Listening() bool {
	if strings.HasPrefix(s.Proto, "udp") {
		return s.State == 0x07 && s.Remote.Port() == 0
	}
	return s.State == 0x0A
}

// Active reports whether s is a live connection (not listening, not TIME_WAIT or closed).
func (s Socket) Active() bool {
	if strings.HasPrefix(s.Proto, "udp") {
		return s.State == 0x01 && s.Remote.Port() != 0
	}
	switch s.State {
	case 0x01, 0x02, 0x03, 0x04, 0x05, 0x08, 0x09, 0x0B:
		return true
	}
	return false
}

var errFormat = errors.New("proc/net: bad line")

// ParseProcNet parses the text of /proc/net/<proto>. Bad lines are skipped and counted.
func ParseProcNet(proto string, b []byte) (socks []Socket, bad int) {
	lines := strings.Split(string(b), "\n")
	for i, line := range lines {
		if i == 0 || strings.TrimSpace(line) == "" {
			continue // header
		}
		s, err := parseLine(proto, line)
		if err != nil {
			bad++
			continue
		}
		socks = append(socks, s)
	}
	return socks, bad
}

func parseLine(proto, line string) (Socket, error) {
	f := strings.Fields(line)
	if len(f) < 10 {
		return Socket{}, errFormat
	}
	s := Socket{Proto: proto}
	var err error
	if s.Local, err = parseAddr(f[1]); err != nil {
		return s, err
	}
	if s.Remote, err = parseAddr(f[2]); err != nil {
		return s, err
	}
	st, err := strconv.ParseUint(f[3], 16, 8)
	if err != nil {
		return s, fmt.Errorf("%w: state %q", errFormat, f[3])
	}
	s.State = uint8(st)
	uid, err := strconv.ParseUint(f[7], 10, 32)
	if err != nil {
		return s, fmt.Errorf("%w: uid %q", errFormat, f[7])
	}
	s.UID = uint32(uid)
	if s.Inode, err = strconv.ParseUint(f[9], 10, 64); err != nil {
		return s, fmt.Errorf("%w: inode %q", errFormat, f[9])
	}
	return s, nil
}

// parseAddr decodes "0100007F:1F90" (IPv4) or 32 hex digits ":port" (IPv6), each 32-bit word in
// host (little-endian) order as the kernel prints it.
func parseAddr(s string) (netip.AddrPort, error) {
	h, p, ok := strings.Cut(s, ":")
	if !ok {
		return netip.AddrPort{}, fmt.Errorf("%w: address %q", errFormat, s)
	}
	port, err := strconv.ParseUint(p, 16, 16)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("%w: port %q", errFormat, p)
	}
	raw, err := hex.DecodeString(h)
	if err != nil || (len(raw) != 4 && len(raw) != 16) {
		return netip.AddrPort{}, fmt.Errorf("%w: address %q", errFormat, h)
	}
	for i := 0; i+4 <= len(raw); i += 4 {
		raw[i], raw[i+1], raw[i+2], raw[i+3] = raw[i+3], raw[i+2], raw[i+1], raw[i]
	}
	var a netip.Addr
	if len(raw) == 4 {
		a = netip.AddrFrom4([4]byte(raw))
	} else {
		a = netip.AddrFrom16([16]byte(raw))
	}
	return netip.AddrPortFrom(a, uint16(port)), nil
}

// tcpOpens reads ActiveOpens + PassiveOpens of the Tcp lines of /proc/net/snmp (IPv4 and IPv6
// together: the kernel keeps one TCP MIB).
func tcpOpens(path string) (uint64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	return parseTCPOpens(b)
}

// parseTCPOpens parses the "Tcp:" header and value lines of /proc/net/snmp.
func parseTCPOpens(b []byte) (uint64, error) {
	var names []string
	for _, line := range strings.Split(string(b), "\n") {
		rest, ok := strings.CutPrefix(line, "Tcp:")
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if names == nil {
			names = f
			continue
		}
		if len(f) != len(names) {
			return 0, fmt.Errorf("%w: snmp Tcp has %d values for %d names", errFormat, len(f), len(names))
		}
		var sum uint64
		found := 0
		for i, n := range names {
			if n == "ActiveOpens" || n == "PassiveOpens" {
				v, err := strconv.ParseUint(f[i], 10, 64)
				if err != nil {
					return 0, fmt.Errorf("%w: snmp Tcp %s %q", errFormat, n, f[i])
				}
				sum += v
				found++
			}
		}
		if found != 2 {
			return 0, fmt.Errorf("%w: snmp Tcp without ActiveOpens and PassiveOpens", errFormat)
		}
		return sum, nil
	}
	return 0, fmt.Errorf("%w: no Tcp lines in snmp", errFormat)
}
