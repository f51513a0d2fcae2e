package window

// Feature names and their order, per key kind. This list is a contract: the temporal and
// iforest layers read FeatureVector.Names/Values by these names, and a trained model stores
// them. Append new names at the END of a list only; never rename or reorder.
//
// Every vector is one key's aggregate over one event-time window [Start, End). Values are
// float64; a feature with no input in the window is 0 (no value is carried over from an earlier
// window), so a mean of 0 can also mean "no samples": read it with the count features.
// Host net.* and snmp.* features are totals: the sum of every sample of that name in the window
// divided by the number of distinct sample times (a collector emits either one total or one
// sample per interface, not both; loopback "lo" is left out).

// Key kinds (FeatureVector.KeyKind).
const (
	KindHost      = "host"      // Key "host"
	KindProcess   = "process"   // Key "proc:<pid>@<start unix seconds>"
	KindInterface = "interface" // Key "if:<name>" (host interface) or "if:<device>/<name>" (SNMP)
	KindDevice    = "device"    // Key "dev:<address>" (SNMP target)
)

// Flags (FeatureVector.Flags).
const (
	FlagNewExecutable       = "new_executable"       // an exe never seen on this host before (since start/restore)
	FlagPrivilegeEscalation = "privilege_escalation" // a process with euid 0 under a non-root parent
	FlagSpike               = "spike"                // a feature's robust z-score above the spike threshold
	FlagNewListener         = "new_listener"         // a listening (addr,port,exe) never seen on this host
)

// Agg is how a feature is computed from the events of its window.
type Agg string

const (
	AggCount    Agg = "count"    // number of matching events
	AggSum      Agg = "sum"      // sum of values
	AggMean     Agg = "mean"     // mean of values
	AggMin      Agg = "min"      // minimum value
	AggMax      Agg = "max"      // maximum value
	AggStddev   Agg = "stddev"   // population standard deviation of values
	AggRate     Agg = "rate"     // count divided by window length in seconds
	AggDistinct Agg = "distinct" // number of distinct values in the window
	AggNew      Agg = "new"      // number of values never seen before for this host (first sighting)
	AggDelta    Agg = "delta"    // (last - first) of a cumulative counter divided by seconds between them
)

// Feature documents one feature: its name, the events it reads and how it aggregates them.
type Feature struct {
	Name   string
	Source string // telemetry kind and field, e.g. "host_metric cpu.user", "process_exec"
	Agg    Agg
}

// HostFeatures: key kind "host", one vector per host and window. Host metrics are the
// collector's host_metric names; snmp.* are the SNMP rates of every device polled by this
// host's collector, summed over interfaces and devices (the process + SNMP join).
var HostFeatures = []Feature{
	{"cpu.user", "host_metric cpu.user (percent)", AggMean},
	{"cpu.system", "host_metric cpu.system (percent)", AggMean},
	{"cpu.iowait", "host_metric cpu.iowait (percent)", AggMean},
	{"cpu.user.max", "host_metric cpu.user (percent)", AggMax},
	{"cpu.user.stddev", "host_metric cpu.user (percent)", AggStddev},
	{"mem.used_pct", "host_metric mem.used_percent (percent)", AggMean},
	{"swap.used_pct", "host_metric swap.used_percent (percent)", AggMean},
	{"load1", "host_metric load.1", AggMean},
	{"load5", "host_metric load.5", AggMean},
	{"net.rx_bytes_per_s", "host_metric net.rx_bytes_per_s (all interfaces, summed per sample time)", AggMean},
	{"net.tx_bytes_per_s", "host_metric net.tx_bytes_per_s (all interfaces, summed per sample time)", AggMean},
	{"disk.read_bytes_per_s", "host_metric disk.read_bytes_per_s (summed over disks per sample time)", AggMean},
	{"disk.write_bytes_per_s", "host_metric disk.write_bytes_per_s (summed over disks per sample time)", AggMean},
	{"proc.exec_count", "process_exec", AggCount},
	{"proc.exec_rate", "process_exec per second", AggRate},
	{"proc.exit_count", "process_exit", AggCount},
	{"proc.distinct_exe_count", "process_exec exe", AggDistinct},
	{"proc.new_exe_count", "process_exec exe never seen on this host", AggNew},
	{"proc.priv_esc_count", "process_exec with euid 0 under a non-root parent", AggCount},
	{"proc.distinct_user_count", "process_exec uid", AggDistinct},
	{"conn.open_count", "connection opened", AggCount},
	{"conn.close_count", "connection closed", AggCount},
	{"conn.distinct_remote_count", "connection opened remote_addr", AggDistinct},
	{"conn.new_remote_count", "connection opened remote_addr never seen on this host", AggNew},
	{"listener.open_count", "listener opened", AggCount},
	{"listener.new_count", "listener opened (proto,addr,port,exe) never seen on this host", AggNew},
	{"snmp.if_in_octets_per_s", "snmp_metric if.in_octets_per_s, summed over interfaces", AggMean},
	{"snmp.if_out_octets_per_s", "snmp_metric if.out_octets_per_s, summed over interfaces", AggMean},
	{"snmp.if_errors_per_s", "snmp_metric if.in_errors_per_s + if.out_errors_per_s", AggMean},
	{"snmp.device_count", "snmp_metric device", AggDistinct},
	{"events.count", "every telemetry event of the host", AggCount},
}

