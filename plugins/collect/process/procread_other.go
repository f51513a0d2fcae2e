//go:build !linux

package process

import (
	"os"
	"strconv"
)

func readInto(path string, buf []byte) ([]byte, error) {
	b, err := os.ReadFile(path)
	return append(buf[:0], b...), err
}

func readIntoMax(path string, buf []byte, _ int) ([]byte, error) { return readInto(path, buf) }

func listPids(root string, _ []byte, pids []int32) ([]int32, error) {
	names, err := readNames(root)
	for _, n := range names {
		if pid, err := strconv.ParseInt(n, 10, 32); err == nil && pid > 0 {
			pids = append(pids, int32(pid))
		}
	}
	return pids, err
}

func fdCount(dir string, _ []byte) (int32, error) {
	names, err := readNames(dir)
	return int32(len(names)), err
}

func readNames(dir string) ([]string, error) {
	f, err := os.Open(dir)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return f.Readdirnames(-1)
}
