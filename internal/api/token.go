package api

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/amoskys/amoskys/internal/config"
)

// TokenFile is where a generated token is written, under data_dir, mode 0600.
const TokenFile = "api-token"

// TokenPath returns the path of the generated token file.
func TokenPath(c *config.Config) string { return filepath.Join(c.Path(c.DataDir), TokenFile) }

// ResolveToken returns the bearer token of /api: the value of the env var named by
// api.token_env, or, when it is unset or empty, a random token written to data_dir/api-token
// (0600). The token itself is never logged.
func ResolveToken(c *config.Config, lookupEnv func(string) (string, bool), log *slog.Logger) (string, error) {
	if lookupEnv == nil {
		lookupEnv = os.LookupEnv
	}
	if v, ok := lookupEnv(c.API.TokenEnv); ok && strings.TrimSpace(v) != "" {
		return strings.TrimSpace(v), nil
	}
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("generating API token: %w", err)
	}
	tok := hex.EncodeToString(b[:])
	path := TokenPath(c)
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return "", fmt.Errorf("writing API token: %w", err)
	}
	// Write to a temp file then rename, so a reader never sees half a token.
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(tok+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("writing API token: %w", err)
	}
	if err := os.Chmod(tmp, 0o600); err != nil {
		return "", fmt.Errorf("writing API token: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return "", fmt.Errorf("writing API token: %w", err)
	}
	if log != nil {
		log.Info("generated a random API token because its environment variable is unset",
			"env", c.API.TokenEnv, "written_to", path)
	}
	return tok, nil
}

// ReadToken returns the token a client should send: the env var named by api.token_env, else the
// content of data_dir/api-token.
func ReadToken(c *config.Config, lookupEnv func(string) (string, bool)) (string, error) {
	if lookupEnv == nil {
		lookupEnv = os.LookupEnv
	}
	if v, ok := lookupEnv(c.API.TokenEnv); ok && strings.TrimSpace(v) != "" {
		return strings.TrimSpace(v), nil
	}
	b, err := os.ReadFile(TokenPath(c))
	if errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("no API token: set %s or run `amoskys run` once to generate %s", c.API.TokenEnv, TokenPath(c))
	}
	if err != nil {
		return "", fmt.Errorf("reading API token: %w", err)
	}
	return strings.TrimSpace(string(b)), nil
}
