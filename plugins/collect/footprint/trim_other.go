//go:build !linux

package footprint

// TrimText is Linux-only; elsewhere it does nothing and says so.
func TrimText() (TrimResult, error) { return TrimResult{}, ErrUnsupported }
