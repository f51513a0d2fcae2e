//go:build !linux

package process

import "errors"

type connector struct{}

var (
	errTimeout = errors.New("no event")
	errOverrun = errors.New("process connector overrun: events lost")
	errNoLinux = errors.New("the process connector exists on Linux only: snapshots only")
)

func openConnector() (*connector, error)            { return nil, errNoLinux }
func (c *connector) recv() ([]cnEvent, error)       { return nil, errNoLinux }
func (c *connector) recvQueued() ([]cnEvent, error) { return nil, errNoLinux }
func (c *connector) close() error                   { return nil }
func monoNow() int64                                { return 0 }
func monotonicOffset() int64                        { return 0 }
func suspendedNS() int64                            { return 0 }
