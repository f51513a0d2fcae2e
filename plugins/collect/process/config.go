package process

import (
	"fmt"
	"time"
)

// Connector modes for Config.UseConnector.
const (
	ConnectorAuto  = "auto"  // use the process connector when it can be opened, else snapshots only
	ConnectorOn    = "true"  // fail to start without the connector
	ConnectorOff   = "false" // snapshots only
	defaultFlushMS = 100
)

// Config configures a Collector. Zero values take the defaults shown.
type Config struct {
	Interval      time.Duration    // snapshot and sample period; default 5s
	SampleTopN    int              // process_sample for the top N by CPU; 0 = all processes
	AncestryDepth int              // ancestors recorded per exec; default 16
	CmdlineMax    int              // bytes of cmdline kept; default 4096
	UseConnector  string           // auto | true | false; default auto
	Host          string           // host identity; default AMOSKYS_HOST_ID or the hostname
	FlushInterval time.Duration    // how long real-time events wait to be batched; default 100ms
	MaxBatch      int              // largest batch; default 512
	QueueLimit    int              // events held while the consumer lags; more are dropped; default 65536
	ExitGrace     time.Duration    // exited processes stay in the cache this long; default 2*Interval
	ProcRoot      string           // procfs mount; default /proc
	Now           func() time.Time // clock for snapshot-derived event times; default time.Now
	// EmitInitial emits process_exec (labelled seen_by=initial) for every process found by the
	// first scan. Default false: the first scan only fills the cache.
	EmitInitial bool
}

func (c *Config) defaults() error {
	if c.Interval <= 0 {
		c.Interval = 5 * time.Second
	}
	if c.AncestryDepth <= 0 {
		c.AncestryDepth = 16
	}
	if c.CmdlineMax <= 0 {
		c.CmdlineMax = 4096
	}
	switch c.UseConnector {
	case "":
		c.UseConnector = ConnectorAuto
	case ConnectorAuto, ConnectorOn, ConnectorOff:
	default:
		return fmt.Errorf("use_connector %q: want auto, true or false", c.UseConnector)
	}
	if c.SampleTopN < 0 {
		return fmt.Errorf("sample_top_n %d: want 0 (all) or more", c.SampleTopN)
	}
	if c.FlushInterval <= 0 {
		c.FlushInterval = defaultFlushMS * time.Millisecond
	}
	if c.MaxBatch <= 0 {
		c.MaxBatch = 512
	}
	if c.QueueLimit <= 0 {
		c.QueueLimit = 65536
	}
	if c.ExitGrace <= 0 {
		c.ExitGrace = 2 * c.Interval
	}
	if c.ProcRoot == "" {
		c.ProcRoot = "/proc"
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return nil
}
