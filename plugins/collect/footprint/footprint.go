// Package footprint measures and trims the resident memory of a long-running collector process.
//
// What makes up the RSS of the amoskys binary at idle (go1.26, Linux 6.18, ext4): about 12 MB of
// anonymous memory (Go heap, stacks, runtime metadata) and 40-48 MB of file-backed pages, i.e. the
// binary's own text and read-only data (22 + 24 MB, the whole of Benthos, chDB bindings and every
// plugin). The kernel keeps a freshly written or read-ahead binary in large page-cache folios and,
// where address and file offset are 2 MB aligned, maps them with PMD entries: one touched byte maps
// 2 MB. So the whole text and rodata become resident, although a collector's steady state runs a
// small part of it (init code, plugin specs and docs of unused components run once at start).
//
// TrimText tells the kernel not to map those read-only segments with huge entries
// (MADV_NOHUGEPAGE) and drops their page-table entries (MADV_DONTNEED). Nothing is lost: the
// segments are never written (mappings holding any anonymous page, such as RELRO, are skipped),
// and the pages stay in the page cache; the next access maps the page again, 4 KB at a time (plus
// the kernel's fault-around). It is what reclaim would do to an idle mapping under pressure, done at
// once, so the RSS shows the working set. Usage reads /proc/self/smaps_rollup.
package footprint

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// Usage is the resident memory of this process, in bytes.
type Usage struct {
	RSS, Anon, File, PSS uint64
	HWM                  uint64 // VmHWM: peak RSS
}

// MB converts bytes to megabytes (2^20).
func MB(b uint64) float64 { return float64(b) / (1 << 20) }

// Read returns the resident memory of this process (Linux: smaps_rollup and status).
func Read() (Usage, error) { return readFiles("/proc/self/smaps_rollup", "/proc/self/status") }

func readFiles(rollup, status string) (Usage, error) {
	var u Usage
	b, err := os.ReadFile(rollup)
	if err != nil {
		return u, err
	}
	kv := parseKB(b)
	u.RSS, u.PSS, u.Anon = kv["Rss"], kv["Pss"], kv["Anonymous"]
	// Rss = anonymous + file-backed + shmem; shmem is 0 for us, so file is the remainder.
	if u.RSS >= u.Anon {
		u.File = u.RSS - u.Anon
	}
	if b, err = os.ReadFile(status); err == nil {
		u.HWM = parseKB(b)["VmHWM"]
	}
	return u, nil
}

// parseKB reads "Key:   123 kB" lines into bytes per key; other lines are ignored.
func parseKB(b []byte) map[string]uint64 {
	out := map[string]uint64{}
	for _, line := range bytes.Split(b, []byte{'\n'}) {
		k, v, ok := bytes.Cut(line, []byte{':'})
		if !ok {
			continue
		}
		f := bytes.Fields(v)
		if len(f) != 2 || string(f[1]) != "kB" {
			continue
		}
		n, err := strconv.ParseUint(string(f[0]), 10, 64)
		if err != nil {
			continue
		}
		out[string(k)] = n * 1024
	}
	return out
}

// mapping is one line of /proc/self/smaps with the fields TrimText needs.
type mapping struct {
	start, end uint64
	perms      string
	path       string
	rss, anon  uint64
}

// parseSmaps reads the mappings of an smaps file.
func parseSmaps(b []byte) ([]mapping, error) {
	var out []mapping
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		if lo, hi, ok := strings.Cut(f[0], "-"); ok && len(f) >= 5 && !strings.HasSuffix(f[0], ":") {
			s, err1 := strconv.ParseUint(lo, 16, 64)
			e, err2 := strconv.ParseUint(hi, 16, 64)
			if err1 != nil || err2 != nil {
				return nil, fmt.Errorf("smaps: bad range %q", f[0])
			}
			m := mapping{start: s, end: e, perms: f[1]}
			if len(f) >= 6 {
				m.path = strings.Join(f[5:], " ")
			}
			out = append(out, m)
			continue
		}
		if len(out) == 0 || len(f) != 3 || f[2] != "kB" {
			continue
		}
		n, err := strconv.ParseUint(f[1], 10, 64)
		if err != nil {
			continue
		}
		switch f[0] {
		case "Rss:":
			out[len(out)-1].rss = n * 1024
		case "Anonymous:":
			out[len(out)-1].anon = n * 1024
		}
	}
	return out, sc.Err()
}

// trimmable returns the read-only, never-written mappings of the file exe.
func trimmable(ms []mapping, exe string) []mapping {
	var out []mapping
	for _, m := range ms {
		if m.path != exe || len(m.perms) < 4 || m.perms[0] != 'r' || m.perms[1] != '-' || m.perms[3] != 'p' {
			continue
		}
		if m.anon != 0 { // written before being made read-only (RELRO): its pages are private copies
			continue
		}
		out = append(out, m)
	}
	return out
}

// TrimResult says what TrimText did.
type TrimResult struct {
	Mappings int    // read-only segments of the executable trimmed
	Before   uint64 // their resident bytes before
}

// ErrUnsupported is returned where the platform has no smaps or madvise.
var ErrUnsupported = errors.New("footprint: trimming needs Linux")

// GoMem is what the Go runtime holds, in bytes (runtime.MemStats after the last GC).
type GoMem struct {
	HeapInuse, HeapIdleUnreleased, StackInuse, OtherSys, NextGC uint64
}

// Settle is how long after a pipeline starts TrimText runs a second time: the stream's build and
// first collections touch code (config parsing, constructors, first /proc scans) that the steady
// state never runs again.
const Settle = 15 * time.Second
