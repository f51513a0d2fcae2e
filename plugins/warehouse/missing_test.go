package warehouse_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/amoskys/amoskys/plugins/warehouse"
)

// childMissingLib runs in a child process (one library load per process): Open with no
// library anywhere must fail with ErrLibraryMissing and say how to get it.
func childMissingLib() {
	_, err := warehouse.Open(context.Background(), "chdb://"+os.Getenv("AMOSKYS_WH_CHILD_DIR"))
	if err == nil {
		fmt.Println("FOUND") // a library at a standard place: nothing to check here
		os.Exit(0)
	}
	fmt.Println(err)
	os.Exit(3)
}

func TestMissingLibraryError(t *testing.T) {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "AMOSKYS_WH_CHILD=missing", "AMOSKYS_WH_CHILD_DIR="+t.TempDir(),
		warehouse.EnvLibCHDB+"=/nonexistent/libchdb.so", "HOME="+t.TempDir())
	out, err := cmd.CombinedOutput()
	if strings.Contains(string(out), "FOUND") {
		t.Skip("a libchdb is installed at a system path: a missing library cannot be observed here")
	}
	require.Error(t, err, "%s", out)
	require.Contains(t, string(out), "libchdb.so not found")
	require.Contains(t, string(out), "make libchdb")
	require.Contains(t, string(out), "/nonexistent/libchdb.so")
}
