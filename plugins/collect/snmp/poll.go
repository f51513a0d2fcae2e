package snmp

import (
	"context"
	"fmt"
	"math"
	"math/big"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/gosnmp/gosnmp"

	"github.com/amoskys/amoskys/plugins/collect/rate"
	"github.com/amoskys/amoskys/schemas"
)

// Groups selects what a poll reads.
type Groups struct {
	System     bool // system group (sysUpTime etc.)
	Interfaces bool // ifTable + ifXTable
	Processor  bool // hrProcessorLoad
	Storage    bool // hrStorageTable
	SWRun      bool // hrSWRunTable + hrSWRunPerfTable (per-process rows: heavier)
}

// poller polls one target; it is used by one goroutine only.
type poller struct {
	t       Target
	name    string
	groups  Groups
	oids    []UserOID
	maxReps uint32
	host    string
	now     func() time.Time

	x         *gosnmp.GoSNMP
	rates     *rate.Tracker
	lastUp    uint32
	hasUp     bool
	SysName   string
	SysDescr  string
	SysObject string
}

func newPoller(t Target, g Groups, oids []UserOID, maxReps uint32, host string, now func() time.Time) *poller {
	name := t.Name
	if name == "" {
		name = t.Address
	}
	return &poller{t: t, name: name, groups: g, oids: oids, maxReps: maxReps, host: host, now: now, rates: rate.New()}
}

func (p *poller) close() {
	if p.x != nil && p.x.Conn != nil {
		_ = p.x.Conn.Close()
	}
	p.x = nil
}

type out struct {
	p   *poller
	t   time.Time
	evs []*schemas.TelemetryEvent
}

func (o *out) add(name string, v float64, unit string, labels ...string) {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return
	}
	m := &schemas.Metric{Name: name, Value: v, Unit: unit, Device: o.p.t.Address,
		Labels: map[string]string{"target": o.p.name}}
	for i := 0; i+1 < len(labels); i += 2 {
		m.Labels[labels[i]] = labels[i+1]
	}
	if o.p.SysName != "" {
		m.Labels["sys_name"] = o.p.SysName
	}
	o.evs = append(o.evs, &schemas.TelemetryEvent{SchemaVersion: schemas.TelemetryVersion,
		Kind: schemas.KindSNMPMetric, Time: o.t, Host: o.p.host, Source: Source, Metric: m})
}

func (o *out) rate(key, name, unit string, v uint64, w rate.Width, labels ...string) {
	if r, res := o.p.rates.Observe(key, v, o.t, w); res == rate.OK || res == rate.Wrapped {
		o.add(name, r, unit, labels...)
	}
}

// poll reads every selected group once. A failure of one group is returned after the others
// have been read; a failure to reach the agent at all returns at once.
func (p *poller) poll(ctx context.Context) ([]*schemas.TelemetryEvent, error) {
	if p.x == nil {
		x, err := p.t.Dial(ctx, p.maxReps)
		if err != nil {
			return nil, err
		}
		p.x = x
	}
	o := &out{p: p, t: p.now().UTC()}
	// The system group comes first: it is the liveness probe and detects reboots.
	if err := p.system(o); err != nil {
		p.close() // a fresh socket (and v3 engine discovery) next time
		return nil, err
	}
	var errs []string
	if p.groups.Interfaces {
		if err := p.interfaces(o); err != nil {
			errs = append(errs, "interfaces: "+err.Error())
		}
	}
	if p.groups.Processor {
		if err := p.processors(o); err != nil {
			errs = append(errs, "hrProcessorLoad: "+err.Error())
		}
	}
	if p.groups.Storage {
		if err := p.storage(o); err != nil {
			errs = append(errs, "hrStorage: "+err.Error())
		}
	}
	if p.groups.SWRun {
		if err := p.swrun(o); err != nil {
			errs = append(errs, "hrSWRun: "+err.Error())
		}
	}
	if len(p.oids) > 0 {
		if err := p.user(o); err != nil {
			errs = append(errs, "oids: "+err.Error())
		}
	}
	p.rates.Sweep()
	if len(errs) > 0 {
		return o.evs, fmt.Errorf("snmp target %s: %s", p.t.Address, strings.Join(errs, "; "))
	}
	return o.evs, nil
}

