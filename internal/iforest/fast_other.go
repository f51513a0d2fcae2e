//go:build !amd64 || purego

package iforest

// groupRows is the number of rows bytesGroups takes at a time.
const groupRows = 8

// bytesGroups adds the path lengths of rows (a multiple of groupRows) over all trees into sums.
func bytesGroups(ts []btree, rows []brow, sums []float64) { bytesGroupsGo(ts, rows, sums) }
