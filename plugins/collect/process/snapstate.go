package process

import (
	"bytes"
	"strconv"
)

// snapState holds what a snapshot reuses from one to the next, so that reading every process's
// stat each interval allocates next to nothing: the read buffer, the getdents buffer, the pid list,
// the map of live processes, and the distinct comm names seen (interned).
type snapState struct {
	buf, dent, pathb []byte
	pids             []int32
	live             map[int32]statInfo
	comms            map[string]string
}

// maxComms bounds the intern table; past it the table starts again.
const maxComms = 4096

func (s *snapState) dents() []byte {
	if s.dent == nil {
		s.dent = make([]byte, 32<<10)
	}
	return s.dent
}

func (s *snapState) liveMap(n int) map[int32]statInfo {
	if s.live == nil {
		s.live = make(map[int32]statInfo, n)
	}
	clear(s.live)
	return s.live
}

// path is root/pid/name, built in a reused buffer (the string is one allocation).
func (s *snapState) path(root string, pid int32, name string) string {
	b := append(s.pathb[:0], root...)
	b = append(b, '/')
	b = strconv.AppendInt(b, int64(pid), 10)
	b = append(b, '/')
	b = append(b, name...)
	s.pathb = b
	return string(b)
}

func (s *snapState) comm(b []byte) string {
	if v, ok := s.comms[string(b)]; ok {
		return v
	}
	if s.comms == nil || len(s.comms) >= maxComms {
		s.comms = make(map[string]string, 256)
	}
	v := string(b)
	s.comms[v] = v
	return v
}

// stat reads and parses root/pid/stat with the reused buffers.
func (s *snapState) stat(root string, pid int32) (statInfo, error) {
	b, err := readInto(s.path(root, pid, "stat"), s.buf)
	if err != nil {
		return statInfo{}, err
	}
	s.buf = b
	return parseStatComm(b, s.comm)
}

// parseIO reads rchar and wchar (bytes read and written through any file, socket or pipe: what
// gopsutil calls ReadBytes and WriteBytes) from /proc/PID/io.
func parseIO(b []byte) (read, write uint64) {
	for len(b) > 0 {
		line := b
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			line, b = b[:i], b[i+1:]
		} else {
			b = nil
		}
		k, v, ok := bytes.Cut(line, []byte(": "))
		if !ok {
			continue
		}
		switch string(k) {
		case "rchar":
			read, _ = strconv.ParseUint(string(bytes.TrimSpace(v)), 10, 64)
		case "wchar":
			write, _ = strconv.ParseUint(string(bytes.TrimSpace(v)), 10, 64)
		}
	}
	return read, write
}
