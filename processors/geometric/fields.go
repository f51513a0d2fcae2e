package geometric

import (
	"path"
	"strconv"
	"strings"

	"github.com/amoskys/amoskys/processors/geometric/sigma"
	"github.com/amoskys/amoskys/schemas"
)

// Logsource categories an event is judged under.
const (
	CatProcessCreation   = "process_creation"   // process_exec events
	CatNetworkConnection = "network_connection" // connection opened
	CatNetworkListener   = "network_listener"   // listener opened (AMOSKYS' own category)
)

// Categories lists every category this layer produces.
var Categories = []string{CatProcessCreation, CatNetworkConnection, CatNetworkListener}

// Field IDs. The order is the schema's; names are Sigma field names (matched case-insensitively).
const (
	fImage sigma.FieldID = iota
	fCommandLine
	fCurrentDirectory
	fUser
	fProcessId
	fParentProcessId
	fParentImage
	fParentCommandLine
	fParentUser
	fName
	fParentName
	fAncestorImages
	fAncestorCommandLines
	fAncestorNames
	fAncestorUids
	fAncestorEuids
	fUid
	fEuid
	fSuid
	fGid
	fEgid
	fParentUid
	fParentEuid
	fExeDeleted
	fExeInWritableDir
	fSocketFds
	fStdioSocket
	fCapEff
	fCapEffNonZero
	fEuidDiffers
	fNameMismatch
	fTty
	fCgroup
	fContainerId
	fHost
	fProtocol
	fInitiated
	fSourceIp
	fSourcePort
	fDestinationIp
	fDestinationPort
	fSourceIsIpv6
	fDestinationIsIpv6
	fState
	numFields
)

// FieldNames are the Sigma field names this layer fills, in FieldID order. See fieldDocs.
var FieldNames = []string{
	"Image", "CommandLine", "CurrentDirectory", "User", "ProcessId", "ParentProcessId",
	"ParentImage", "ParentCommandLine", "ParentUser", "Name", "ParentName",
	"AncestorImages", "AncestorCommandLines", "AncestorNames", "AncestorUids", "AncestorEuids",
	"Uid", "Euid", "Suid", "Gid", "Egid", "ParentUid", "ParentEuid",
	"ExeDeleted", "ExeInWritableDir", "SocketFds", "StdioSocket", "CapEff", "CapEffNonZero",
	"EuidDiffers", "NameMismatch", "Tty", "Cgroup", "ContainerId", "Host",
	"Protocol", "Initiated", "SourceIp", "SourcePort", "DestinationIp", "DestinationPort",
	"SourceIsIpv6", "DestinationIsIpv6", "State",
}

// fieldAliases maps other spellings found in rules to our fields.
var fieldAliases = map[string]string{
	"exe": "Image", "comm": "Name", "cwd": "CurrentDirectory", "pid": "ProcessId",
	"ppid": "ParentProcessId", "uid": "Uid", "euid": "Euid", "USER": "User",
	"LocalIp": "SourceIp", "LocalPort": "SourcePort", "RemoteIp": "DestinationIp",
	"RemotePort": "DestinationPort", "Computer": "Host", "Hostname": "Host",
}

// FieldDocs says where each field comes from (rendered by `amoskys rules fields` and the docs).
var FieldDocs = map[string]string{
	"Image":                "process.exe (connection/listener: connection.exe)",
	"CommandLine":          "process.cmdline",
	"CurrentDirectory":     "process.cwd",
	"User":                 "process.user (connection/listener: \"root\" for uid 0, else the uid)",
	"ProcessId":            "process.pid (connection.pid)",
	"ParentProcessId":      "process.ppid",
	"ParentImage":          "process.ancestry[0].exe",
	"ParentCommandLine":    "process.ancestry[0].cmdline",
	"ParentUser":           "user of ancestry[0]: process.user when the uid is the same, root for 0, else the uid",
	"Name":                 "process.name (comm; connection.process)",
	"ParentName":           "process.ancestry[0].name",
	"AncestorImages":       "every process.ancestry[i].exe (any depth; a value matches if any ancestor matches)",
	"AncestorCommandLines": "every process.ancestry[i].cmdline",
	"AncestorNames":        "every process.ancestry[i].name",
	"AncestorUids":         "every process.ancestry[i].uid",
	"AncestorEuids":        "every process.ancestry[i].euid",
	"Uid":                  "process.uid (connection.uid)",
	"Euid":                 "process.euid",
	"Suid":                 "process.suid",
	"Gid":                  "process.gid",
	"Egid":                 "process.egid",
	"ParentUid":            "process.ancestry[0].uid",
	"ParentEuid":           "process.ancestry[0].euid",
	"ExeDeleted":           "process.exe_deleted: 'true' or 'false'",
	"ExeInWritableDir":     "process.exe_in_writable_dir: 'true' or 'false'",
	"SocketFds":            "process.socket_fds",
	"StdioSocket":          "process.stdio_socket: 'true' or 'false'",
	"CapEff":               "process.cap_eff (hex)",
	"CapEffNonZero":        "'true' when process.cap_eff is present and not all zero",
	"EuidDiffers":          "'true' when euid != uid or egid != gid (a setuid/setgid execution)",
	"NameMismatch":         "'true' when comm and the basename of exe are unrelated (neither contains the other; interpreters excluded)",
	"Tty":                  "process.tty",
	"Cgroup":               "process.cgroup",
	"ContainerId":          "process.container_id",
	"Host":                 "event host",
	"Protocol":             "connection.proto (tcp, tcp6, udp, udp6)",
	"Initiated":            "'true' for an outbound connection (local port in the ephemeral range >= 32768), else 'false'",
	"SourceIp":             "connection.local_addr",
	"SourcePort":           "connection.local_port",
	"DestinationIp":        "connection.remote_addr",
	"DestinationPort":      "connection.remote_port",
	"SourceIsIpv6":         "'true' when local_addr is IPv6",
	"DestinationIsIpv6":    "'true' when remote_addr is IPv6",
	"State":                "connection.state",
}

