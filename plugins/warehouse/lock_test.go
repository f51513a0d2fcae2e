package warehouse

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"
)

// Another holder of PATH/status (another amoskys process in production) gives ErrLocked, so
// `amoskys sql` knows to go through the running instance's /api/sql.
func TestCheckUnlocked(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, checkUnlocked(dir))
	f, err := os.OpenFile(filepath.Join(dir, "status"), os.O_RDWR|os.O_CREATE, 0o600)
	require.NoError(t, err)
	defer f.Close()
	require.NoError(t, syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB))
	err = checkUnlocked(dir)
	require.ErrorIs(t, err, ErrLocked)
	require.Contains(t, err.Error(), "/api/sql")
	require.NoError(t, syscall.Flock(int(f.Fd()), syscall.LOCK_UN))
	require.NoError(t, checkUnlocked(dir))
}

func TestLibraryCandidatesOrder(t *testing.T) {
	t.Setenv(EnvLibCHDB, "/from/env/libchdb.so")
	SetLibraryPath("/from/config/libchdb.so")
	defer SetLibraryPath("")
	c := LibraryCandidates("/from/dsn/libchdb.so")
	require.Equal(t, []string{"/from/dsn/libchdb.so", "/from/config/libchdb.so", "/from/env/libchdb.so"}, c[:3])
	require.Contains(t, c, "/usr/local/lib/libchdb.so")
}
