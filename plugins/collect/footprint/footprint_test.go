package footprint

import (
	"os"
	"runtime"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

const smapsSample = `00400000-00402000 r--p 00000000 fe:00 9978705                            /usr/bin/amoskys
Size:                  8 kB
Rss:                   8 kB
Anonymous:             0 kB
VmFlags: rd mr mw me
00402000-019bc000 r-xp 00002000 fe:00 9978705                            /usr/bin/amoskys
Size:              22248 kB
Rss:               22248 kB
Anonymous:             0 kB
FilePmdMapped:     18432 kB
VmFlags: rd ex mr mw me
03167000-03168000 r--p 02d66000 fe:00 9978705                            /usr/bin/amoskys
Rss:                   4 kB
Anonymous:             4 kB
03168000-03322000 rw-p 02d67000 fe:00 9978705                            /usr/bin/amoskys
Rss:                1636 kB
Anonymous:           264 kB
7f0000000000-7f0000001000 r-xp 00000000 fe:00 11                         /usr/lib/x86_64-linux-gnu/libc.so.6
Rss:                   4 kB
Anonymous:             0 kB
7f0000002000-7f0000003000 rw-p 00000000 00:00 0 
Rss:                   4 kB
Anonymous:             4 kB
`

func TestTrimmableOnlyNeverWrittenSegmentsOfTheExecutable(t *testing.T) {
	ms, err := parseSmaps([]byte(smapsSample))
	require.NoError(t, err)
	require.Len(t, ms, 6)
	require.Equal(t, uint64(22248*1024), ms[1].rss)
	got := trimmable(ms, "/usr/bin/amoskys")
	// The header and text; not RELRO (anonymous pages), not data (writable), not libc, not anon.
	require.Len(t, got, 2)
	require.Equal(t, uint64(0x400000), got[0].start)
	require.Equal(t, "r-xp", got[1].perms)
}

func TestParseSmapsBadRange(t *testing.T) {
	_, err := parseSmaps([]byte("zz-00402000 r--p 00000000 fe:00 1 /x\n"))
	require.Error(t, err)
}

func TestReadFilesSplit(t *testing.T) {
	dir := t.TempDir()
	roll, st := dir+"/rollup", dir+"/status"
	require.NoError(t, os.WriteFile(roll, []byte("00400000-7ffd ---p 00000000 00:00 0 [rollup]\nRss: 61876 kB\nPss: 60492 kB\nAnonymous: 12504 kB\n"), 0o600))
	require.NoError(t, os.WriteFile(st, []byte("Name:\tx\nVmHWM:\t   70000 kB\nVmRSS:\t 61876 kB\n"), 0o600))
	u, err := readFiles(roll, st)
	require.NoError(t, err)
	require.Equal(t, uint64(61876*1024), u.RSS)
	require.Equal(t, uint64(12504*1024), u.Anon)
	require.Equal(t, uint64((61876-12504)*1024), u.File)
	require.Equal(t, uint64(70000*1024), u.HWM)
}

// TrimText on this test binary: the text segments get the small-page, no-read-around advice, the
// process keeps running its code (it is executing right after), and Read still works.
func TestTrimTextRealProcess(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("Linux only")
	}
	r, err := TrimText()
	require.NoError(t, err)
	require.Positive(t, r.Mappings, "the executable's text and rodata are trimmable")
	require.Positive(t, r.Before)
	b, err := os.ReadFile("/proc/self/smaps")
	require.NoError(t, err)
	exe, err := os.Readlink("/proc/self/exe")
	require.NoError(t, err)
	flagged := 0
	var perms, path string
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 6 && strings.Contains(f[0], "-") && !strings.HasSuffix(f[0], ":") {
			perms, path = f[1], strings.Join(f[5:], " ")
		}
		if v, ok := strings.CutPrefix(line, "VmFlags:"); ok && path == exe && !strings.Contains(perms, "w") {
			if strings.Contains(v, " nh") && strings.Contains(v, " rr") {
				flagged++
			}
		}
	}
	require.Equal(t, r.Mappings, flagged, "each trimmed segment is marked nohugepage + random")
	// Running code again after the trim works (pages are faulted back from the page cache).
	u, err := Read()
	require.NoError(t, err)
	require.Positive(t, u.RSS)
	require.Equal(t, u.RSS, u.Anon+u.File)
}
