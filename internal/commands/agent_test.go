package commands

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestParseByteSize(t *testing.T) {
	for in, want := range map[string]int64{"64MiB": 64 << 20, "1GiB": 1 << 30, "4096": 4096, "10B": 10, " 2KiB ": 2048} {
		got, err := parseByteSize(in)
		require.NoError(t, err, in)
		require.Equal(t, want, got, in)
	}
	for _, in := range []string{"", "MiB", "-1MiB", "0", "64MB", "1.5GiB", "99999999999TiB"} {
		_, err := parseByteSize(in)
		require.Error(t, err, in)
	}
}

func TestAgentConfigMemory(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "agent.yaml")
	require.NoError(t, os.WriteFile(p, []byte("log: {level: info}\n"), 0o600))
	cfg, err := loadAgentConfig(p)
	require.NoError(t, err)
	require.True(t, cfg.Memory.TrimText, "trim_text defaults to true")
	require.Empty(t, cfg.Memory.Limit)

	require.NoError(t, os.WriteFile(p, []byte("memory: {trim_text: false, limit: 48MiB}\n"), 0o600))
	cfg, err = loadAgentConfig(p)
	require.NoError(t, err)
	require.False(t, cfg.Memory.TrimText)
	require.Equal(t, "48MiB", cfg.Memory.Limit)

	require.NoError(t, os.WriteFile(p, []byte("memory: {limit: lots}\n"), 0o600))
	_, err = loadAgentConfig(p)
	require.ErrorContains(t, err, "memory.limit")
}

// The repository's agent.yaml loads with its documented defaults.
func TestAgentYAMLInRepo(t *testing.T) {
	cfg, err := loadAgentConfig(filepath.Join("..", "..", "agent.yaml"))
	require.NoError(t, err)
	require.True(t, cfg.Memory.TrimText)
}
