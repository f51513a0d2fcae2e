//go:build !amd64 || purego

package iforest

// bytesGroups adds the path lengths of rows (a multiple of eight) over all trees into sums.
func bytesGroups(ts []btree, rows []brow, sums []float64) { bytesGroupsGo(ts, rows, sums) }
