package process

import (
	"encoding/binary"
	"errors"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// dirent builds one linux_dirent64 record.
func dirent(name string) []byte {
	rl := (direntNameOff + len(name) + 1 + 7) &^ 7
	b := make([]byte, rl)
	binary.NativeEndian.PutUint64(b[0:], 1)
	binary.NativeEndian.PutUint16(b[16:], uint16(rl))
	copy(b[direntNameOff:], name)
	return b
}

func TestParseDirents(t *testing.T) {
	var buf []byte
	for _, n := range []string{".", "..", "1", "self", "4242", "0", "2147483647", "2147483648", "12a", "99999999999999999999", "sys"} {
		buf = append(buf, dirent(n)...)
	}
	require.Equal(t, []int32{1, 4242, 2147483647}, parseDirents(buf, nil))
	require.Equal(t, int32(9), countDirents(buf), "all but . and ..")
	// Truncated or malformed records end the parse without a panic.
	require.Equal(t, []int32{1}, parseDirents(append(dirent("1"), 1, 2, 3), nil))
	bad := dirent("7")
	binary.NativeEndian.PutUint16(bad[16:], 3)
	require.Empty(t, parseDirents(bad, nil))
}

func FuzzParseDirents(f *testing.F) {
	f.Add(append(dirent("1"), dirent("..")...))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, pid := range parseDirents(b, nil) {
			if pid <= 0 {
				t.Fatalf("pid %d", pid)
			}
		}
		_ = countDirents(b)
	})
}

// parseStatFields is the former strings.Fields parser, kept as the reference for parseStatComm.
func parseStatFields(b []byte) (statInfo, error) {
	var s statInfo
	open, closeIdx := strings.IndexByte(string(b), '('), strings.LastIndexByte(string(b), ')')
	if open < 0 || closeIdx < open {
		return s, errors.New("no comm")
	}
	s.Comm = string(b[open+1 : closeIdx])
	f := strings.Fields(string(b[closeIdx+1:]))
	if len(f) < 22 {
		return s, errShortStat
	}
	s.State = f[0][0]
	var err error
	num := func(i int) int64 {
		v, e := strconv.ParseInt(f[i-3], 10, 64)
		err = errors.Join(err, e)
		return v
	}
	unum := func(i int) uint64 {
		v, e := strconv.ParseUint(f[i-3], 10, 64)
		err = errors.Join(err, e)
		return v
	}
	s.PPID, s.TTYNr, s.UTime, s.STime = int32(num(4)), num(7), unum(14), unum(15)
	s.Threads, s.StartTicks, s.RSSPages = int32(num(20)), unum(22), num(24)
	if err != nil {
		return statInfo{}, err
	}
	return s, nil
}

func FuzzParseStatReference(f *testing.F) {
	f.Add([]byte("4242 (we ird) (name)) S 1 4242 4242 34816 4242 4194304 100 0 0 0 7 3 0 0 20 0 2 0 123456 1000000 250 18446744073709551615 0 0\n"))
	f.Add([]byte("1 (x) S 1 2"))
	f.Add([]byte("1 (x)\tS  1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22\n"))
	var sn snapState
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, c := range b {
			if c >= 0x80 {
				return // strings.Fields also splits on Unicode spaces; /proc writes ASCII
			}
		}
		want, werr := parseStatFields(b)
		got, err := parseStatComm(b, sn.comm)
		if (werr == nil) != (err == nil) {
			t.Fatalf("%q: reference err %v, got %v", b, werr, err)
		}
		if err == nil && want != got {
			t.Fatalf("%q: reference %+v, got %+v", b, want, got)
		}
	})
}

func TestParseIO(t *testing.T) {
	r, w := parseIO([]byte("rchar: 6976\nwchar: 12\nsyscr: 10\nsyscw: 0\nread_bytes: 4096\nwrite_bytes: 0\n"))
	require.Equal(t, uint64(6976), r)
	require.Equal(t, uint64(12), w)
	r, w = parseIO([]byte("garbage\nrchar: x\n"))
	require.Zero(t, r)
	require.Zero(t, w)
}
