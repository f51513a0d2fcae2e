package host

import (
	"context"

	"github.com/redpanda-data/benthos/v4/public/service"

	"github.com/amoskys/amoskys/plugins/collect/batchin"
	"github.com/amoskys/amoskys/schemas"
)

const (
	fieldInterval   = "interval"
	fieldHost       = "host"
	fieldInterfaces = "interfaces"
	fieldDisks      = "disks"
)

func spec() *service.ConfigSpec {
	return service.NewConfigSpec().
		Beta().
		Categories("Local").
		Summary("Host metrics as `host_metric` events: CPU, memory, swap, load, disk and network I/O rates, fds, process count.").
		Description(`
Every `+"`interval`"+`: cpu.{user,system,iowait,steal,idle} (percent of all CPUs since the
previous sample), mem.{total,used,available}_bytes, mem.used_percent, swap.*, load.{1,5,15},
disk.{read,write}_bytes_per_s and disk.{reads,writes}_per_s per disk (label disk),
net.{rx,tx}_{bytes,packets,errors}_per_s and net.rx_drops_per_s per interface (label interface),
fds.in_use, fds.max, procs.count. Rates come from counters; a counter that goes back (reset)
skips one sample instead of reporting a bogus rate.`).
		Field(service.NewDurationField(fieldInterval).Description("Sample period.").Default("5s").Example("10s")).
		Field(service.NewStringField(fieldHost).Description("Host identity on events. Empty: AMOSKYS_HOST_ID, else the hostname.").Default("").Example("web-01")).
		Field(service.NewStringListField(fieldInterfaces).Description("Network interfaces to report; empty: every interface but lo.").Default([]string{}).Example([]string{"eth0"})).
		Field(service.NewStringListField(fieldDisks).Description("Disks to report; empty: all (loop and ram devices skipped).").Default([]string{}).Example([]string{"vda"})).
		Example("Host metrics", "Every 5 s.", `
input:
  host_metrics:
    interval: 5s
pipeline:
  processors:
    - normalise: {}
output:
  stdout: {}
`)
}

func init() {
	err := service.RegisterBatchInput("host_metrics", spec(), func(conf *service.ParsedConfig, mgr *service.Resources) (service.BatchInput, error) {
		var cfg Config
		var err error
		if cfg.Interval, err = conf.FieldDuration(fieldInterval); err != nil {
			return nil, err
		}
		if cfg.Host, err = conf.FieldString(fieldHost); err != nil {
			return nil, err
		}
		if cfg.Interfaces, err = conf.FieldStringList(fieldInterfaces); err != nil {
			return nil, err
		}
		if cfg.Disks, err = conf.FieldStringList(fieldDisks); err != nil {
			return nil, err
		}
		return batchin.New(mgr, Source, func(ctx context.Context) (<-chan []*schemas.TelemetryEvent, error) {
			c := NewCollector(cfg)
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
