package process

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/amoskys/amoskys/schemas"
)

// TestHandleWithoutProc drives the connector logic with events for processes /proc no longer
// shows (an empty procfs): the exec is partial yet keeps its parent and ancestry from the cache.
func TestHandleWithoutProc(t *testing.T) {
	root := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(root, "stat"), []byte("cpu 1 2 3\nbtime 1700000000\n"), 0o644))
	c, err := NewCollector(Config{ProcRoot: root, Host: "h", Interval: time.Hour, UseConnector: ConnectorOff})
	require.NoError(t, err)
	boot := time.Unix(1700000000, 0).UTC()
	c.cache[1] = &proc{pid: 1, name: "init", start: boot}
	c.cache[100] = &proc{pid: 100, ppid: 1, name: "bash", exe: "/bin/bash", uid: 1000, euid: 1000, start: boot.Add(time.Minute)}

	c.handle(&cnEvent{What: procEventFork, PPID: 100, PTGID: 100, PID: 200, TGID: 200, TimestampNS: uint64(2 * time.Minute)})
	c.handle(&cnEvent{What: procEventFork, PPID: 200, PTGID: 200, PID: 201, TGID: 200}) // a thread: ignored
	c.handle(&cnEvent{What: procEventUID, PID: 200, TGID: 200, RUID: 1000, EUID: 0})
	c.handle(&cnEvent{What: procEventExec, PID: 200, TGID: 200})
	c.handle(&cnEvent{What: procEventExit, PID: 200, TGID: 200, ExitCode: 1 << 8, PPID: 100, PTGID: 100})
	c.handle(&cnEvent{What: procEventExit, PID: 200, TGID: 200, ExitCode: 1 << 8}) // duplicate: ignored

	c.pmu.Lock()
	evs := append([]*schemas.TelemetryEvent(nil), c.pending...)
	c.pmu.Unlock()
	require.Len(t, evs, 2)
	ex := evs[0]
	require.Equal(t, schemas.KindProcessExec, ex.Kind)
	require.Equal(t, "partial", ex.Labels[LabelDetails])
	require.Equal(t, "?", ex.Process.Name, "the parent's name is not the new image's")
	require.Empty(t, ex.Process.Exe)
	require.Equal(t, int32(100), ex.Process.PPID)
	require.Equal(t, uint32(1000), ex.Process.UID)
	require.Equal(t, uint32(0), ex.Process.EUID, "from the uid-change event")
	require.Equal(t, []schemas.Ancestor{{PID: 100, Name: "bash", Exe: "/bin/bash", UID: 1000, EUID: 1000}, {PID: 1, Name: "init"}}, ex.Process.Ancestry)
	exit := evs[1]
	require.Equal(t, schemas.KindProcessExit, exit.Kind)
	require.Equal(t, int32(1), *exit.Process.ExitCode)
	require.Equal(t, ex.Process.StartTime, exit.Process.StartTime)
	require.Equal(t, boot.Add(2*time.Minute), ex.Process.StartTime, "start in /proc's frame: btime + time since boot")
	require.Equal(t, uint64(2), c.Stats().Execs+c.Stats().Exits)
}

// TestExecReplacedBeforeRead: when a later exec of the same pid is already queued from before the
// first exec's /proc read ended, /proc showed the later image: the first exec is emitted partial
// (not as a copy of the second); a later exec queued well after the read leaves it whole.
func TestExecReplacedBeforeRead(t *testing.T) {
	root := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(root, "stat"), []byte("btime 1700000000\n"), 0o644))
	dir := filepath.Join(root, "300")
	require.NoError(t, os.Mkdir(dir, 0o755))
	stat := "300 (sleep) S 100 300 300 0 -1 4194304 1 0 0 0 0 0 0 0 20 0 1 0 12000 1000 100 0 0\n"
	require.NoError(t, os.WriteFile(filepath.Join(dir, "stat"), []byte(stat), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "cmdline"), []byte("/bin/sleep\x001\x00"), 0o644))
	require.NoError(t, os.Symlink("/usr/bin/sleep", filepath.Join(dir, "exe")))
	c, err := NewCollector(Config{ProcRoot: root, Host: "h", Interval: time.Hour, UseConnector: ConnectorOff})
	require.NoError(t, err)
	c.cache[100] = &proc{pid: 100, name: "bash", start: time.Unix(1700000000, 0)}
	pending := func() []*schemas.TelemetryEvent {
		c.pmu.Lock()
		defer c.pmu.Unlock()
		out := append([]*schemas.TelemetryEvent(nil), c.pending...)
		c.pending = c.pending[:0]
		return out
	}

	// sh's exec, with sleep's exec (same pid) queued behind it from before the read ended.
	now := monoNow()
	c.ahead = []cnEvent{{What: procEventExec, PID: 300, TGID: 300, TimestampNS: uint64(now + 1)}}
	c.handle(&cnEvent{What: procEventExec, PID: 300, TGID: 300, TimestampNS: uint64(now)})
	next := c.ahead[0] // as readConnector does
	c.ahead = c.ahead[1:]
	c.handle(&next)
	evs := pending()
	require.Len(t, evs, 2)
	require.Equal(t, "partial", evs[0].Labels[LabelDetails], "the first image is unknown, not sleep")
	require.Equal(t, "?", evs[0].Process.Name)
	require.Empty(t, evs[0].Process.Exe)
	require.Equal(t, int32(100), evs[0].Process.PPID, "the parent is kept")
	require.Equal(t, "bash", evs[0].Process.Ancestry[0].Name)
	require.Equal(t, "sleep", evs[1].Process.Name)
	require.Equal(t, "/usr/bin/sleep", evs[1].Process.Exe)
	require.Equal(t, evs[0].Process.StartTime, evs[1].Process.StartTime)
	require.Equal(t, uint64(1), c.Stats().ReplacedExecs)

	// A later exec queued a second after the read: this read saw this exec's own image.
	c.ahead = []cnEvent{{What: procEventExec, PID: 300, TGID: 300, TimestampNS: uint64(monoNow() + int64(time.Second))}}
	c.handle(&cnEvent{What: procEventExec, PID: 300, TGID: 300, TimestampNS: uint64(now)})
	evs = pending()
	require.Len(t, evs, 1)
	require.Empty(t, evs[0].Labels[LabelDetails])
	require.Equal(t, "/bin/sleep 1", evs[0].Process.Cmdline)
	require.Equal(t, uint64(1), c.Stats().ReplacedExecs)
}

