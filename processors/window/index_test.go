package window

import (
	"testing"
	"time"
)

// The indexes advance relies on stay consistent with the keys and panes they index, and the
// state stays bounded on a long stream that starts a new process (a new key) every second.
func TestIndexesConsistentAndBounded(t *testing.T) {
	c := DefaultConfig()
	c.KeyIdle = 3 * time.Minute
	w, _ := New(c)
	evs := replayStream(40000, 2, t0) // about 33 minutes per host
	check := func(i int) {
		t.Helper()
		for s := range w.shards {
			for _, hs := range w.shards[s].hosts {
				keys := map[*keyState]bool{}
				for k, ks := range hs.keys {
					if k != ks.key || ks.kind == KindProcess || ks.dropped {
						t.Fatalf("event %d host %s: key %s indexed as %s", i, hs.host, ks.key, k)
					}
					keys[ks] = true
				}
				for id, ks := range hs.procKeys {
					if id != ks.pid || ks.key != KeyString(id.pid, time.Unix(id.start, 0)) || ks.dropped {
						t.Fatalf("event %d host %s: process key %s indexed as %v", i, hs.host, ks.key, id)
					}
					keys[ks] = true
				}
				if len(hs.idle)+len(hs.pending) != len(keys) {
					t.Fatalf("event %d host %s: %d keys, %d in the idle heap, %d pending", i, hs.host, len(keys), len(hs.idle), len(hs.pending))
				}
				panes := 0
				for ks := range keys {
					n := 0
					for _, ss := range ks.specs {
						n += len(ss.panes)
					}
					if n != int(ks.npanes) {
						t.Fatalf("event %d key %s: %d panes, npanes %d", i, ks.key, n, ks.npanes)
					}
					panes += n
				}
				indexed := 0
				for spec, m := range hs.paneKeys {
					for ps, list := range m {
						for _, ks := range list {
							if w.spec(ks, spec).panes.get(ps) == nil || !keys[ks] {
								t.Fatalf("event %d: index holds pane %d of %s that is not there", i, ps, ks.key)
							}
						}
						indexed += len(list)
					}
				}
				if indexed != panes {
					t.Fatalf("event %d host %s: %d panes indexed, %d held", i, hs.host, indexed, panes)
				}
			}
		}
	}
	vectors := 0
	for i, ev := range evs {
		vectors += len(w.Add(ev))
		if i%997 == 0 {
			check(i)
		}
	}
	check(len(evs))
	// A new process per host and second lives key_idle (3 min) after its last event, plus the
	// window that holds it: about 2 hosts x 260 process keys, with the host keys and samplers.
	if k := w.Stats().Keys; k > 2*(260+64+2) {
		t.Fatalf("%d keys held: idle keys are not expiring", k)
	}
	if vectors == 0 {
		t.Fatal("no vectors")
	}
	w.Flush()
	check(-1)
}
