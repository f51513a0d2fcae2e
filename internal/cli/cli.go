// Package cli assembles the amoskys command line. Each command lives in its own package and
// registers itself here from init; cmd/amoskys only blank-imports those packages and calls Main.
// Benthos' own commands (lint, test, list, blobl, streams) come with service.RunCLI and know every
// plugin the binary links.
package cli

import (
	"context"
	"sort"
	"sync"

	"github.com/redpanda-data/benthos/v4/public/service"
	ucli "github.com/urfave/cli/v2"
)

var (
	mu       sync.Mutex
	commands = map[string]*ucli.Command{}
)

// Register adds a top-level command. It panics on a duplicate name: a wiring bug found at start.
func Register(cmd *ucli.Command) {
	mu.Lock()
	defer mu.Unlock()
	if _, dup := commands[cmd.Name]; dup {
		panic("amoskys: command registered twice: " + cmd.Name)
	}
	commands[cmd.Name] = cmd
}

// RegisterSub adds cmd under the top-level command parent (bench, rules, config, ...), creating
// the parent when it does not exist yet. It panics on a duplicate subcommand name.
func RegisterSub(parent, usage string, cmd *ucli.Command) {
	mu.Lock()
	defer mu.Unlock()
	p, ok := commands[parent]
	if !ok {
		p = &ucli.Command{Name: parent, Usage: usage}
		commands[parent] = p
	}
	if p.Usage == "" {
		p.Usage = usage
	}
	for _, c := range p.Subcommands {
		if c.Name == cmd.Name {
			panic("amoskys: subcommand registered twice: " + parent + " " + cmd.Name)
		}
	}
	p.Subcommands = append(p.Subcommands, cmd)
	sort.Slice(p.Subcommands, func(i, j int) bool { return p.Subcommands[i].Name < p.Subcommands[j].Name })
}

// Version is set at build time with -ldflags "-X github.com/amoskys/amoskys/internal/cli.Version=...".
var Version = "dev"

// Options returns the RunCLI options for every registered command, in name order.
func Options() []service.CLIOptFunc {
	mu.Lock()
	defer mu.Unlock()
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	opts := []service.CLIOptFunc{
		service.CLIOptSetBinaryName("amoskys"),
		service.CLIOptSetProductName("AMOSKYS"),
		service.CLIOptSetVersion(Version, ""),
		service.CLIOptSetDocumentationURL("https://github.com/amoskys/amoskys"),
	}
	for _, n := range names {
		opts = append(opts, service.CLIOptAddCommand(commands[n]))
	}
	return opts
}

// Main runs the command line and exits with its code.
func Main() {
	service.RunCLI(context.Background(), Options()...)
}
