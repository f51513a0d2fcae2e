package geometric

import (
	"context"
	"os"
	"path/filepath"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/amoskys/amoskys/processors/geometric/sigma"
)

// Watch reloads the rules whenever a file under the rule directories changes, until ctx ends.
// Changes are debounced (an editor writes a file in several steps); each reload swaps the whole
// rule set atomically, so an event is judged by the old set or the new one, never a mix.
// onReload is called after every reload attempt with its report or error.
func (e *Engine) Watch(ctx context.Context, debounce time.Duration, onReload func(*sigma.LoadReport, error)) error {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return err
	}
	addTree := func(root string) {
		// Follows links like the loader does, so a linked rules tree reloads too.
		_ = sigma.WalkDirs(root, func(dir string, _ []os.DirEntry) error {
			_ = w.Add(dir)
			return nil
		})
	}
	for _, d := range append(append([]string(nil), e.cfg.RuleDirs...), e.cfg.SigmaDirs...) {
		if st, err := os.Stat(d); err == nil && st.IsDir() {
			addTree(d)
		} else if err == nil {
			_ = w.Add(filepath.Dir(d))
		}
	}
	go func() {
		defer w.Close()
		var timer *time.Timer
		var fire <-chan time.Time
		for {
			select {
			case <-ctx.Done():
				if timer != nil {
					timer.Stop()
				}
				return
			case ev, ok := <-w.Events:
				if !ok {
					return
				}
				if ev.Op&fsnotify.Create != 0 {
					if st, err := os.Stat(ev.Name); err == nil && st.IsDir() {
						addTree(ev.Name)
					}
				}
				if timer == nil {
					timer = time.NewTimer(debounce)
				} else {
					timer.Reset(debounce)
				}
				fire = timer.C
			case <-fire:
				fire = nil
				rep, err := e.Reload()
				if onReload != nil {
					onReload(rep, err)
				}
			case err, ok := <-w.Errors:
				if !ok {
					return
				}
				if onReload != nil {
					onReload(nil, err)
				}
			}
		}
	}()
	return nil
}
