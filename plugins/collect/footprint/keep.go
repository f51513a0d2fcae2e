package footprint

import (
	"context"
	"time"
)

// TrimNowAndAfter trims at once and once more after settle (unless ctx ends first); report, when
// not nil, gets each result. It returns at once; the second trim runs in its own goroutine.
func TrimNowAndAfter(ctx context.Context, settle time.Duration, report func(TrimResult, error)) {
	r, err := TrimText()
	if report != nil {
		report(r, err)
	}
	if err != nil {
		return
	}
	go func() {
		t := time.NewTimer(settle)
		defer t.Stop()
		select {
		case <-ctx.Done():
		case <-t.C:
			r, err := TrimText()
			if report != nil {
				report(r, err)
			}
		}
	}()
}