// ProcessFeatures: key kind "process", one vector per process identity (pid@start) and window,
// emitted only for processes with at least one event in the window.
var ProcessFeatures = []Feature{
	{"cpu_percent", "process_sample cpu_percent", AggMean},
	{"cpu_percent.max", "process_sample cpu_percent", AggMax},
	{"rss_bytes", "process_sample rss_bytes", AggMean},
	{"rss_bytes.max", "process_sample rss_bytes", AggMax},
	{"fds", "process_sample fds", AggMax},
	{"threads", "process_sample threads", AggMax},
	{"read_bytes_per_s", "process_sample read_bytes (cumulative)", AggDelta},
	{"write_bytes_per_s", "process_sample write_bytes (cumulative)", AggDelta},
	{"child_exec_count", "process_exec whose ppid is this process", AggCount},
	{"conn_count", "connection opened by this pid", AggCount},
	{"distinct_remote_count", "connection opened remote_addr by this pid", AggDistinct},
	{"listener_count", "listener opened by this pid", AggCount},
	{"samples", "process_sample", AggCount},
}

// InterfaceFeatures: key kind "interface". Host interfaces come from host_metric net.<x> with
// label "interface"; SNMP interfaces from snmp_metric if.<x> with label "interface" (or
// "ifIndex"). <x> is the suffix below.
var InterfaceFeatures = []Feature{
	{"in_octets_per_s", "net.rx_bytes_per_s | if.in_octets_per_s", AggMean},
	{"out_octets_per_s", "net.tx_bytes_per_s | if.out_octets_per_s", AggMean},
	{"in_octets_per_s.max", "net.rx_bytes_per_s | if.in_octets_per_s", AggMax},
	{"out_octets_per_s.max", "net.tx_bytes_per_s | if.out_octets_per_s", AggMax},
	{"in_packets_per_s", "net.rx_packets_per_s | if.in_ucast_pkts_per_s", AggMean},
	{"out_packets_per_s", "net.tx_packets_per_s | if.out_ucast_pkts_per_s", AggMean},
	{"in_errors_per_s", "net.rx_errors_per_s | if.in_errors_per_s", AggMean},
	{"out_errors_per_s", "net.tx_errors_per_s | if.out_errors_per_s", AggMean},
	{"in_discards_per_s", "net.rx_drops_per_s | if.in_discards_per_s", AggMean},
	{"out_discards_per_s", "net.tx_drops_per_s | if.out_discards_per_s", AggMean},
	{"samples", "metric samples", AggCount},
}

// DeviceFeatures: key kind "device", one vector per SNMP target and window.
var DeviceFeatures = []Feature{
	{"if.in_octets_per_s", "snmp_metric if.in_octets_per_s, summed over interfaces", AggMean},
	{"if.out_octets_per_s", "snmp_metric if.out_octets_per_s, summed over interfaces", AggMean},
	{"if.in_errors_per_s", "snmp_metric if.in_errors_per_s, summed", AggMean},
	{"if.out_errors_per_s", "snmp_metric if.out_errors_per_s, summed", AggMean},
	{"if.in_discards_per_s", "snmp_metric if.in_discards_per_s, summed", AggMean},
	{"if.out_discards_per_s", "snmp_metric if.out_discards_per_s, summed", AggMean},
	{"if.oper_up_count", "snmp_metric if.oper_status == 1, distinct interfaces", AggDistinct},
	{"hr.sw_run_count", "snmp_metric hr.swrun_count", AggMean},
	{"hr.cpu_load", "snmp_metric hr.processor_load_percent (mean over processors)", AggMean},
	{"samples", "snmp_metric", AggCount},
	{"device_events", "device appeared|changed|disappeared", AggCount},
}

// FeatureNames returns the ordered names for a key kind (nil for an unknown kind).
func FeatureNames(kind string) []string {
	var fs []Feature
	switch kind {
	case KindHost:
		fs = HostFeatures
	case KindProcess:
		fs = ProcessFeatures
	case KindInterface:
		fs = InterfaceFeatures
	case KindDevice:
		fs = DeviceFeatures
	default:
		return nil
	}
	out := make([]string, len(fs))
	for i, f := range fs {
		out[i] = f.Name
	}
	return out
}