// NewSchema returns the Sigma schema of telemetry events. Keyword searches look at the command
// line and the image.
func NewSchema() *sigma.Schema {
	return sigma.NewSchema(FieldNames, fieldAliases, "CommandLine", "Image")
}

// Category returns the logsource category an event is judged under, or "" when the layer does
// not judge it.
func Category(ev *schemas.TelemetryEvent) string {
	switch ev.Kind {
	case schemas.KindProcessExec:
		if ev.Process != nil {
			return CatProcessCreation
		}
	case schemas.KindConnection:
		if ev.Conn != nil && ev.Conn.Action != "closed" {
			return CatNetworkConnection
		}
	case schemas.KindListener:
		if ev.Conn != nil && ev.Conn.Action != "closed" {
			return CatNetworkListener
		}
	}
	return ""
}

// eventSource is a sigma.Source over a TelemetryEvent.
type eventSource struct{ ev *schemas.TelemetryEvent }

func u32(v uint32) string { return strconv.FormatUint(uint64(v), 10) }
func i32(v int32) string  { return strconv.FormatInt(int64(v), 10) }
func bstr(b bool) string  { return strconv.FormatBool(b) }

func userName(uid uint32, sameAs uint32, sameName string) string {
	switch {
	case uid == sameAs && sameName != "":
		return sameName
	case uid == 0:
		return "root"
	}
	return u32(uid)
}

// interpreters run scripts whose comm is the script's name, not the interpreter's.
var interpreters = []string{"sh", "bash", "dash", "zsh", "ksh", "csh", "tcsh", "fish", "busybox",
	"env", "python", "perl", "ruby", "node", "nodejs", "php", "lua", "tclsh", "awk", "gawk", "java", "ld-linux"}

func isInterpreter(base string) bool {
	for _, i := range interpreters {
		if base == i || strings.HasPrefix(base, i) && len(base) > len(i) && (base[len(i)] >= '0' && base[len(i)] <= '9' || base[len(i)] == '.' || base[len(i)] == '-') {
			return true
		}
	}
	return false
}

// nameMismatch: comm is the basename of the file executed (a symlink's own name), truncated by
// the kernel to 15 bytes. Interpreters run scripts under the script's name, and alternatives
// links are usually part of their target's name (vi -> vim.basic, cc -> gcc-12): neither counts.
func nameMismatch(p *schemas.Process) bool {
	if p.Exe == "" || p.Name == "" {
		return false
	}
	base := path.Base(p.Exe)
	if base == p.Name || len(base) > 15 && base[:15] == p.Name { // the common case, cheaply
		return false
	}
	base = strings.ToLower(base)
	if isInterpreter(base) {
		return false
	}
	name := strings.ToLower(p.Name)
	if len(base) > 15 && strings.HasPrefix(base, name) {
		return false
	}
	return !strings.Contains(base, name) && !strings.Contains(name, base)
}

func capNonZero(c string) bool {
	c = strings.TrimPrefix(strings.TrimSpace(c), "0x")
	return c != "" && strings.Trim(c, "0") != ""
}

func isV6(a string) bool { return strings.Contains(a, ":") }

// Values implements sigma.Source.
func (s eventSource) Values(id sigma.FieldID, dst []string) []string {
	ev := s.ev
	if id == fHost {
		if ev.Host == "" {
			return dst
		}
		return append(dst, ev.Host)
	}
	if p := ev.Process; p != nil {
		return processValues(p, id, dst)
	}
	if c := ev.Conn; c != nil {
		return connValues(ev, c, id, dst)
	}
	return dst
}

