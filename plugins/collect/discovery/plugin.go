package discovery

import (
	"context"
	"strings"

	"github.com/redpanda-data/benthos/v4/public/service"

	"github.com/amoskys/amoskys/plugins/collect/batchin"
	"github.com/amoskys/amoskys/schemas"
)

const (
	fieldCIDRs        = "cidrs"
	fieldARP          = "arp"
	fieldInterval     = "interval"
	fieldRate         = "rate"
	fieldWorkers      = "workers"
	fieldMaxHosts     = "max_hosts"
	fieldMissLimit    = "miss_limit"
	fieldPort         = "port"
	fieldVersion      = "version"
	fieldTimeout      = "timeout"
	fieldRetries      = "retries"
	fieldCommunityEnv = "community_env"
	fieldUser         = "user"
	fieldAuthProtocol = "auth_protocol"
	fieldAuthPassEnv  = "auth_pass_env"
	fieldPrivProtocol = "priv_protocol"
	fieldPrivPassEnv  = "priv_pass_env"
	fieldHost         = "host"
)

func spec() *service.ConfigSpec {
	return service.NewConfigSpec().
		Beta().
		Categories("Network").
		Summary("Finds SNMP devices (ARP neighbours, CIDR ranges) and emits `device` events: appeared, changed, disappeared.").
		Description(`
Every `+"`interval`"+` each candidate (complete entries of /proc/net/arp when `+"`arp`"+` is on,
and every host address of `+"`cidrs`"+`) gets an SNMP GET of sysDescr, sysObjectID and sysName,
started at most `+"`rate`"+` per second. A new answer is `+"`appeared`"+`, a different identity
`+"`changed`"+`, and `+"`miss_limit`"+` sweeps without an answer `+"`disappeared`"+`. Probe only
networks you are allowed to scan. With no CIDR and arp off the input is idle.`).
		Field(service.NewStringListField(fieldCIDRs).Description("Ranges or single addresses to probe; an entry may hold several separated by commas. Empty entries are ignored.").Default([]string{}).Example([]string{"192.0.2.0/28"})).
		Field(service.NewBoolField(fieldARP).Description("Also probe the complete entries of the ARP table.").Default(false).Example(true)).
		Field(service.NewDurationField(fieldInterval).Description("Sweep period.").Default("5m").Example("1m")).
		Field(service.NewFloatField(fieldRate).Description("Probes started per second.").Default(10.0).Example(50.0)).
		Field(service.NewIntField(fieldWorkers).Description("Probes in flight at once.").Default(8).Advanced()).
		Field(service.NewIntField(fieldMaxHosts).Description("Largest CIDR accepted, in hosts.").Default(1024).Advanced()).
		Field(service.NewIntField(fieldMissLimit).Description("Sweeps without an answer before a device has disappeared.").Default(2).Example(3)).
		Field(service.NewIntField(fieldPort).Description("SNMP port probed.").Default(161).Example(1161)).
		Field(service.NewStringEnumField(fieldVersion, "1", "2c", "3").Description("SNMP version of the probe.").Default("2c")).
		Field(service.NewDurationField(fieldTimeout).Description("Probe timeout.").Default("1s")).
		Field(service.NewIntField(fieldRetries).Description("Probe retries.").Default(0)).
		Field(service.NewStringField(fieldCommunityEnv).Description("v1/v2c: env var holding the community.").Default("AMOSKYS_SNMP_COMMUNITY")).
		Field(service.NewStringField(fieldUser).Description("v3: USM user.").Default("")).
		Field(service.NewStringEnumField(fieldAuthProtocol, "SHA", "SHA224", "SHA256", "SHA384", "SHA512", "MD5").Description("v3: auth protocol.").Default("SHA")).
		Field(service.NewStringField(fieldAuthPassEnv).Description("v3: env var holding the auth passphrase.").Default("AMOSKYS_SNMP_AUTH_PASS")).
		Field(service.NewStringEnumField(fieldPrivProtocol, "AES", "AES192", "AES256", "AES192C", "AES256C", "DES").Description("v3: privacy protocol.").Default("AES")).
		Field(service.NewStringField(fieldPrivPassEnv).Description("v3: env var holding the privacy passphrase.").Default("AMOSKYS_SNMP_PRIV_PASS")).
		Field(service.NewStringField(fieldHost).Description("Host identity. Empty: AMOSKYS_HOST_ID, else the hostname.").Default("").Advanced()).
		Example("Lab subnet", "Probe a /28 and the neighbours every minute.", `
input:
  discovery:
    cidrs: [192.0.2.0/28]
    arp: true
    interval: 1m
    community_env: SNMP_COMMUNITY
pipeline:
  processors:
    - normalise: {}
output:
  stdout: {}
`)
}

func init() {
	err := service.RegisterBatchInput("discovery", spec(), func(conf *service.ParsedConfig, mgr *service.Resources) (service.BatchInput, error) {
		cfg, err := configFrom(conf)
		if err != nil {
			return nil, err
		}
		if len(cfg.CIDRs) == 0 && !cfg.UseARP {
			mgr.Logger().Info("discovery: no cidrs and arp off: input idle")
			return batchin.Idle(mgr, Source), nil
		}
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
	cidrs, err := conf.FieldStringList(fieldCIDRs)
	if err != nil {
		return cfg, err
	}
	for _, entry := range cidrs {
		for _, c := range strings.Split(entry, ",") { // "${AMOSKYS_DISCOVERY_CIDR:}" may list several
			if c = strings.TrimSpace(c); c != "" {
				cfg.CIDRs = append(cfg.CIDRs, c)
			}
		}
	}
	if cfg.UseARP, err = conf.FieldBool(fieldARP); err != nil {
		return cfg, err
	}
	if cfg.Interval, err = conf.FieldDuration(fieldInterval); err != nil {
		return cfg, err
	}
	if cfg.Rate, err = conf.FieldFloat(fieldRate); err != nil {
		return cfg, err
	}
	ints := []struct {
		name string
		dst  *int
	}{{fieldWorkers, &cfg.Workers}, {fieldMaxHosts, &cfg.MaxHosts}, {fieldMissLimit, &cfg.MissLimit}, {fieldRetries, &cfg.Credentials.Retries}}
	for _, f := range ints {
		if *f.dst, err = conf.FieldInt(f.name); err != nil {
			return cfg, err
		}
	}
	port, err := conf.FieldInt(fieldPort)
	if err != nil {
		return cfg, err
	}
	cfg.Port = uint16(port)
	if cfg.Credentials.Timeout, err = conf.FieldDuration(fieldTimeout); err != nil {
		return cfg, err
	}
	strs := []struct {
		name string
		dst  *string
	}{{fieldVersion, &cfg.Credentials.Version}, {fieldCommunityEnv, &cfg.Credentials.CommunityEnv},
		{fieldUser, &cfg.Credentials.User}, {fieldAuthProtocol, &cfg.Credentials.AuthProtocol},
		{fieldAuthPassEnv, &cfg.Credentials.AuthPassEnv}, {fieldPrivProtocol, &cfg.Credentials.PrivProtocol},
		{fieldPrivPassEnv, &cfg.Credentials.PrivPassEnv}, {fieldHost, &cfg.Host}}
	for _, f := range strs {
		if *f.dst, err = conf.FieldString(f.name); err != nil {
			return cfg, err
		}
	}
	return cfg, nil
}
