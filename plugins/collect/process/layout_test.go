package process

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// statLine builds a full /proc/PID/stat line (52 fields) with the given flags and layout
// (start_code, end_code, start_stack, start_data, end_data, start_brk, arg_start, arg_end,
// env_start, env_end).
func statLine(pid int, comm string, flags uint64, layout [10]uint64) string {
	f := make([]string, 53) // 1-based
	for i := range f {
		f[i] = "0"
	}
	f[1], f[2], f[3], f[4] = strconv.Itoa(pid), "("+comm+")", "S", "100"
	f[9], f[20], f[22] = strconv.FormatUint(flags, 10), "1", "12000"
	for i, v := range layout {
		n := 26 + i
		if i >= 3 {
			n = 45 + i - 3
		}
		f[n] = strconv.FormatUint(v, 10)
	}
	return strings.Join(f[1:], " ") + "\n"
}

var (
	shLayout    = [10]uint64{0x5555_0000, 0x5555_9000, 0x7ffd_1000, 0x5555_a000, 0x5555_b000, 0x5555_c000, 0x7ffd_2000, 0x7ffd_2020, 0x7ffd_2020, 0x7ffd_2ff0}
	sleepLayout = [10]uint64{0x5566_0000, 0x5566_4000, 0x7ffe_1000, 0x5566_5000, 0x5566_6000, 0x5566_7000, 0x7ffe_2000, 0x7ffe_2018, 0x7ffe_2018, 0x7ffe_2ff0}
	loading     = [10]uint64{}
)

func TestParseStatMM(t *testing.T) {
	m := parseStatMM([]byte(statLine(7, "a) (b", 0x400100, shLayout)))
	require.True(t, m.known())
	require.False(t, m.midExec())
	require.Equal(t, shLayout, m.layout)
	require.Equal(t, uint64(0x400100), m.Flags)

	require.True(t, parseStatMM([]byte(statLine(7, "sleep", 0x400000, loading))).midExec(), "a new mm being loaded")
	// A task past exit_mm, a kernel thread, no ptrace access (1 1 0...), an old short line: unknown
	// or not an exec.
	require.False(t, parseStatMM([]byte(statLine(7, "x", pfExiting, loading))).midExec())
	require.False(t, parseStatMM([]byte(statLine(2, "kthreadd", pfKthread, loading))).known())
	require.False(t, parseStatMM([]byte(statLine(7, "x", 0, [10]uint64{1, 1}))).known())
	require.False(t, parseStatMM([]byte("300 (sleep) S 100 300 300 0 -1 4194304 1 0 0 0 0 0 0 0 20 0 1 0 12000 1000 100 0 0\n")).known())
	require.False(t, parseStatMM([]byte("1 (x) S 1 2 x")).known())
	require.False(t, parseStatMM(nil).known())
}

// TestLayoutTellsExecDuringRead: with the address-space layout readable, a read that began inside
// a later exec's load, or that straddled one, is replaced at once, with nothing queued and no
// waiting; a comm change with the same layout is a rename.
func TestLayoutTellsExecDuringRead(t *testing.T) {
	root := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(root, "stat"), []byte("btime 1700000000\n"), 0o644))
	require.NoError(t, os.Mkdir(filepath.Join(root, "300"), 0o755))
	c, err := NewCollector(Config{ProcRoot: root, Host: "h", Interval: time.Hour, UseConnector: ConnectorOff})
	require.NoError(t, err)
	now := func(comm string, layout [10]uint64) {
		require.NoError(t, os.WriteFile(filepath.Join(root, "300", "stat"), []byte(statLine(300, comm, 0x400000, layout)), 0o644))
	}
	read := func(comm string, layout [10]uint64) *details {
		b := []byte(statLine(300, comm, 0x400000, layout))
		st, err := parseStat(b)
		require.NoError(t, err)
		return &details{stat: st, mm: parseStatMM(b)}
	}
	ev := &cnEvent{What: procEventExec, PID: 300, TGID: 300, TimestampNS: 1}

	now("sleep", sleepLayout)
	require.True(t, c.replacedDuring(ev, read("sh", loading), monoNow()), "read began in a later exec's load")
	require.True(t, c.replacedDuring(ev, read("sh", shLayout), monoNow()), "an exec completed during the read")
	now("sleep", loading)
	require.True(t, c.replacedDuring(ev, read("sh", shLayout), monoNow()), "an exec began during the read")
	now("renamed", shLayout)
	require.False(t, c.replacedDuring(ev, read("sh", shLayout), monoNow()), "a rename, same layout")
	now("sh", shLayout)
	require.False(t, c.replacedDuring(ev, read("sh", shLayout), monoNow()))

	// End to end through handle: the first exec, read while the second loads, is partial.
	c.cache[100] = &proc{pid: 100, name: "bash", start: time.Unix(1700000000, 0)}
	now("sleep", loading)
	require.NoError(t, os.Symlink("/usr/bin/sleep", filepath.Join(root, "300", "exe")))
	c.handle(&cnEvent{What: procEventExec, PID: 300, TGID: 300, TimestampNS: uint64(monoNow())})
	c.pmu.Lock()
	defer c.pmu.Unlock()
	require.Len(t, c.pending, 1)
	require.Equal(t, "partial", c.pending[0].Labels[LabelDetails])
	require.Equal(t, "?", c.pending[0].Process.Name)
	require.Empty(t, c.pending[0].Process.Exe)
	require.Equal(t, int32(100), c.pending[0].Process.PPID)
	require.Equal(t, uint64(1), c.Stats().ReplacedExecs)
}