func add(dst []string, v string) []string {
	if v == "" {
		return dst
	}
	return append(dst, v)
}

func processValues(p *schemas.Process, id sigma.FieldID, dst []string) []string {
	var par *schemas.Ancestor
	if len(p.Ancestry) > 0 {
		par = &p.Ancestry[0]
	}
	switch id {
	case fImage:
		return add(dst, p.Exe)
	case fCommandLine:
		return add(dst, p.Cmdline)
	case fCurrentDirectory:
		return add(dst, p.Cwd)
	case fUser:
		return add(dst, userName(p.UID, p.UID, p.User))
	case fProcessId:
		return append(dst, i32(p.PID))
	case fParentProcessId:
		return append(dst, i32(p.PPID))
	case fName:
		return add(dst, p.Name)
	case fUid:
		return append(dst, u32(p.UID))
	case fEuid:
		return append(dst, u32(p.EUID))
	case fSuid:
		return append(dst, u32(p.SUID))
	case fGid:
		return append(dst, u32(p.GID))
	case fEgid:
		return append(dst, u32(p.EGID))
	case fExeDeleted:
		return append(dst, bstr(p.ExeDeleted))
	case fExeInWritableDir:
		return append(dst, bstr(p.ExeInWritableDir))
	case fSocketFds:
		return append(dst, i32(p.SocketFDs))
	case fStdioSocket:
		return append(dst, bstr(p.StdioSocket))
	case fCapEff:
		return add(dst, p.CapEff)
	case fCapEffNonZero:
		return append(dst, bstr(capNonZero(p.CapEff)))
	case fEuidDiffers:
		return append(dst, bstr(p.EUID != p.UID || p.EGID != p.GID))
	case fNameMismatch:
		return append(dst, bstr(nameMismatch(p)))
	case fTty:
		return add(dst, p.TTY)
	case fCgroup:
		return add(dst, p.Cgroup)
	case fContainerId:
		return add(dst, p.ContainerID)
	case fAncestorImages, fAncestorCommandLines, fAncestorNames, fAncestorUids, fAncestorEuids:
		for i := range p.Ancestry {
			a := &p.Ancestry[i]
			switch id {
			case fAncestorImages:
				dst = add(dst, a.Exe)
			case fAncestorCommandLines:
				dst = add(dst, a.Cmdline)
			case fAncestorNames:
				dst = add(dst, a.Name)
			case fAncestorUids:
				dst = append(dst, u32(a.UID))
			case fAncestorEuids:
				dst = append(dst, u32(a.EUID))
			}
		}
		return dst
	}
	if par == nil {
		return dst
	}
	switch id {
	case fParentImage:
		return add(dst, par.Exe)
	case fParentCommandLine:
		return add(dst, par.Cmdline)
	case fParentUser:
		return add(dst, userName(par.UID, p.UID, p.User))
	case fParentName:
		return add(dst, par.Name)
	case fParentUid:
		return append(dst, u32(par.UID))
	case fParentEuid:
		return append(dst, u32(par.EUID))
	}
	return dst
}

func connValues(ev *schemas.TelemetryEvent, c *schemas.Connection, id sigma.FieldID, dst []string) []string {
	switch id {
	case fImage:
		return add(dst, c.Exe)
	case fName:
		return add(dst, c.Process)
	case fUser:
		return append(dst, userName(c.UID, ^uint32(0), ""))
	case fUid:
		return append(dst, u32(c.UID))
	case fProcessId:
		if c.PID == 0 {
			return dst
		}
		return append(dst, i32(c.PID))
	case fProtocol:
		return add(dst, strings.TrimSuffix(c.Proto, "6"))
	case fInitiated:
		return append(dst, bstr(ev.Kind == schemas.KindConnection && c.LocalPort >= 32768))
	case fSourceIp:
		return add(dst, c.LocalAddr)
	case fSourcePort:
		return append(dst, strconv.Itoa(int(c.LocalPort)))
	case fDestinationIp:
		return add(dst, c.RemoteAddr)
	case fDestinationPort:
		if c.RemotePort == 0 && c.RemoteAddr == "" {
			return dst
		}
		return append(dst, strconv.Itoa(int(c.RemotePort)))
	case fSourceIsIpv6:
		return append(dst, bstr(isV6(c.LocalAddr)))
	case fDestinationIsIpv6:
		if c.RemoteAddr == "" {
			return dst
		}
		return append(dst, bstr(isV6(c.RemoteAddr)))
	case fState:
		return add(dst, c.State)
	}
	return dst
}
