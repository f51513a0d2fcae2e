package commands

import (
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	ucli "github.com/urfave/cli/v2"

	"github.com/amoskys/amoskys/internal/cli"
	"github.com/amoskys/amoskys/internal/snmptest"
)

func init() {
	cli.RegisterSub("dev", "development helpers", &ucli.Command{
		Name:  "snmpd",
		Usage: "run a private net-snmp agent on 127.0.0.1 (v2c community + v3 authPriv user) and print the env vars that point the collect pipeline's snmp and discovery inputs at it",
		Flags: []ucli.Flag{
			&ucli.StringFlag{Name: "dir", Usage: "directory for its conf, log and state", Value: filepath.Join("data", "snmpd")},
			&ucli.UintFlag{Name: "port", Usage: "UDP port on 127.0.0.1 (0: a free one)", Value: 1161},
		},
		Action: func(c *ucli.Context) error {
			dir, err := filepath.Abs(c.String("dir"))
			if err != nil {
				return err
			}
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return err
			}
			a, err := snmptest.StartDirWith(dir, snmptest.Options{Port: uint16(c.Uint("port"))})
			if err != nil {
				return fmt.Errorf("dev snmpd: %w", err)
			}
			defer a.Stop()
			fmt.Printf("export AMOSKYS_SNMP_TARGET=%s AMOSKYS_SNMP_COMMUNITY=%s AMOSKYS_DISCOVERY_CIDR=%s/32 AMOSKYS_DISCOVERY_PORT=%d\n",
				a.Addr(), a.Community, a.Host, a.Port)
			fmt.Fprintf(os.Stderr, "snmpd on %s (log %s); v3 user %s, passphrases in %s/snmpd.conf; Ctrl-C stops it\n",
				a.Addr(), filepath.Join(dir, "snmpd.log"), a.User, dir)
			sig := make(chan os.Signal, 1)
			signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
			select {
			case <-sig:
			case <-c.Context.Done():
			}
			return nil
		},
	})
}
