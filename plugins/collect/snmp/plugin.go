package snmp

import (
	"context"
	"strings"

	"github.com/redpanda-data/benthos/v4/public/service"

	"github.com/amoskys/amoskys/plugins/collect/batchin"
	"github.com/amoskys/amoskys/schemas"
)

const (
	fieldInterval       = "interval"
	fieldTargets        = "targets"
	fieldName           = "name"
	fieldAddress        = "address"
	fieldVersion        = "version"
	fieldTimeout        = "timeout"
	fieldRetries        = "retries"
	fieldCommunityEnv   = "community_env"
	fieldUser           = "user"
	fieldAuthProtocol   = "auth_protocol"
	fieldAuthPassEnv    = "auth_pass_env"
	fieldPrivProtocol   = "priv_protocol"
	fieldPrivPassEnv    = "priv_pass_env"
	fieldInterfaces     = "interfaces"
	fieldProcessor      = "processor"
	fieldStorage        = "storage"
	fieldSWRun          = "hr_swrun"
	fieldOIDs           = "oids"
	fieldOID            = "oid"
	fieldMaxRepetitions = "max_repetitions"
	fieldHost           = "host"
)

func spec() *service.ConfigSpec {
	return service.NewConfigSpec().
		Beta().
		Categories("Network").
		Summary("Polls SNMP v2c / v3 (authPriv) devices and emits `snmp_metric` events.").
		Description(`
Each target is polled on its own goroutine every `+"`interval`"+`, so a dead or slow target
never stalls the others. A poll reads the system group (sys.uptime_seconds; a sysUpTime that goes
back restarts every rate), IF-MIB ifTable/ifXTable (if.{in,out}_octets_per_s,
if.{in,out}_ucast_pkts_per_s, errors and discards per second, if.oper_status, if.speed_mbps;
64-bit counters preferred, 32-bit wraps handled), HOST-RESOURCES hrProcessorLoad
(hr.processor_load_percent) and hrStorage (hr.storage_{size,used}_bytes, used percent),
optionally hrSWRun (hr.swrun_count, per-process hr.swrun_mem_bytes and hr.swrun_cpu_percent), and
the listed OIDs (counters become "<name>_per_s" rates). Walks use GETBULK (GETNEXT for v1).
Numeric OIDs only: no MIB files are needed.

Secrets never appear in the config: `+"`community_env`"+`, `+"`auth_pass_env`"+` and
`+"`priv_pass_env`"+` name environment variables. Targets with an empty address are skipped, and
with no targets left the input stays idle, so a pipeline may carry
`+"`address: ${AMOSKYS_SNMP_TARGET:}`"+` and enable it by setting the variable.`).
		Field(service.NewDurationField(fieldInterval).Description("Poll period per target.").Default("30s").Example("10s")).
		Field(service.NewObjectListField(fieldTargets,
			service.NewStringField(fieldAddress).Description("host or host:port (161 by default); several separated by commas share the other settings. Empty: the target is skipped.").Example("10.0.0.1:161"),
			service.NewStringField(fieldName).Description("Name put in the `target` label; default the address.").Default("").Example("core-switch"),
			service.NewStringEnumField(fieldVersion, "1", "2c", "3").Description("SNMP version.").Default("2c").Example("3"),
			service.NewDurationField(fieldTimeout).Description("Per-request timeout.").Default("2s").Example("5s"),
			service.NewIntField(fieldRetries).Description("Per-request retries.").Default(1).Example(2),
			service.NewStringField(fieldCommunityEnv).Description("v1/v2c: name of the env var holding the community string.").Default("AMOSKYS_SNMP_COMMUNITY").Example("SNMP_COMMUNITY_CORE"),
			service.NewStringField(fieldUser).Description("v3: USM user name.").Default("").Example("monitor"),
			service.NewStringEnumField(fieldAuthProtocol, "SHA", "SHA224", "SHA256", "SHA384", "SHA512", "MD5").Description("v3: authentication protocol.").Default("SHA").Example("SHA256"),
			service.NewStringField(fieldAuthPassEnv).Description("v3: env var holding the authentication passphrase.").Default("AMOSKYS_SNMP_AUTH_PASS").Example("SNMP_AUTH_CORE"),
			service.NewStringEnumField(fieldPrivProtocol, "AES", "AES192", "AES256", "AES192C", "AES256C", "DES").Description("v3: privacy protocol.").Default("AES").Example("AES256"),
			service.NewStringField(fieldPrivPassEnv).Description("v3: env var holding the privacy passphrase.").Default("AMOSKYS_SNMP_PRIV_PASS").Example("SNMP_PRIV_CORE"),
		).Description("Devices to poll.").Example([]any{map[string]any{"address": "10.0.0.1", "version": "2c", "community_env": "SNMP_COMMUNITY"}})).
		Field(service.NewBoolField(fieldInterfaces).Description("Poll ifTable and ifXTable.").Default(true)).
		Field(service.NewBoolField(fieldProcessor).Description("Poll hrProcessorLoad.").Default(true)).
		Field(service.NewBoolField(fieldStorage).Description("Poll hrStorageTable.").Default(true)).
		Field(service.NewBoolField(fieldSWRun).Description("Poll hrSWRunTable and hrSWRunPerfTable (one event per process per poll).").Default(false)).
		Field(service.NewObjectListField(fieldOIDs,
			service.NewStringField(fieldOID).Description("Numeric OID, starting with a dot.").Example(".1.3.6.1.4.1.2021.10.1.5.1"),
			service.NewStringField(fieldName).Description("Metric name.").Example("ucd.load1"),
		).Description("Extra OIDs read with GET; counters become rates named <name>_per_s.").Default([]any{})).
		Field(service.NewIntField(fieldMaxRepetitions).Description("GETBULK max-repetitions.").Default(25).Advanced()).
		Field(service.NewStringField(fieldHost).Description("Host identity of the poller. Empty: AMOSKYS_HOST_ID, else the hostname.").Default("").Advanced()).
		Example("Two devices", "A v2c switch and a v3 router.", `
input:
  snmp:
    interval: 30s
    targets:
      - address: 10.0.0.2
        community_env: SNMP_COMMUNITY
      - address: 10.0.0.1:161
        version: "3"
        user: monitor
        auth_pass_env: SNMP_AUTH
        priv_pass_env: SNMP_PRIV
pipeline:
  processors:
    - normalise: {}
output:
  stdout: {}
`)
}

