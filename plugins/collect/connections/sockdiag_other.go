//go:build !linux

package connections

import "errors"

type sockDiag struct{}

func newSockDiag() (*sockDiag, error) { return nil, errors.New("sock_diag: Linux only") }

func (d *sockDiag) Close() error { return nil }

func (d *sockDiag) dump(string, []Socket) ([]Socket, error) {
	return nil, errors.New("sock_diag: Linux only")
}
