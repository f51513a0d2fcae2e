//go:build linux

package process

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

// readInto reads a small /proc file into buf (grown when too small) with open, read until EOF and
// close only: os.ReadFile adds an fstat and a non-blocking fcntl per file, a third of the cost
// of a per-process snapshot read.
func readInto(path string, buf []byte) ([]byte, error) { return readIntoMax(path, buf, 0) }

// readIntoMax is readInto stopping once more than max bytes are read (max 0: no bound).
func readIntoMax(path string, buf []byte, max int) ([]byte, error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	for errors.Is(err, unix.EINTR) {
		fd, err = unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	}
	if err != nil {
		return buf[:0], &os.PathError{Op: "open", Path: path, Err: err}
	}
	defer unix.Close(fd)
	buf = buf[:cap(buf)]
	if len(buf) == 0 {
		buf = make([]byte, 1024)
	}
	n := 0
	for {
		if n == len(buf) {
			buf = append(buf, make([]byte, len(buf))...)
		}
		m, err := unix.Read(fd, buf[n:])
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return buf[:0], &os.PathError{Op: "read", Path: path, Err: err}
		}
		if m <= 0 {
			return buf[:n], nil
		}
		n += m
		if max > 0 && n > max {
			return buf[:n], nil
		}
	}
}

// listPids appends the numeric entries of the directory root (the pids of a procfs) to pids,
// reading the directory with getdents into buf: no string per entry.
func listPids(root string, buf []byte, pids []int32) ([]int32, error) {
	fd, err := unix.Open(root, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return pids, &os.PathError{Op: "open", Path: root, Err: err}
	}
	defer unix.Close(fd)
	for {
		n, err := unix.Getdents(fd, buf)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return pids, &os.PathError{Op: "getdents", Path: root, Err: err}
		}
		if n <= 0 {
			return pids, nil
		}
		pids = parseDirents(buf[:n], pids)
	}
}

// countEntries counts the entries of a directory other than . and .. (getdents into buf).
func countEntries(dir string, buf []byte) (int32, error) {
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return 0, &os.PathError{Op: "open", Path: dir, Err: err}
	}
	defer unix.Close(fd)
	var c int32
	for {
		n, err := unix.Getdents(fd, buf)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return c, &os.PathError{Op: "getdents", Path: dir, Err: err}
		}
		if n <= 0 {
			return c, nil
		}
		c += countDirents(buf[:n])
	}
}

// fdCount is the number of open fds of pid: since Linux 6.2 the size that stat reports for
// /proc/PID/fd; older kernels report 0, and then the entries are counted.
func fdCount(dir string, buf []byte) (int32, error) {
	var st unix.Stat_t
	if err := unix.Stat(dir, &st); err != nil {
		return 0, &os.PathError{Op: "stat", Path: dir, Err: err}
	}
	if st.Size > 0 {
		return int32(st.Size), nil
	}
	return countEntries(dir, buf)
}