func (p *poller) system(o *out) error {
	pkt, err := p.x.Get([]string{oidSysDescr, oidSysObjectID, oidSysUpTime, oidSysName})
	if err != nil {
		return fmt.Errorf("snmp target %s: %w", p.t.Address, err)
	}
	if pkt.Error != gosnmp.NoError {
		return fmt.Errorf("snmp target %s: %v", p.t.Address, pkt.Error)
	}
	for _, v := range pkt.Variables {
		switch v.Name {
		case oidSysDescr:
			p.SysDescr = str(v)
		case oidSysObjectID:
			p.SysObject = str(v)
		case oidSysName:
			p.SysName = str(v)
		case oidSysUpTime:
			up, ok := v.Value.(uint32)
			if !ok {
				continue
			}
			if p.hasUp && up < p.lastUp {
				// Rebooted (or sysUpTime wrapped after 497 days): every counter restarted.
				p.rates = rate.New()
			}
			p.lastUp, p.hasUp = up, true
			o.add("sys.uptime_seconds", float64(up)/100, "seconds")
		}
	}
	return nil
}

// walk bulk-walks root (GETNEXT walk for v1).
func (p *poller) walk(root string) ([]gosnmp.SnmpPDU, error) {
	if p.x.Version == gosnmp.Version1 {
		return p.x.WalkAll(root)
	}
	return p.x.BulkWalkAll(root)
}

// table groups a walk of entryOID by row index: column number → PDU.
func table(pdus []gosnmp.SnmpPDU, entryOID string) map[string]map[int]gosnmp.SnmpPDU {
	rows := map[string]map[int]gosnmp.SnmpPDU{}
	prefix := entryOID + "."
	for _, v := range pdus {
		rest, ok := strings.CutPrefix(v.Name, prefix)
		if !ok {
			continue
		}
		col, idx, ok := strings.Cut(rest, ".")
		if !ok {
			continue
		}
		c, err := strconv.Atoi(col)
		if err != nil {
			continue
		}
		if rows[idx] == nil {
			rows[idx] = map[int]gosnmp.SnmpPDU{}
		}
		rows[idx][c] = v
	}
	return rows
}

func sortedIdx(rows map[string]map[int]gosnmp.SnmpPDU) []string {
	out := make([]string, 0, len(rows))
	for k := range rows {
		out = append(out, k)
	}
	sort.Slice(out, func(i, j int) bool {
		a, ea := strconv.Atoi(out[i])
		b, eb := strconv.Atoi(out[j])
		if ea == nil && eb == nil {
			return a < b
		}
		return out[i] < out[j]
	})
	return out
}

func (p *poller) interfaces(o *out) error {
	base, err := p.walk(oidIfTable)
	if err != nil {
		return err
	}
	ext, err := p.walk(oidIfXTable)
	if err != nil {
		ext = nil // ifXTable is optional (v1 agents)
	}
	rows := table(base, oidIfEntry)
	xrows := table(ext, oidIfXEntry)
	for _, idx := range sortedIdx(rows) {
		r, x := rows[idx], xrows[idx]
		name := str(x[1]) // ifName
		if name == "" {
			name = str(r[2]) // ifDescr
		}
		l := []string{"ifIndex", idx, "interface", name}
		if v, ok := num(r[8]); ok {
			o.add("if.oper_status", float64(v), "enum", l...) // 1 up, 2 down, ...
		}
		if v, ok := num(x[15]); ok {
			o.add("if.speed_mbps", float64(v), "mbps", l...)
		}
		counter := func(key, metric, unit string, hc, c32 gosnmp.SnmpPDU) {
			if v, ok := num(hc); ok && hc.Type == gosnmp.Counter64 {
				o.rate(key+"/"+idx, metric, unit, v, rate.W64, l...)
			} else if v, ok := num(c32); ok {
				o.rate(key+"/"+idx+"/32", metric, unit, v, rate.W32, l...)
			}
		}
		counter("in_octets", "if.in_octets_per_s", "bytes_per_s", x[6], r[10])
		counter("out_octets", "if.out_octets_per_s", "bytes_per_s", x[10], r[16])
		counter("in_ucast", "if.in_ucast_pkts_per_s", "per_s", x[7], r[11])
		counter("out_ucast", "if.out_ucast_pkts_per_s", "per_s", x[11], r[17])
		counter("in_errors", "if.in_errors_per_s", "per_s", gosnmp.SnmpPDU{}, r[14])
		counter("out_errors", "if.out_errors_per_s", "per_s", gosnmp.SnmpPDU{}, r[20])
		counter("in_discards", "if.in_discards_per_s", "per_s", gosnmp.SnmpPDU{}, r[13])
		counter("out_discards", "if.out_discards_per_s", "per_s", gosnmp.SnmpPDU{}, r[19])
	}
	return nil
}

