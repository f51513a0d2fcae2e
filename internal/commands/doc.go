// Package commands links every amoskys subcommand: one file per command, each registering itself
// with internal/cli from init.
package commands
