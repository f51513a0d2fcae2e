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
)

func spec() *service.ConfigSpec {
	return service.NewConfigSpec().
		Beta().
		Categories("Local").
		Summary("Socket table changes: `connection` and `listener` events (opened / closed) with the owning process.").
		Description(`
Every `+"`interval`"+` the collector reads /proc/net/{tcp,tcp6,udp,udp6}, diffs it with the
previous read and emits `+"`listener`"+` events for listening TCP and unconnected UDP sockets and
`+"`connection`"+` events for live connections (5-tuple, state, pid, process, exe, uid). Socket
inodes are mapped to processes through /proc/PID/fd only when new sockets appear. Connections
that open and close between two reads are not seen. Linux only: elsewhere the input fails at
start and says so.`).
		Field(service.NewDurationField(fieldInterval).Description("How often the socket table is read.").Default("5s").Example("1s")).
		Field(service.NewStringListField(fieldProtocols).Description("Tables to read, of tcp, tcp6, udp, udp6.").Default([]string{"tcp", "tcp6", "udp", "udp6"}).Example([]string{"tcp", "tcp6"})).
		Field(service.NewStringField(fieldHost).Description("Host identity on events. Empty: AMOSKYS_HOST_ID, else the hostname.").Default("").Example("web-01")).
		Field(service.NewBoolField(fieldEmitInitial).Description("Emit `opened` (labelled seen_by=initial) for the sockets present at start.").Default(true).Example(false)).
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
