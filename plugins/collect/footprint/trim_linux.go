//go:build linux

package footprint

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// TrimText maps the read-only segments of this executable (text, rodata) page by page from now on
// and drops what is mapped now; see the package doc. Safe at any time.
func TrimText() (TrimResult, error) {
	var r TrimResult
	exe, err := os.Readlink("/proc/self/exe")
	if err != nil {
		return r, err
	}
	b, err := os.ReadFile("/proc/self/smaps")
	if err != nil {
		return r, err
	}
	ms, err := parseSmaps(b)
	if err != nil {
		return r, err
	}
	for _, m := range trimmable(ms, exe) {
		// The raw syscall: the range is an address from smaps, never dereferenced by Go.
		// NOHUGEPAGE: no 2 MB PMD entries. RANDOM: a fault reads one page, no read-around (so the
		// page cache holds small folios, and a fault maps one small folio, not up to 2 MB).
		// DONTNEED: drop the current entries (the segment is never written: nothing is lost).
		for _, adv := range []uintptr{unix.MADV_NOHUGEPAGE, unix.MADV_RANDOM, unix.MADV_DONTNEED} {
			if _, _, e := unix.Syscall(unix.SYS_MADVISE, uintptr(m.start), uintptr(m.end-m.start), adv); e != 0 {
				return r, fmt.Errorf("madvise(%d) %x-%x: %w", adv, m.start, m.end, e)
			}
		}
		r.Mappings++
		r.Before += m.rss
	}
	if r.Mappings == 0 {
		return r, nil
	}
	// Drop the executable's page-cache folios no process maps now: the large folios of the read
	// or write that brought the file in. What this process runs next is read back page by page.
	// Folios mapped by any process (ours too, touched again meanwhile) are kept by the kernel.
	f, err := os.Open("/proc/self/exe")
	if err != nil {
		return r, err
	}
	defer f.Close()
	if err := unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_DONTNEED); err != nil {
		return r, fmt.Errorf("fadvise dontneed: %w", err)
	}
	return r, nil
}
