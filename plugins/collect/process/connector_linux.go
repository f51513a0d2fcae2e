//go:build linux

package process

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// connector is a subscription to the kernel's process connector.
type connector struct {
	fd  int
	buf []byte
}

func openConnector() (*connector, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, unix.NETLINK_CONNECTOR)
	if err != nil {
		return nil, fmt.Errorf("netlink connector socket: %w", err)
	}
	// A large receive buffer rides out bursts (fork bombs, builds); root may force it.
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 8<<20); err != nil {
		_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, 8<<20)
	}
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK, Groups: cnIdxProc}); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("binding to CN_IDX_PROC: %w", err)
	}
	c := &connector{fd: fd, buf: make([]byte, 64<<10)}
	if err := c.send(mcastListen); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("PROC_CN_MCAST_LISTEN: %w", err)
	}
	// Wake Recvfrom periodically so close is noticed even on an idle system.
	tv := unix.Timeval{Sec: 0, Usec: 200000}
	_ = unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
	return c, nil
}

func (c *connector) send(op uint32) error {
	le := binary.NativeEndian
	msg := make([]byte, nlmsgHdrLen+cnMsgLen+4)
	le.PutUint32(msg[0:4], uint32(len(msg)))
	le.PutUint16(msg[4:6], nlmsgDone)
	le.PutUint32(msg[12:16], uint32(os.Getpid()))
	cn := msg[nlmsgHdrLen:]
	le.PutUint32(cn[0:4], cnIdxProc)
	le.PutUint32(cn[4:8], cnValProc)
	le.PutUint16(cn[16:18], 4)
	le.PutUint32(cn[20:24], op)
	return unix.Sendto(c.fd, msg, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK})
}

// errTimeout says no event arrived within the receive timeout.
var errTimeout = errors.New("no event")

// errOverrun says the kernel dropped events because we read too slowly.
var errOverrun = errors.New("process connector overrun: events lost")

// recv reads one datagram and decodes its events, waiting up to the receive timeout.
func (c *connector) recv() ([]cnEvent, error) { return c.recvFlags(0) }

// recvQueued reads one datagram already queued, without waiting: errTimeout when there is none.
func (c *connector) recvQueued() ([]cnEvent, error) { return c.recvFlags(unix.MSG_DONTWAIT) }

func (c *connector) recvFlags(flags int) ([]cnEvent, error) {
	n, _, err := unix.Recvfrom(c.fd, c.buf, flags)
	if err != nil {
		if errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR) {
			return nil, errTimeout
		}
		if errors.Is(err, unix.ENOBUFS) {
			return nil, errOverrun
		}
		return nil, err
	}
	evs, overrun, err := parseNetlink(c.buf[:n])
	if overrun && err == nil {
		err = errOverrun
	}
	return evs, err
}

func (c *connector) close() error {
	_ = c.send(mcastIgnore)
	return unix.Close(c.fd)
}

// monotonicOffset returns wall time minus CLOCK_MONOTONIC: add it to connector timestamps.
func monotonicOffset() int64 {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		return 0
	}
	return timeNow().UnixNano() - ts.Nano()
}

// monoNow returns CLOCK_MONOTONIC in nanoseconds, the clock of connector timestamps.
func monoNow() int64 {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		return 0
	}
	return ts.Nano()
}

// suspendedNS returns CLOCK_BOOTTIME minus CLOCK_MONOTONIC: how long the machine was suspended,
// which /proc start times (boot time based) count and connector timestamps (monotonic) do not.
func suspendedNS() int64 {
	var b, m unix.Timespec
	if unix.ClockGettime(unix.CLOCK_BOOTTIME, &b) != nil || unix.ClockGettime(unix.CLOCK_MONOTONIC, &m) != nil {
		return 0
	}
	d := b.Nano() - m.Nano()
	if d < int64(time.Millisecond) {
		return 0 // never suspended: the two clocks differ by the reads' own gap
	}
	return d
}
