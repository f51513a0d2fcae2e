//go:build amd64 && !purego

package iforest

import "unsafe"

//go:generate python3 fast_amd64.py 11

// Layout facts fast_amd64.s relies on.
const (
	_ = uint(unsafe.Sizeof(btree{}) - btreeSize) // btree is btreeSize bytes...
	_ = uint(btreeSize - unsafe.Sizeof(btree{}))
	_ = uint(unsafe.Offsetof(btree{}.up) - byteSlots) // ...feat at 0, up at 256, leaf at 2304
	_ = uint(byteSlots - unsafe.Offsetof(btree{}.up))
	_ = uint(unsafe.Offsetof(btree{}.leaf) - 9*byteSlots)
	_ = uint(9*byteSlots - unsafe.Offsetof(btree{}.leaf))
	_ = uint(unsafe.Sizeof(brow{}) - 8*browLen) // a brow is 2112 bytes
	_ = uint(8*browLen - unsafe.Sizeof(brow{}))
)

// groupRows is the number of rows bytesGroups takes at a time: the kernel's walks in flight.
const groupRows = 11

// bytesGroups adds the path lengths of rows (a multiple of groupRows) over all trees into sums.
func bytesGroups(ts []btree, rows []brow, sums []float64) {
	if len(ts) == 0 || len(rows) < groupRows {
		return
	}
	_ = sums[len(rows)-1]
	bytesGroupsAsm(&ts[0], len(ts), &rows[0], len(rows)/groupRows, &sums[0])
}

// bytesGroupsAsm is bytesGroupsGo in assembly (fast_amd64.s): for each of ntrees trees, for each
// of groups groups of groupRows rows, their walks advanced together, each step
// MOVBLZX feat / MOVQ x / CMPQ up / ADCQ.
//
//go:noescape
func bytesGroupsAsm(ts *btree, ntrees int, rows *brow, groups int, sums *float64)
