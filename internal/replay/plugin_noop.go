package replay

import (
	"context"

	"github.com/redpanda-data/benthos/v4/public/service"
)

// Names registered in a replay's Benthos environment for benchmarks.
const (
	// PluginNoop is a processor built on the public plugin API (service.RegisterBatchProcessor,
	// as every AMOSKYS stage is) that passes its batch on untouched: N of them measure what the
	// framework itself charges N plugin stages (message wrapping, tracing spans, metrics).
	// Benthos' own `noop` is unwrapped to an internal processor and skips all of that.
	PluginNoop = "plugin_noop"
)

type pluginNoop struct{}

func (pluginNoop) ProcessBatch(_ context.Context, b service.MessageBatch) ([]service.MessageBatch, error) {
	return []service.MessageBatch{b}, nil
}

func (pluginNoop) Close(context.Context) error { return nil }

// registerBench adds PluginNoop to env.
func registerBench(env *service.Environment) error {
	return env.RegisterBatchProcessor(PluginNoop, service.NewConfigSpec().
		Summary("Passes its batch on untouched, through the public plugin API (a benchmark baseline).").
		Field(service.NewObjectField("").Default(map[string]any{})),
		func(*service.ParsedConfig, *service.Resources) (service.BatchProcessor, error) {
			return pluginNoop{}, nil
		})
}
