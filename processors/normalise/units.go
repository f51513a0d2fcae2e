package normalise

import "strings"

// unitScale maps a unit spelling outside producers use to the canonical unit our collectors
// write and the factor that converts a value into it.
type unitScale struct {
	unit   string
	factor float64
}

const (
	kib = 1024.0
	mib = 1024.0 * kib
	gib = 1024.0 * mib
)

var units = map[string]unitScale{
	"%": {"percent", 1}, "pct": {"percent", 1}, "percent": {"percent", 1},
	"b": {"bytes", 1}, "byte": {"bytes", 1}, "bytes": {"bytes", 1},
	"kb": {"bytes", kib}, "kib": {"bytes", kib}, "kilobytes": {"bytes", kib},
	"mb": {"bytes", mib}, "mib": {"bytes", mib}, "megabytes": {"bytes", mib},
	"gb": {"bytes", gib}, "gib": {"bytes", gib}, "gigabytes": {"bytes", gib},
	"b/s": {"bytes_per_s", 1}, "bps": {"bytes_per_s", 1}, "bytes/s": {"bytes_per_s", 1}, "bytes_per_s": {"bytes_per_s", 1},
	"kb/s": {"bytes_per_s", kib}, "kib/s": {"bytes_per_s", kib},
	"mb/s": {"bytes_per_s", mib}, "mib/s": {"bytes_per_s", mib},
	"s": {"seconds", 1}, "sec": {"seconds", 1}, "secs": {"seconds", 1}, "second": {"seconds", 1}, "seconds": {"seconds", 1},
	"ms": {"seconds", 1e-3}, "milliseconds": {"seconds", 1e-3},
	"us": {"seconds", 1e-6}, "µs": {"seconds", 1e-6}, "microseconds": {"seconds", 1e-6},
	"ns": {"seconds", 1e-9}, "nanoseconds": {"seconds", 1e-9},
	"/s": {"per_s", 1}, "per_s": {"per_s", 1}, "per_second": {"per_s", 1}, "ops/s": {"per_s", 1},
	"count": {"count", 1}, "": {"", 1},
}

// canonicalUnit converts v from unit u into the canonical unit. Unknown units are kept as they
// are (lower-cased and trimmed), with the value unchanged.
func canonicalUnit(u string, v float64) (string, float64) {
	key := strings.ToLower(strings.TrimSpace(u))
	if s, ok := units[key]; ok {
		return s.unit, v * s.factor
	}
	return key, v
}