// TestCommChangeWithoutExecIsNoReplacement: comm changed during the read but no later exec of the
// pid arrives within the load lead: a rename (prctl), the details stand. With a later exec queued
// in time, they are the next image's.
func TestCommChangeWithoutExecIsNoReplacement(t *testing.T) {
	root := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(root, "stat"), []byte("btime 1700000000\n"), 0o644))
	require.NoError(t, os.Mkdir(filepath.Join(root, "300"), 0o755))
	stat := "300 (renamed) S 100 300 300 0 -1 4194304 1 0 0 0 0 0 0 0 20 0 1 0 12000 1000 100 0 0\n"
	require.NoError(t, os.WriteFile(filepath.Join(root, "300", "stat"), []byte(stat), 0o644))
	c, err := NewCollector(Config{ProcRoot: root, Host: "h", Interval: time.Hour, UseConnector: ConnectorOff})
	require.NoError(t, err)
	d := &details{stat: statInfo{Comm: "daemon"}}
	ev := &cnEvent{What: procEventExec, PID: 300, TGID: 300, TimestampNS: 1}
	require.False(t, c.replacedDuring(ev, d, monoNow()))
	c.ahead = []cnEvent{{What: procEventExec, PID: 300, TGID: 300, TimestampNS: uint64(monoNow())}}
	require.True(t, c.replacedDuring(ev, d, monoNow()))
}

// TestExecReadWhileReaped: the exec is handled so late that /proc shows the task being reaped
// (ppid 0, no exe): the parent from the fork is kept and the exec is partial, not parentless.
func TestExecReadWhileReaped(t *testing.T) {
	root := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(root, "stat"), []byte("btime 1700000000\n"), 0o644))
	require.NoError(t, os.Mkdir(filepath.Join(root, "300"), 0o755))
	stat := "300 (true) X 0 300 300 0 -1 4194304 1 0 0 0 0 0 0 0 20 0 1 0 12000 0 0 0 0\n"
	require.NoError(t, os.WriteFile(filepath.Join(root, "300", "stat"), []byte(stat), 0o644))
	c, err := NewCollector(Config{ProcRoot: root, Host: "h", Interval: time.Hour, UseConnector: ConnectorOff})
	require.NoError(t, err)
	c.cache[100] = &proc{pid: 100, name: "sh", start: time.Unix(1700000000, 0)}
	c.handle(&cnEvent{What: procEventFork, PPID: 100, PTGID: 100, PID: 300, TGID: 300, TimestampNS: uint64(120 * time.Second)})
	c.handle(&cnEvent{What: procEventExec, PID: 300, TGID: 300, TimestampNS: uint64(121 * time.Second)})
	c.handle(&cnEvent{What: procEventExit, PID: 300, TGID: 300, PPID: 100, PTGID: 100, TimestampNS: uint64(122 * time.Second)})
	c.pmu.Lock()
	defer c.pmu.Unlock()
	require.Len(t, c.pending, 2)
	for _, ev := range c.pending {
		require.Equal(t, int32(100), ev.Process.PPID, "%s", ev.Kind)
	}
	require.Equal(t, "partial", c.pending[0].Labels[LabelDetails])
	require.Equal(t, "sh", c.pending[0].Process.Ancestry[0].Name)
}