func init() {
	err := service.RegisterBatchInput("snmp", spec(), func(conf *service.ParsedConfig, mgr *service.Resources) (service.BatchInput, error) {
		cfg, err := configFrom(conf)
		if err != nil {
			return nil, err
		}
		if len(cfg.Targets) == 0 {
			mgr.Logger().Info("snmp: no targets with an address: input idle")
			return batchin.Idle(mgr, Source), nil
		}
		cfg.OnError = func(target string, err error) { mgr.Logger().Warnf("snmp: %s: %v", target, err) }
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

func configFrom(conf *service.ParsedConfig) (Config, error) {
	var cfg Config
	var err error
	if cfg.Interval, err = conf.FieldDuration(fieldInterval); err != nil {
		return cfg, err
	}
	tconfs, err := conf.FieldObjectList(fieldTargets)
	if err != nil {
		return cfg, err
	}
	for _, tc := range tconfs {
		var t Target
		if t.Address, err = tc.FieldString(fieldAddress); err != nil {
			return cfg, err
		}
		addrs := []string{}
		for _, a := range strings.Split(t.Address, ",") { // "${AMOSKYS_SNMP_TARGET:}" may list several
			if a = strings.TrimSpace(a); a != "" {
				addrs = append(addrs, a)
			}
		}
		if len(addrs) == 0 {
			continue
		}
		fields := []struct {
			name string
			dst  *string
		}{{fieldName, &t.Name}, {fieldVersion, &t.Version}, {fieldCommunityEnv, &t.CommunityEnv},
			{fieldUser, &t.User}, {fieldAuthProtocol, &t.AuthProtocol}, {fieldAuthPassEnv, &t.AuthPassEnv},
			{fieldPrivProtocol, &t.PrivProtocol}, {fieldPrivPassEnv, &t.PrivPassEnv}}
		for _, f := range fields {
			if *f.dst, err = tc.FieldString(f.name); err != nil {
				return cfg, err
			}
		}
		if t.Timeout, err = tc.FieldDuration(fieldTimeout); err != nil {
			return cfg, err
		}
		if t.Retries, err = tc.FieldInt(fieldRetries); err != nil {
			return cfg, err
		}
		for _, a := range addrs {
			one := t
			one.Address = a
			if len(addrs) > 1 && one.Name != "" {
				one.Name = t.Name + "/" + a
			}
			cfg.Targets = append(cfg.Targets, one)
		}
	}
	if cfg.Groups.Interfaces, err = conf.FieldBool(fieldInterfaces); err != nil {
		return cfg, err
	}
	if cfg.Groups.Processor, err = conf.FieldBool(fieldProcessor); err != nil {
		return cfg, err
	}
	if cfg.Groups.Storage, err = conf.FieldBool(fieldStorage); err != nil {
		return cfg, err
	}
	if cfg.Groups.SWRun, err = conf.FieldBool(fieldSWRun); err != nil {
		return cfg, err
	}
	cfg.Groups.System = true
	oconfs, err := conf.FieldObjectList(fieldOIDs)
	if err != nil {
		return cfg, err
	}
	for _, oc := range oconfs {
		var u UserOID
		if u.OID, err = oc.FieldString(fieldOID); err != nil {
			return cfg, err
		}
		if u.Name, err = oc.FieldString(fieldName); err != nil {
			return cfg, err
		}
		cfg.OIDs = append(cfg.OIDs, u)
	}
	reps, err := conf.FieldInt(fieldMaxRepetitions)
	if err != nil {
		return cfg, err
	}
	if reps > 0 {
		cfg.MaxRepetitions = uint32(reps)
	}
	cfg.Host, err = conf.FieldString(fieldHost)
	return cfg, err
}
