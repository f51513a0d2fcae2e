package process

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"
)

// clkTck is USER_HZ, the unit of /proc/PID/stat times (100 on every Linux ABI we build for).
const clkTck = 100

// statInfo is what /proc/PID/stat tells.
type statInfo struct {
	Comm       string
	State      byte
	PPID       int32
	TTYNr      int64
	UTime      uint64 // ticks
	STime      uint64 // ticks
	Threads    int32
	StartTicks uint64 // since boot
	RSSPages   int64
}

var errShortStat = errors.New("stat: too few fields")

// parseStat parses /proc/PID/stat. comm may hold spaces and parentheses: it runs from the first
// '(' to the last ')'.
func parseStat(b []byte) (statInfo, error) { return parseStatComm(b, nil) }

var asciiSpace = [256]bool{'\t': true, '\n': true, '\v': true, '\f': true, '\r': true, ' ': true}

// parseStatComm is parseStat without allocating: fields are scanned in place, and comm, when not
// nil, turns the comm bytes into a string (an intern table: the same names come every snapshot).
func parseStatComm(b []byte, comm func([]byte) string) (statInfo, error) {
	var s statInfo
	open := bytes.IndexByte(b, '(')
	closeIdx := bytes.LastIndexByte(b, ')')
	if open < 0 || closeIdx < open {
		return s, errors.New("stat: no (comm)")
	}
	if comm != nil {
		s.Comm = comm(b[open+1 : closeIdx])
	} else {
		s.Comm = string(b[open+1 : closeIdx])
	}
	// Field n (1-based, as in proc(5)) is the (n-2)th space-separated field after ")".
	rest := b[closeIdx+1:]
	var err error
	n := 2
	for len(rest) > 0 && n < 24 {
		var f []byte
		if f, rest = nextField(rest); f == nil {
			break
		}
		n++
		var v int64
		var u uint64
		switch n {
		case 3:
			s.State = f[0]
		case 4, 7, 20, 24:
			if v, err = strconv.ParseInt(string(f), 10, 64); err != nil {
				return statInfo{}, fmt.Errorf("stat: %w", err)
			}
			switch n {
			case 4:
				s.PPID = int32(v)
			case 7:
				s.TTYNr = v
			case 20:
				s.Threads = int32(v)
			default:
				s.RSSPages = v
			}
		case 14, 15, 22:
			if u, err = strconv.ParseUint(string(f), 10, 64); err != nil {
				return statInfo{}, fmt.Errorf("stat: %w", err)
			}
			switch n {
			case 14:
				s.UTime = u
			case 15:
				s.STime = u
			default:
				s.StartTicks = u
			}
		}
	}
	if n < 24 {
		return statInfo{}, errShortStat
	}
	return s, nil
}

// statusInfo is what /proc/PID/status tells.
type statusInfo struct {
	Name    string
	UIDs    [4]uint32 // real, effective, saved, fs
	GIDs    [4]uint32
	CapEff  string
	Threads int32
	PPID    int32
}

// parseStatus parses /proc/PID/status. Missing lines leave zero values; malformed ids are errors.
func parseStatus(b []byte) (statusInfo, error) {
	var s statusInfo
	for len(b) > 0 {
		line := b
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			line, b = b[:i], b[i+1:]
		} else {
			b = nil
		}
		k, v, ok := bytes.Cut(line, []byte{':'})
		if !ok {
			continue
		}
		val := strings.TrimSpace(string(v))
		switch string(k) {
		case "Name":
			s.Name = val
		case "Uid", "Gid":
			f := strings.Fields(val)
			if len(f) != 4 {
				return s, fmt.Errorf("status: %s has %d fields", k, len(f))
			}
			dst := &s.UIDs
			if string(k) == "Gid" {
				dst = &s.GIDs
			}
			for i, x := range f {
				n, err := strconv.ParseUint(x, 10, 32)
				if err != nil {
					return s, fmt.Errorf("status: %s: %w", k, err)
				}
				dst[i] = uint32(n)
			}
		case "CapEff":
			s.CapEff = val
		case "Threads":
			n, err := strconv.ParseInt(val, 10, 32)
			if err == nil {
				s.Threads = int32(n)
			}
		case "PPid":
			n, err := strconv.ParseInt(val, 10, 32)
			if err == nil {
				s.PPID = int32(n)
			}
		}
	}
	return s, nil
}

// splitCmdline turns the NUL-separated /proc/PID/cmdline into one line of at most max bytes.
func splitCmdline(b []byte, max int) string {
	b = bytes.TrimRight(b, "\x00")
	truncated := false
	if len(b) > max {
		b, truncated = b[:max], true
	}
	s := strings.ToValidUTF8(string(bytes.ReplaceAll(b, []byte{0}, []byte{' '})), "\uFFFD")
	if truncated {
		s += "…"
	}
	return s
}

var containerIDRE = regexp.MustCompile(`(?:^|[/-])([0-9a-f]{64})(?:\.scope)?$`)

