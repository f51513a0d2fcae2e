package footprint

import "runtime"

// ReadGo reads the Go runtime's own accounting (stops the world briefly: call it rarely).
func ReadGo() GoMem {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return GoMem{
		HeapInuse:          m.HeapInuse,
		HeapIdleUnreleased: m.HeapIdle - m.HeapReleased,
		StackInuse:         m.StackInuse,
		OtherSys:           m.MSpanSys + m.MCacheSys + m.BuckHashSys + m.GCSys + m.OtherSys,
		NextGC:             m.NextGC,
	}
}
