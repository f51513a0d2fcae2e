package snmp

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/amoskys/amoskys/processors/normalise"
	"github.com/amoskys/amoskys/schemas"
)

// Source is the TelemetryEvent.Source of this collector's events.
const Source = "snmp"

// Config configures a Collector.
type Config struct {
	Targets        []Target
	Interval       time.Duration // per-target poll period; default 30s
	Groups         Groups        // what to read; zero value: see DefaultGroups
	OIDs           []UserOID
	MaxRepetitions uint32           // GETBULK size; default 25
	Host           string           // host identity of the poller; default AMOSKYS_HOST_ID or hostname
	Now            func() time.Time // clock; default time.Now
	// OnError is called (from the target's goroutine) for each failed poll; may be nil.
	OnError func(target string, err error)
}

// DefaultGroups reads everything but the per-process hrSWRun table.
var DefaultGroups = Groups{System: true, Interfaces: true, Processor: true, Storage: true}

// Stats counts polls.
type Stats struct {
	Polls, Failures, Events uint64
}

// Collector polls every target on its own goroutine.
type Collector struct {
	cfg  Config
	out  chan []*schemas.TelemetryEvent
	once atomic.Bool

	polls, failures, events atomic.Uint64
}

// NewCollector validates cfg (secrets must be in the environment now).
func NewCollector(cfg Config) (*Collector, error) {
	if len(cfg.Targets) == 0 {
		return nil, errors.New("snmp: no targets")
	}
	if cfg.Interval <= 0 {
		cfg.Interval = 30 * time.Second
	}
	if cfg.Groups == (Groups{}) {
		cfg.Groups = DefaultGroups
	}
	cfg.Groups.System = true
	if cfg.MaxRepetitions == 0 {
		cfg.MaxRepetitions = 25
	}
	if cfg.Host == "" {
		cfg.Host = normalise.HostID()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	var errs []error
	for _, t := range cfg.Targets {
		if err := t.Validate(); err != nil {
			errs = append(errs, err)
		}
	}
	for _, u := range cfg.OIDs {
		if u.OID == "" || u.Name == "" || u.OID[0] != '.' {
			errs = append(errs, fmt.Errorf("snmp oid %+v: want a numeric oid starting with '.' and a name", u))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return &Collector{cfg: cfg, out: make(chan []*schemas.TelemetryEvent, len(cfg.Targets)*2)}, nil
}

// Events returns the batches (one per target poll); closed after Start's context is done.
func (c *Collector) Events() <-chan []*schemas.TelemetryEvent { return c.out }

// Stats returns the counters so far.
func (c *Collector) Stats() Stats {
	return Stats{Polls: c.polls.Load(), Failures: c.failures.Load(), Events: c.events.Load()}
}

// Start launches one goroutine per target; each polls at once and then every Interval.
func (c *Collector) Start(ctx context.Context) error {
	if !c.once.CompareAndSwap(false, true) {
		return errors.New("snmp collector already started")
	}
	var wg sync.WaitGroup
	for _, t := range c.cfg.Targets {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.run(ctx, newPoller(t, c.cfg.Groups, c.cfg.OIDs, c.cfg.MaxRepetitions, c.cfg.Host, c.cfg.Now))
		}()
	}
	go func() { wg.Wait(); close(c.out) }()
	return nil
}

func (c *Collector) run(ctx context.Context, p *poller) {
	defer p.close()
	t := time.NewTicker(c.cfg.Interval)
	defer t.Stop()
	for {
		evs, err := p.poll(ctx)
		c.polls.Add(1)
		if err != nil {
			c.failures.Add(1)
			if c.cfg.OnError != nil && ctx.Err() == nil {
				c.cfg.OnError(p.name, err)
			}
		}
		if len(evs) > 0 {
			c.events.Add(uint64(len(evs)))
			select {
			case c.out <- evs:
			case <-ctx.Done():
				return
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