// parseCgroup returns the process's cgroup path (the unified hierarchy's, else the first line's)
// and a container id when the path names one (docker, containerd, cri-o, podman, kubepods).
func parseCgroup(b []byte) (path, containerID string) {
	for _, line := range strings.Split(string(b), "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 {
			continue
		}
		if path == "" || parts[0] == "0" {
			path = parts[2]
		}
		if containerID == "" {
			for _, seg := range strings.Split(parts[2], "/") {
				if m := containerIDRE.FindStringSubmatch(seg); m != nil {
					containerID = m[1]
				}
			}
		}
	}
	return path, containerID
}

// ttyName names the terminal of a tty_nr from /proc/PID/stat ("" for none).
func ttyName(nr int64) string {
	if nr <= 0 {
		return ""
	}
	major := (nr >> 8) & 0xfff
	minor := (nr & 0xff) | ((nr >> 12) & 0xfff00)
	switch {
	case major >= 136 && major <= 143:
		return "pts/" + strconv.FormatInt(minor+(major-136)*256, 10)
	case major == 4 && minor < 64:
		return "tty" + strconv.FormatInt(minor, 10)
	case major == 4:
		return "ttyS" + strconv.FormatInt(minor-64, 10)
	case major == 5 && minor == 1:
		return "console"
	}
	return fmt.Sprintf("%d:%d", major, minor)
}

// parseBtime reads btime (boot time, unix seconds) from /proc/stat.
func parseBtime(b []byte) (int64, error) {
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "btime "); ok {
			return strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		}
	}
	return 0, errors.New("/proc/stat: no btime")
}

// procfs reads process details from a procfs mount.
type procfs struct {
	root       string
	cmdlineMax int
	bootTime   time.Time

	mu    sync.Mutex
	users map[uint32]string
}

func newProcfs(root string, cmdlineMax int) (*procfs, error) {
	b, err := os.ReadFile(filepath.Join(root, "stat"))
	if err != nil {
		return nil, fmt.Errorf("reading boot time: %w", err)
	}
	bt, err := parseBtime(b)
	if err != nil {
		return nil, err
	}
	return &procfs{root: root, cmdlineMax: cmdlineMax, bootTime: time.Unix(bt, 0).UTC(), users: map[uint32]string{}}, nil
}

// bufPool holds read buffers for the /proc reads at exec time (connector and snapshot goroutines).
var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}

func getBuf() *[]byte { return bufPool.Get().(*[]byte) }

func putBuf(b *[]byte) {
	if cap(*b) <= 64<<10 { // a huge cmdline's buffer is not kept
		bufPool.Put(b)
	}
}

func (p *procfs) path(pid int32, name string) string {
	return filepath.Join(p.root, strconv.Itoa(int(pid)), name)
}

// startTime converts boot ticks to a wall time (the identity half beside the pid).
func (p *procfs) startTime(ticks uint64) time.Time {
	return p.bootTime.Add(time.Duration(ticks) * (time.Second / clkTck))
}

func (p *procfs) stat(pid int32) (statInfo, error) {
	st, _, err := p.statMM(pid)
	return st, err
}

// statMM is stat plus the address-space fields of the same read.
func (p *procfs) statMM(pid int32) (statInfo, mmInfo, error) {
	bp := getBuf()
	defer putBuf(bp)
	b, err := readInto(p.path(pid, "stat"), *bp)
	*bp = b
	if err != nil {
		return statInfo{}, mmInfo{}, err
	}
	st, err := parseStat(b)
	if err != nil {
		return st, mmInfo{}, err
	}
	return st, parseStatMM(b), nil
}

// Task flags (PF_*, /proc/PID/stat field 9).
const (
	pfExiting = 0x00000004
	pfKthread = 0x00200000
)

// mmInfo is the part of /proc/PID/stat that describes the address space: the task flags (field
// 9) and the layout fields 26-28 (start_code, end_code, start_stack) and 45-51 (data, brk, argv
// and environment bounds). An exec builds a new address space and swaps it in (with the new exe)
// before loading the binary: until the loader is done, start_code and end_code read 0 (the fresh
// mm's), and once it is done every layout field is the new image's (ASLR or not, the stack and
// argument bounds move with the new argv and file name). So a live process whose layout reads 0 is
// in the middle of an exec, and two reads with different layouts straddle one. Without ptrace
// access (not root) the kernel prints start_code and end_code as 1 and the rest as 0: unknown.
type mmInfo struct {
	Flags  uint64
	layout [10]uint64 // start_code, end_code, start_stack, start_data, end_data, start_brk, arg_start, arg_end, env_start, env_end
	fields int        // fields after comm that were present
}

// known says the layout fields were present and readable (root, a kernel from 3.5 on).
func (m mmInfo) known() bool {
	return m.fields >= 51 && !(m.layout[0] == 1 && m.layout[1] == 1) && m.Flags&pfKthread == 0
}

// midExec says the address space is a new one still being loaded by an exec: a process that is
// neither a kernel thread nor exiting (no mm, zeros too) whose code bounds are not set yet.
func (m mmInfo) midExec() bool {
	return m.known() && m.Flags&pfExiting == 0 && (m.layout[0] == 0 || m.layout[1] == 0)
}

