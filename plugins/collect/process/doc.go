// Package process collects process telemetry: process_exec, process_exit and process_sample
// TelemetryEvents.
//
// On Linux, as root, it subscribes to the kernel's process connector (netlink
// NETLINK_CONNECTOR, group CN_IDX_PROC) and sees fork, exec and exit in real time; on each exec
// it reads /proc at once (exe and whether it was deleted or lives in a world-writable directory,
// bounded cmdline, cwd, uids/gids, CapEff, user name, tty, cgroup and container id, stdio
// sockets, socket fd count) and the ancestry chain, using a cache of known processes so that
// parents that already exited are still named. Every Interval a gopsutil snapshot reconciles what
// the connector missed (counted in Stats) and emits process_sample resource samples (CPU as a
// delta since the previous sample). Without the connector (not root, or UseConnector "false")
// the snapshots alone drive the events and processes shorter than Interval go unseen. Other
// systems than Linux have no /proc: NewCollector returns ErrNoProcfs. pid plus start time is a
// process's identity: a reused pid is a new process.
//
// Labels: seen_by is connector, snapshot (found by reconciliation: the connector missed it) or
// initial (running at start, with EmitInitial); details=partial marks an exec whose image /proc
// could not tell (name "?", no exe or cmdline; parent and ancestry still right): the process was
// gone before /proc could be read, or had already begun a later exec of its own (a shell's
// `exec prog`: the kernel announces an exec only once the image is loaded, /proc shows the next
// one from the start of its load; the address-space layout in /proc/PID/stat, the re-read after
// the details and the queued connector events tell it, Stats().ReplacedExecs); signal is set on
// a process_exit killed by a signal (exit code 128+signal). A process_exit found by a snapshot
// has no exit code.
//
// The Go API, for tests and tools that want real process events without a pipeline:
//
//	c, err := process.NewCollector(process.Config{Interval: time.Second})
//	if err != nil { ... }
//	if err := c.Start(ctx); err != nil { ... }  // returns once the initial scan is done
//	for batch := range c.Events() {               // closed after ctx is done
//		for _, ev := range batch { ... }           // *schemas.TelemetryEvent, not yet normalised
//	}
//
// Drain Events: past QueueLimit pending events new ones are dropped (Stats().Dropped).
//
// Events carry Source "process", SchemaVersion, Kind, event Time (UTC) and Host; the normalise
// processor adds the stable id. plugin.go registers the Benthos batch input `process`.
package process
