package process

import (
	"encoding/binary"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestParseStat(t *testing.T) {
	line := "4242 (we ird) (name)) S 1 4242 4242 34816 4242 4194304 100 0 0 0 7 3 0 0 20 0 2 0 123456 1000000 250 18446744073709551615 0 0 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n"
	s, err := parseStat([]byte(line))
	require.NoError(t, err)
	require.Equal(t, "we ird) (name)", s.Comm)
	require.Equal(t, byte('S'), s.State)
	require.Equal(t, int32(1), s.PPID)
	require.Equal(t, int64(34816), s.TTYNr)
	require.Equal(t, uint64(7), s.UTime)
	require.Equal(t, uint64(3), s.STime)
	require.Equal(t, int32(2), s.Threads)
	require.Equal(t, uint64(123456), s.StartTicks)
	require.Equal(t, int64(250), s.RSSPages)
	require.Equal(t, "pts/0", ttyName(s.TTYNr))

	for _, bad := range []string{"", "1 (x", "1 (x) S 1 2", "1 (x) S a b c d e f g h i j k l m n o p q r s t u v w"} {
		_, err := parseStat([]byte(bad))
		require.Error(t, err, bad)
	}
}

func TestParseStatus(t *testing.T) {
	s, err := parseStatus([]byte("Name:\tsudo\nUid:\t1000\t0\t0\t0\nGid:\t1000\t1000\t1000\t1000\nCapEff:\t000001ffffffffff\nThreads:\t3\nPPid:\t77\n"))
	require.NoError(t, err)
	require.Equal(t, "sudo", s.Name)
	require.Equal(t, [4]uint32{1000, 0, 0, 0}, s.UIDs)
	require.Equal(t, uint32(1000), s.GIDs[1])
	require.Equal(t, "000001ffffffffff", s.CapEff)
	require.Equal(t, int32(3), s.Threads)
	require.Equal(t, int32(77), s.PPID)
	_, err = parseStatus([]byte("Uid:\t1 2\n"))
	require.Error(t, err)
	_, err = parseStatus([]byte("Uid:\t1 2 x 4\n"))
	require.Error(t, err)
}

func TestParseCgroupAndCmdline(t *testing.T) {
	id := "4f3c1b2a9d8e7f60c5b4a3928170f6e5d4c3b2a19080706f5e4d3c2b1a098765"
	for _, in := range []string{
		"0::/system.slice/docker-" + id + ".scope\n",
		"12:memory:/docker/" + id + "\n0::/docker/" + id + "\n",
		"0::/kubepods.slice/kubepods-besteffort.slice/cri-containerd-" + id + ".scope\n",
	} {
		_, got := parseCgroup([]byte(in))
		require.Equal(t, id, got, in)
	}
	path, got := parseCgroup([]byte("0::/user.slice/user-0.slice/session-1.scope\n"))
	require.Equal(t, "/user.slice/user-0.slice/session-1.scope", path)
	require.Empty(t, got)

	require.Equal(t, "ls -la /tmp", splitCmdline([]byte("ls\x00-la\x00/tmp\x00"), 100))
	require.Equal(t, "ls -…", splitCmdline([]byte("ls\x00-la\x00/tmp\x00"), 4))
	require.Equal(t, "tty3", ttyName(4<<8|3))
	require.Equal(t, "ttyS1", ttyName(4<<8|65))
	require.Equal(t, "", ttyName(0))
}

// nlEvent builds one connector datagram as the kernel sends it.
func nlEvent(what uint32, ts uint64, data ...uint32) []byte {
	le := binary.NativeEndian
	ev := make([]byte, procEventHdr+4*len(data))
	le.PutUint32(ev[0:4], what)
	le.PutUint64(ev[8:16], ts)
	for i, d := range data {
		le.PutUint32(ev[procEventHdr+4*i:], d)
	}
	msg := make([]byte, nlmsgHdrLen+cnMsgLen+len(ev))
	le.PutUint32(msg[0:4], uint32(len(msg)))
	le.PutUint16(msg[4:6], nlmsgDone)
	le.PutUint32(msg[16:20], cnIdxProc)
	le.PutUint32(msg[20:24], cnValProc)
	le.PutUint16(msg[32:34], uint16(len(ev)))
	copy(msg[nlmsgHdrLen+cnMsgLen:], ev)
	return msg
}

func TestParseNetlink(t *testing.T) {
	b := append(nlEvent(procEventFork, 5, 10, 10, 11, 11), nlEvent(procEventExit, 6, 11, 11, 3<<8, 17, 10, 10)...)
	b = append(b, nlEvent(procEventExec, 7, 12, 12)...)
	evs, overrun, err := parseNetlink(b)
	require.NoError(t, err)
	require.False(t, overrun)
	require.Len(t, evs, 3)
	require.Equal(t, cnEvent{What: procEventFork, TimestampNS: 5, PPID: 10, PTGID: 10, PID: 11, TGID: 11}, evs[0])
	require.Equal(t, int32(10), evs[1].PTGID)
	code, sig := exitStatus(evs[1].ExitCode)
	require.Equal(t, int32(3), code)
	require.Zero(t, sig)
	code, sig = exitStatus(9)
	require.Equal(t, int32(137), code)
	require.Equal(t, int32(9), sig)
	require.Equal(t, int32(12), evs[2].TGID)

	_, _, err = parseNetlink(nlEvent(procEventFork, 5, 1)) // fork with too little data
	require.Error(t, err)
	_, _, err = parseNetlink(b[:len(b)-3])
	require.Error(t, err)
}

func FuzzParseNetlink(f *testing.F) {
	f.Add(nlEvent(procEventFork, 5, 10, 10, 11, 11))
	f.Add(nlEvent(procEventExit, 6, 11, 11, 0, 17, 10, 10))
	f.Add(append(nlEvent(procEventExec, 7, 12, 12), nlEvent(procEventUID, 8, 12, 12, 0, 0)...))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		evs, _, _ := parseNetlink(b)
		for _, ev := range evs {
			switch ev.What {
			case procEventFork, procEventExec, procEventExit, procEventUID:
			default:
				t.Fatalf("unexpected event type %#x", ev.What)
			}
		}
	})
}

func FuzzParseStat(f *testing.F) {
	f.Add([]byte("1 (init) S 0 1 1 0 -1 4194560 1 2 3 4 5 6 7 8 20 0 1 0 10 1 2 3"))
	f.Add([]byte("2 ((x)) R 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1"))
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := parseStat(b)
		if err == nil {
			_ = ttyName(s.TTYNr)
		}
	})
}

func FuzzParseStatus(f *testing.F) {
	f.Add([]byte("Name:\tx\nUid:\t1\t2\t3\t4\nGid:\t1\t2\t3\t4\nCapEff:\t0\n"))
	f.Fuzz(func(t *testing.T, b []byte) { _, _ = parseStatus(b) })
}

func FuzzParseCgroup(f *testing.F) {
	f.Add([]byte("0::/system.slice/docker-4f3c1b2a9d8e7f60c5b4a3928170f6e5d4c3b2a19080706f5e4d3c2b1a098765.scope\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		_, id := parseCgroup(b)
		if id != "" && len(id) != 64 {
			t.Fatalf("container id %q", id)
		}
		_ = splitCmdline(b, 64)
	})
}