// parseStatMM extracts mmInfo from a /proc/PID/stat line; fields absent or malformed stay 0 and
// make known false (fields counts only the well-formed prefix).
func parseStatMM(b []byte) mmInfo {
	var m mmInfo
	closeIdx := bytes.LastIndexByte(b, ')')
	if closeIdx < 0 {
		return m
	}
	rest := b[closeIdx+1:]
	n := 2
	for len(rest) > 0 && n < 51 {
		var f []byte
		if f, rest = nextField(rest); f == nil {
			break
		}
		n++
		var i int
		switch {
		case n == 9:
			i = -1
		case n >= 26 && n <= 28:
			i = n - 26
		case n >= 45 && n <= 51:
			i = n - 45 + 3
		default:
			continue
		}
		u, err := strconv.ParseUint(string(f), 10, 64)
		if err != nil {
			return mmInfo{}
		}
		if i < 0 {
			m.Flags = u
		} else {
			m.layout[i] = u
		}
	}
	m.fields = n
	return m
}

// details is everything read at exec time.
type details struct {
	stat        statInfo
	mm          mmInfo // from the same stat read, to tell whether a later exec was under way
	status      statusInfo
	StartTime   time.Time
	Exe         string
	ExeDeleted  bool
	ExeWritable bool
	Cmdline     string
	Cwd         string
	User        string
	TTY         string
	Cgroup      string
	ContainerID string
	SocketFDs   int32
	StdioSocket bool
}

// read reads the details of pid. Only stat is required: a zombie or a kernel thread has no exe.
// exe returns the executable's path, without a " (deleted)" suffix.
func (p *procfs) exe(pid int32) (string, error) {
	exe, err := os.Readlink(p.path(pid, "exe"))
	exe, _ = strings.CutSuffix(exe, " (deleted)")
	return exe, err
}

func (p *procfs) read(pid int32, full bool) (*details, error) {
	st, mm, err := p.statMM(pid)
	if err != nil {
		return nil, err
	}
	d := &details{stat: st, mm: mm, StartTime: p.startTime(st.StartTicks), TTY: ttyName(st.TTYNr)}
	bp := getBuf()
	defer putBuf(bp)
	if b, err := readInto(p.path(pid, "status"), *bp); err == nil {
		*bp = b
		if s, err := parseStatus(b); err == nil {
			d.status = s
		}
	}
	if exe, err := os.Readlink(p.path(pid, "exe")); err == nil {
		d.Exe, d.ExeDeleted = strings.CutSuffix(exe, " (deleted)")
		if fi, err := os.Stat(filepath.Dir(d.Exe)); err == nil && fi.Mode().Perm()&0o002 != 0 {
			d.ExeWritable = true
		}
	}
	if b, err := readIntoMax(p.path(pid, "cmdline"), *bp, p.cmdlineMax); err == nil {
		*bp = b
		d.Cmdline = splitCmdline(b, p.cmdlineMax)
	}
	d.User = p.userName(d.status.UIDs[0])
	if !full {
		return d, nil
	}
	if cwd, err := os.Readlink(p.path(pid, "cwd")); err == nil {
		d.Cwd = cwd
	}
	if b, err := readInto(p.path(pid, "cgroup"), *bp); err == nil {
		*bp = b
		d.Cgroup, d.ContainerID = parseCgroup(b)
	}
	d.SocketFDs, d.StdioSocket = p.sockets(pid)
	return d, nil
}

// sockets counts socket fds (bounded scan) and says whether fd 0, 1 or 2 is a socket.
func (p *procfs) sockets(pid int32) (int32, bool) {
	dir := p.path(pid, "fd")
	stdio := false
	for _, fd := range []string{"0", "1", "2"} {
		if l, err := os.Readlink(filepath.Join(dir, fd)); err == nil && strings.HasPrefix(l, "socket:") {
			stdio = true
		}
	}
	f, err := os.Open(dir)
	if err != nil {
		return 0, stdio
	}
	names, _ := f.Readdirnames(1024) // bounded: a process with more fds is counted on its first 1024
	_ = f.Close()
	var n int32
	for _, name := range names {
		if l, err := os.Readlink(filepath.Join(dir, name)); err == nil && strings.HasPrefix(l, "socket:") {
			n++
		}
	}
	return n, stdio
}

func (p *procfs) userName(uid uint32) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	if n, ok := p.users[uid]; ok {
		return n
	}
	n := ""
	if u, err := user.LookupId(strconv.FormatUint(uint64(uid), 10)); err == nil {
		n = u.Username
	}
	p.users[uid] = n
	return n
}

var pageSize = os.Getpagesize()

// nextField returns the first field of b and what follows it, with strings.Fields semantics for
// ASCII whitespace; f is nil when b holds no more fields.
func nextField(b []byte) (f, rest []byte) {
	k := 0
	for k < len(b) && asciiSpace[b[k]] {
		k++
	}
	b = b[k:]
	if len(b) == 0 {
		return nil, b
	}
	k = 0
	for k < len(b) && !asciiSpace[b[k]] {
		k++
	}
	return b[:k], b[k:]
}
