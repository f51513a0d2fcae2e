package process

import "encoding/binary"

// Linux struct linux_dirent64: d_ino u64, d_off s64, d_reclen u16, d_type u8, d_name (NUL-ended).
const direntNameOff = 19

// parseDirents appends the all-digit names of a getdents64 buffer as pids (> 0, fitting int32).
// A malformed record ends the parse: the buffer comes from the kernel, but a bad one never panics.
func parseDirents(b []byte, pids []int32) []int32 {
	for len(b) >= direntNameOff {
		rl := int(binary.NativeEndian.Uint16(b[16:18]))
		if rl < direntNameOff || rl > len(b) {
			return pids
		}
		name := b[direntNameOff:rl]
		var v int64
		ok := len(name) > 0 && name[0] != 0
		for _, c := range name {
			if c == 0 {
				break
			}
			if c < '0' || c > '9' || v > 1<<31 {
				ok = false
				break
			}
			v = v*10 + int64(c-'0')
		}
		if ok && v > 0 && v <= 1<<31-1 {
			pids = append(pids, int32(v))
		}
		b = b[rl:]
	}
	return pids
}

// countDirents counts the records of a getdents64 buffer other than "." and "..".
func countDirents(b []byte) int32 {
	var n int32
	for len(b) >= direntNameOff {
		rl := int(binary.NativeEndian.Uint16(b[16:18]))
		if rl < direntNameOff || rl > len(b) {
			return n
		}
		name := b[direntNameOff:rl]
		dot := len(name) > 0 && name[0] == '.' && (len(name) == 1 || name[1] == 0 || name[1] == '.' && (len(name) == 2 || name[2] == 0))
		if !dot {
			n++
		}
		b = b[rl:]
	}
	return n
}
