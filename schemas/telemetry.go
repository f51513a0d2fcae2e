// Package schemas holds the versioned contracts every stage, the warehouse and the API share:
// TelemetryEvent (what collectors emit), FeatureVector (what the window stage emits),
// LayerResult (what each detection layer says) and AlertEvent (what fuse and alert emit).
// The JSON Schema files beside this package describe the same shapes for outside producers.
package schemas

import "time"

// TelemetryVersion is the schema_version of TelemetryEvent this build writes and accepts.
const TelemetryVersion = 1

// Kind names what a TelemetryEvent describes.
type Kind string

const (
	KindProcessExec   Kind = "process_exec"
	KindProcessExit   Kind = "process_exit"
	KindProcessSample Kind = "process_sample"
	KindConnection    Kind = "connection"
	KindListener      Kind = "listener"
	KindHostMetric    Kind = "host_metric"
	KindSNMPMetric    Kind = "snmp_metric"
	KindDevice        Kind = "device"
)

// Kinds lists every valid Kind in a stable order.
var Kinds = []Kind{KindProcessExec, KindProcessExit, KindProcessSample, KindConnection,
	KindListener, KindHostMetric, KindSNMPMetric, KindDevice}

// Valid reports whether k is one of Kinds.
func (k Kind) Valid() bool {
	for _, v := range Kinds {
		if v == k {
			return true
		}
	}
	return false
}

// TelemetryEvent is one observation from a host or device, in event time.
// Exactly one of Process, Conn, Metric, Device is set, as Kind says.
type TelemetryEvent struct {
	SchemaVersion int       `json:"schema_version"`
	ID            string    `json:"id"`     // stable id: a retried insert never double-counts
	Kind          Kind      `json:"kind"`   // one of Kinds
	Time          time.Time `json:"time"`   // event time (UTC); never the time of processing
	Host          string    `json:"host"`   // host identity of the observer
	Source        string    `json:"source"` // collector that produced it: process, connections, host, snmp, discovery, external

	Process *Process          `json:"process,omitempty"`
	Conn    *Connection       `json:"connection,omitempty"`
	Metric  *Metric           `json:"metric,omitempty"`
	Device  *Device           `json:"device,omitempty"`
	Labels  map[string]string `json:"labels,omitempty"`
}

// Process describes a process at exec, exit or sample time. PID plus StartTime is its identity:
// a reused pid is a new process.
type Process struct {
	PID       int32     `json:"pid"`
	PPID      int32     `json:"ppid"`
	StartTime time.Time `json:"start_time"`
	Name      string    `json:"name"`              // comm
	Exe       string    `json:"exe,omitempty"`     // resolved /proc/PID/exe (without " (deleted)")
	Cmdline   string    `json:"cmdline,omitempty"` // bounded, args joined by spaces
	Cwd       string    `json:"cwd,omitempty"`

	ExeDeleted       bool `json:"exe_deleted,omitempty"`
	ExeInWritableDir bool `json:"exe_in_writable_dir,omitempty"` // exe's directory is world-writable (/tmp, /dev/shm, ...)

	UID  uint32 `json:"uid"`
	EUID uint32 `json:"euid"`
	SUID uint32 `json:"suid"`
	GID  uint32 `json:"gid"`
	EGID uint32 `json:"egid"`
	SGID uint32 `json:"sgid"`

	User        string `json:"user,omitempty"` // name of UID
	TTY         string `json:"tty,omitempty"`
	Cgroup      string `json:"cgroup,omitempty"`
	ContainerID string `json:"container_id,omitempty"`
	CapEff      string `json:"cap_eff,omitempty"` // effective capabilities, hex as in /proc/PID/status
	SocketFDs   int32  `json:"socket_fds,omitempty"`
	StdioSocket bool   `json:"stdio_socket,omitempty"` // fd 0, 1 or 2 is a socket (reverse-shell shape)

	// Ancestry at exec time, parent first, up to pid 1 or the depth limit.
	Ancestry []Ancestor `json:"ancestry,omitempty"`

	// process_exit only.
	ExitCode *int32 `json:"exit_code,omitempty"`

	// process_sample only: resources, CPU as a delta since the last sample.
	CPUPercent float64 `json:"cpu_percent,omitempty"` // percent of one core over the sample interval
	RSSBytes   uint64  `json:"rss_bytes,omitempty"`
	Threads    int32   `json:"threads,omitempty"`
	FDs        int32   `json:"fds,omitempty"`
	ReadBytes  uint64  `json:"read_bytes,omitempty"`  // cumulative
	WriteBytes uint64  `json:"write_bytes,omitempty"` // cumulative
}

// Ancestor is one link of a process's ancestry chain.
type Ancestor struct {
	PID     int32  `json:"pid"`
	Name    string `json:"name"`
	Exe     string `json:"exe,omitempty"`
	Cmdline string `json:"cmdline,omitempty"`
	UID     uint32 `json:"uid"`
	EUID    uint32 `json:"euid"`
}

// Connection is a socket opened or closed (kind connection) or a listening socket
// appearing or going away (kind listener).
type Connection struct {
	Action     string `json:"action"` // opened | closed
	Proto      string `json:"proto"`  // tcp | tcp6 | udp | udp6
	LocalAddr  string `json:"local_addr"`
	LocalPort  uint16 `json:"local_port"`
	RemoteAddr string `json:"remote_addr,omitempty"`
	RemotePort uint16 `json:"remote_port,omitempty"`
	State      string `json:"state,omitempty"` // ESTABLISHED, LISTEN, ...
	PID        int32  `json:"pid,omitempty"`
	Process    string `json:"process,omitempty"` // name of the owning process
	Exe        string `json:"exe,omitempty"`
	UID        uint32 `json:"uid,omitempty"`
}

// Metric is one numeric sample: a host metric (kind host_metric) or an SNMP value (kind snmp_metric).
// Counters are turned into rates by the collector; Unit says which.
type Metric struct {
	Name   string            `json:"name"`             // dotted: cpu.user, mem.used_bytes, net.rx_bytes_per_s, if.in_octets_per_s
	Value  float64           `json:"value"`            // finite
	Unit   string            `json:"unit,omitempty"`   // percent, bytes, bytes_per_s, per_s, count, ...
	Device string            `json:"device,omitempty"` // snmp target address (snmp_metric)
	Labels map[string]string `json:"labels,omitempty"` // interface, disk, ifIndex, oid, ...
}

// Device is a network device seen by discovery.
type Device struct {
	Action      string `json:"action"` // appeared | changed | disappeared
	Address     string `json:"address"`
	MAC         string `json:"mac,omitempty"`
	SysName     string `json:"sys_name,omitempty"`
	SysDescr    string `json:"sys_descr,omitempty"`
	SysObjectID string `json:"sys_object_id,omitempty"`
	Via         string `json:"via,omitempty"` // arp | cidr | target
}
