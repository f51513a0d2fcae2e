package process

import (
	"encoding/binary"
	"errors"
)

// Process connector event types (linux/cn_proc.h).
const (
	procEventNone = 0x00000000
	procEventFork = 0x00000001
	procEventExec = 0x00000002
	procEventUID  = 0x00000004
	procEventExit = 0x80000000

	nlmsgHdrLen   = 16
	cnMsgLen      = 20
	procEventHdr  = 16 // what, cpu, timestamp_ns
	nlmsgDone     = 3
	nlmsgError    = 2
	nlmsgNoop     = 1
	nlmsgOverrun  = 4
	cnIdxProc     = 1
	cnValProc     = 1
	mcastListen   = 1
	mcastIgnore   = 2
	nlmsgAlignLen = 4
)

// cnEvent is one decoded process connector event. Pids are thread ids; Tgid the process id.
type cnEvent struct {
	What        uint32
	TimestampNS uint64 // CLOCK_MONOTONIC
	PID, TGID   int32  // exec/exit/uid: the task; fork: the child
	PPID, PTGID int32  // fork: the parent; exit: the parent
	ExitCode    uint32 // exit: the wait status
	RUID, EUID  uint32 // uid change
}

var errTruncated = errors.New("cn_proc: truncated message")

// parseNetlink decodes every process connector event in one netlink datagram. It never panics on
// hostile input: lengths are checked before every read. overrun reports an NLMSG_OVERRUN.
func parseNetlink(b []byte) (evs []cnEvent, overrun bool, err error) {
	le := binary.NativeEndian
	for len(b) >= nlmsgHdrLen {
		l := int(le.Uint32(b[0:4]))
		typ := le.Uint16(b[4:6])
		if l < nlmsgHdrLen || l > len(b) {
			return evs, overrun, errTruncated
		}
		msg := b[nlmsgHdrLen:l]
		adv := (l + nlmsgAlignLen - 1) &^ (nlmsgAlignLen - 1)
		if adv > len(b) {
			adv = len(b)
		}
		b = b[adv:]
		switch typ {
		case nlmsgNoop, nlmsgError:
			continue
		case nlmsgOverrun:
			overrun = true
			continue
		}
		ev, ok, perr := parseCnMsg(msg)
		if perr != nil {
			return evs, overrun, perr
		}
		if ok {
			evs = append(evs, ev)
		}
		if typ == nlmsgDone {
			// The connector sends each event as its own NLMSG_DONE message.
			continue
		}
	}
	return evs, overrun, nil
}

// parseCnMsg decodes a cn_msg holding a proc_event; ok is false for other connector messages.
func parseCnMsg(b []byte) (cnEvent, bool, error) {
	le := binary.NativeEndian
	var ev cnEvent
	if len(b) < cnMsgLen {
		return ev, false, errTruncated
	}
	if le.Uint32(b[0:4]) != cnIdxProc || le.Uint32(b[4:8]) != cnValProc {
		return ev, false, nil
	}
	dl := int(le.Uint16(b[16:18]))
	data := b[cnMsgLen:]
	if dl > len(data) {
		return ev, false, errTruncated
	}
	data = data[:dl]
	if len(data) < procEventHdr {
		return ev, false, errTruncated
	}
	ev.What = le.Uint32(data[0:4])
	ev.TimestampNS = le.Uint64(data[8:16])
	d := data[procEventHdr:]
	u32 := func(i int) uint32 { return le.Uint32(d[i*4 : i*4+4]) }
	need := func(n int) bool { return len(d) >= n*4 }
	switch ev.What {
	case procEventFork:
		if !need(4) {
			return ev, false, errTruncated
		}
		ev.PPID, ev.PTGID, ev.PID, ev.TGID = int32(u32(0)), int32(u32(1)), int32(u32(2)), int32(u32(3))
	case procEventExec:
		if !need(2) {
			return ev, false, errTruncated
		}
		ev.PID, ev.TGID = int32(u32(0)), int32(u32(1))
	case procEventUID:
		if !need(4) {
			return ev, false, errTruncated
		}
		ev.PID, ev.TGID, ev.RUID, ev.EUID = int32(u32(0)), int32(u32(1)), u32(2), u32(3)
	case procEventExit:
		if !need(4) {
			return ev, false, errTruncated
		}
		ev.PID, ev.TGID, ev.ExitCode = int32(u32(0)), int32(u32(1)), u32(2)
		if need(6) {
			ev.PPID, ev.PTGID = int32(u32(4)), int32(u32(5))
		}
	default:
		return ev, false, nil
	}
	return ev, true, nil
}

// exitStatus turns a wait status into a shell-style exit code: the code, or 128+signal.
func exitStatus(ws uint32) (code int32, signal int32) {
	if sig := ws & 0x7f; sig != 0 {
		return 128 + int32(sig), int32(sig)
	}
	return int32((ws >> 8) & 0xff), 0
}
