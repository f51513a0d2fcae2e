package connections

import (
	"context"

	"github.com/redpanda-data/benthos/v4/public/service"

	"github.com/amoskys/amoskys/plugins/collect/batchin"
	"github.com/amoskys/amoskys/schemas"
)

const (
	fieldInterval    = "interval"
	fieldProtocols   = "protocols"
	fieldHost        = "host"
	fieldEmitInitial = "emit_initial"
	fieldShortLived  = "short_lived"
	fieldOpenCounts  = "open_counts"
)

func spec() *service.ConfigSpec {
	return service.NewConfigSpec().
		Beta().
		Categories("Local").
		Summary("Socket table changes: `connection` and `listener` events (opened / closed) with the owning process.").
		Description(`
Every `+"`interval`"+` the collector reads the tcp, tcp6, udp and udp6 socket tables, diffs them
with the previous read and emits `+"`listener`"+` events for listening TCP and unconnected UDP sockets and
`+"`connection`"+` events for live connections (5-tuple, state, pid, process, exe, uid). Socket
inodes are mapped to processes through /proc/PID/fd only when new sockets appear. The tables are
dumped over NETLINK_SOCK_DIAG (as `+"`ss`"+` does: binary records, 3-4x cheaper than the text
of /proc/net/tcp on a large TCP hash table); a table the kernel cannot dump that way (udp_diag
not loaded) is read from /proc/net/<proto>.

Connections that open and close between two reads are missed by a diff. Two cheap remedies, both
on by default: `+"`short_lived`"+` reports those that left a TIME_WAIT socket (the side of the
connection on this host closed first; TIME_WAIT lasts 60 s on Linux, longer than any sensible
interval) as an `+"`opened`"+` and a `+"`closed`"+` event labelled seen_by=time_wait, with the
5-tuple but no pid (the owner is gone); `+"`open_counts`"+` says how many were missed anyway:
every read after the first emits two `+"`host_metric`"+` events, `+"`tcp.opened`"+` (TCP sockets
the kernel opened since the previous read: Tcp ActiveOpens + PassiveOpens of /proc/net/snmp, IPv4
and IPv6, this network namespace) and `+"`tcp.opened_unseen`"+` (those this input reported no
event for: closed by the peer first, or a failed connect; a loopback connection is two sockets).
The balance is cumulative, so a socket counted in one read and reported in the next is not
counted unseen. UDP has no such counter. Linux only: elsewhere the input fails at start and says
so.`).
		Field(service.NewDurationField(fieldInterval).Description("How often the socket table is read.").Default("5s").Example("1s")).
		Field(service.NewStringListField(fieldProtocols).Description("Tables to read, of tcp, tcp6, udp, udp6.").Default([]string{"tcp", "tcp6", "udp", "udp6"}).Example([]string{"tcp", "tcp6"})).
		Field(service.NewStringField(fieldHost).Description("Host identity on events. Empty: AMOSKYS_HOST_ID, else the hostname.").Default("").Example("web-01")).
		Field(service.NewBoolField(fieldEmitInitial).Description("Emit `opened` (labelled seen_by=initial) for the sockets present at start.").Default(true).Example(false)).
		Field(service.NewBoolField(fieldShortLived).Description("Report TCP connections that opened and closed between two reads and left a TIME_WAIT socket (`opened` + `closed`, seen_by=time_wait, no pid).").Default(true).Example(false)).
		Field(service.NewBoolField(fieldOpenCounts).Description("Emit `host_metric` events `tcp.opened` and `tcp.opened_unseen` every read (kernel TCP open counter vs what was reported).").Default(true).Example(false)).
		Example("Connections", "Listeners and connections every 5 s.", `
input:
  connections:
    interval: 5s
pipeline:
  processors:
    - normalise: {}
output:
  stdout: {}
`)
}

func init() {
	err := service.RegisterBatchInput("connections", spec(), func(conf *service.ParsedConfig, mgr *service.Resources) (service.BatchInput, error) {
		var cfg Config
		var err error
		if cfg.Interval, err = conf.FieldDuration(fieldInterval); err != nil {
			return nil, err
		}
		if cfg.Protocols, err = conf.FieldStringList(fieldProtocols); err != nil {
			return nil, err
		}
		if cfg.Host, err = conf.FieldString(fieldHost); err != nil {
			return nil, err
		}
		emit, err := conf.FieldBool(fieldEmitInitial)
		if err != nil {
			return nil, err
		}
		cfg.EmitInitial = &emit
		short, err := conf.FieldBool(fieldShortLived)
		if err != nil {
			return nil, err
		}
		counts, err := conf.FieldBool(fieldOpenCounts)
		if err != nil {
			return nil, err
		}
		cfg.ShortLived, cfg.OpenCounts = &short, &counts
		if _, err := NewCollector(cfg); err != nil {
			return nil, err
		}
		return batchin.New(mgr, Source, func(ctx context.Context) (<-chan []*schemas.TelemetryEvent, error) {
			c, err := NewCollector(cfg)
			if err != nil {
				return nil, err
			}
			if err := c.Start(ctx); err != nil {
				return nil, err
			}
			return c.Events(), nil
		}), nil
	})
	if err != nil {
		panic(err)
	}
}