func (p *poller) processors(o *out) error {
	pdus, err := p.walk(oidHrProcLoad)
	if err != nil {
		return err
	}
	sum, n := 0.0, 0
	for _, v := range pdus {
		idx, ok := strings.CutPrefix(v.Name, oidHrProcLoad+".")
		if !ok {
			continue
		}
		if load, ok := num(v); ok {
			o.add("hr.processor_load_percent", float64(load), "percent", "index", idx)
			sum += float64(load)
			n++
		}
	}
	if n > 0 {
		o.add("hr.processor_load_avg_percent", sum/float64(n), "percent")
	}
	return nil
}

func (p *poller) storage(o *out) error {
	pdus, err := p.walk(oidHrStorageEntry)
	if err != nil {
		return err
	}
	rows := table(pdus, oidHrStorageEntry)
	for _, idx := range sortedIdx(rows) {
		r := rows[idx]
		unit, ok1 := num(r[4])
		size, ok2 := num(r[5])
		used, ok3 := num(r[6])
		if !ok1 || !ok2 || !ok3 || unit == 0 {
			continue
		}
		l := []string{"index", idx, "storage", str(r[3])}
		o.add("hr.storage_size_bytes", float64(size)*float64(unit), "bytes", l...)
		o.add("hr.storage_used_bytes", float64(used)*float64(unit), "bytes", l...)
		if size > 0 {
			o.add("hr.storage_used_percent", float64(used)/float64(size)*100, "percent", l...)
		}
	}
	return nil
}

func (p *poller) swrun(o *out) error {
	run, err := p.walk(oidHrSWRunEntry)
	if err != nil {
		return err
	}
	perf, err := p.walk(oidHrSWRunPerf)
	if err != nil {
		perf = nil
	}
	rows := table(run, oidHrSWRunEntry)
	prows := table(perf, oidHrSWRunPerf)
	o.add("hr.swrun_count", float64(len(rows)), "count")
	for _, idx := range sortedIdx(rows) {
		r, pr := rows[idx], prows[idx]
		l := []string{"index", idx, "name", str(r[2]), "path", str(r[4])}
		if mem, ok := num(pr[2]); ok {
			o.add("hr.swrun_mem_bytes", float64(mem)*1024, "bytes", l...)
		}
		if cs, ok := num(pr[1]); ok {
			// hrSWRunPerfCPU: centi-seconds of CPU; as a rate it is percent of one core.
			o.rate("swrun_cpu/"+idx+"/"+str(r[2]), "hr.swrun_cpu_percent", "percent", cs, rate.W32, l...)
		}
	}
	return nil
}

func (p *poller) user(o *out) error {
	names := make([]string, len(p.oids))
	for i, u := range p.oids {
		names[i] = u.OID
	}
	var errs []string
	for start := 0; start < len(names); start += gosnmp.MaxOids {
		end := min(start+gosnmp.MaxOids, len(names))
		pkt, err := p.x.Get(names[start:end])
		if err != nil {
			errs = append(errs, err.Error())
			continue
		}
		for i, v := range pkt.Variables {
			u := p.oids[start+i]
			n, ok := num(v)
			if !ok {
				continue
			}
			switch v.Type {
			case gosnmp.Counter32:
				o.rate("user/"+u.OID, u.Name+"_per_s", "per_s", n, rate.W32, "oid", u.OID)
			case gosnmp.Counter64:
				o.rate("user/"+u.OID, u.Name+"_per_s", "per_s", n, rate.W64, "oid", u.OID)
			default:
				o.add(u.Name, float64(n), "", "oid", u.OID)
			}
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("%s", strings.Join(errs, "; "))
	}
	return nil
}

// num returns an integer PDU value as uint64 (negative Integers are not counters or gauges we use).
func num(v gosnmp.SnmpPDU) (uint64, bool) {
	switch v.Type {
	case gosnmp.Counter32, gosnmp.Gauge32, gosnmp.TimeTicks, gosnmp.Uinteger32, gosnmp.Counter64, gosnmp.Integer:
	default:
		return 0, false
	}
	b := gosnmp.ToBigInt(v.Value)
	if b == nil || b.Sign() < 0 || b.Cmp(new(big.Int).SetUint64(math.MaxUint64)) > 0 {
		return 0, false
	}
	return b.Uint64(), true
}

// str returns a string PDU value (OctetString, ObjectIdentifier), "" otherwise.
func str(v gosnmp.SnmpPDU) string {
	switch x := v.Value.(type) {
	case []byte:
		return strings.ToValidUTF8(strings.TrimRight(string(x), "\x00"), "\uFFFD")
	case string:
		return x
	}
	return ""
}
