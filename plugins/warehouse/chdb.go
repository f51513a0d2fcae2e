package warehouse

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
	"unsafe"

	"github.com/ebitengine/purego"
)

// EnvLibCHDB names the env var holding the path of libchdb.so.
const EnvLibCHDB = "AMOSKYS_LIBCHDB"

// LibCHDBVersion is the libchdb release this build is tested with.
const LibCHDBVersion = "26.5.3"

// C handles of the chDB API (opaque).
type (
	cConn   struct{ _ unsafe.Pointer }
	cResult struct{ _ unsafe.Pointer }
)

// lib holds the C functions of libchdb, bound on first use.
var lib struct {
	once sync.Once
	path string
	err  error

	connect   func(argc int32, argv **byte) **cConn
	closeConn func(conn **cConn)
	queryN    func(conn *cConn, query *byte, queryLen uintptr, format *byte, formatLen uintptr) *cResult
	buffer    func(r *cResult) *byte
	length    func(r *cResult) uintptr
	errorMsg  func(r *cResult) *byte
	rowsRead  func(r *cResult) uint64
	destroy   func(r *cResult)
}

var libPathOverride struct {
	sync.Mutex
	path string
}

// SetLibraryPath sets the libchdb.so path to use (from config), before the first chdb:// Open.
func SetLibraryPath(path string) {
	libPathOverride.Lock()
	libPathOverride.path = path
	libPathOverride.Unlock()
}

// LibraryCandidates lists where libchdb.so is looked for, in order.
func LibraryCandidates(fromDSN string) []string {
	var c []string
	if fromDSN != "" {
		c = append(c, fromDSN)
	}
	libPathOverride.Lock()
	if libPathOverride.path != "" {
		c = append(c, libPathOverride.path)
	}
	libPathOverride.Unlock()
	if p := os.Getenv(EnvLibCHDB); p != "" {
		c = append(c, p)
	}
	if home, err := os.UserHomeDir(); err == nil {
		c = append(c, filepath.Join(home, ".cache", "amoskys", "libchdb", LibCHDBVersion, "libchdb.so"))
	}
	return append(c, "/usr/local/lib/libchdb.so", "/usr/lib/libchdb.so", "/usr/lib/x86_64-linux-gnu/libchdb.so")
}

// loadLibrary binds libchdb once per process. A missing library gives ErrLibraryMissing.
func loadLibrary(fromDSN string) error {
	lib.once.Do(func() {
		var tried []string
		for _, p := range LibraryCandidates(fromDSN) {
			if st, err := os.Stat(p); err != nil || st.IsDir() {
				tried = append(tried, p)
				continue
			}
			h, err := purego.Dlopen(p, purego.RTLD_NOW|purego.RTLD_GLOBAL)
			if err != nil {
				lib.err = fmt.Errorf("loading %s: %v: %w", p, err, ErrLibraryMissing)
				return
			}
			lib.path = p
			lib.err = bind(h)
			return
		}
		lib.err = fmt.Errorf("%w (looked in %s)", ErrLibraryMissing, strings.Join(tried, ", "))
	})
	return lib.err
}

func bind(h uintptr) (err error) {
	defer func() {
		// RegisterLibFunc panics on a missing symbol: an incompatible library.
		if r := recover(); r != nil {
			err = fmt.Errorf("libchdb at %s lacks a symbol (want %s): %v", lib.path, LibCHDBVersion, r)
		}
	}()
	purego.RegisterLibFunc(&lib.connect, h, "chdb_connect")
	purego.RegisterLibFunc(&lib.closeConn, h, "chdb_close_conn")
	purego.RegisterLibFunc(&lib.queryN, h, "chdb_query_n")
	purego.RegisterLibFunc(&lib.buffer, h, "chdb_result_buffer")
	purego.RegisterLibFunc(&lib.length, h, "chdb_result_length")
	purego.RegisterLibFunc(&lib.errorMsg, h, "chdb_result_error")
	purego.RegisterLibFunc(&lib.rowsRead, h, "chdb_result_rows_read")
	purego.RegisterLibFunc(&lib.destroy, h, "chdb_destroy_query_result")
	return nil
}

// LibraryPath returns the path libchdb was loaded from, or "" before the first chdb Open.
func LibraryPath() string { return lib.path }

// chdbWarehouse is the embedded engine. chDB runs one statement at a time per connection, so
// the handle keeps a small pool of connections to the one engine (DSN option conns) and each
// statement takes one for its duration.
type chdbWarehouse struct {
	cfg   Config
	pool  chan **cConn
	done  chan struct{}
	close sync.Once

	typesMu sync.Mutex
	types   map[string]map[string]string // table -> column -> type
}

func openCHDB(ctx context.Context, cfg Config) (Warehouse, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := loadLibrary(cfg.Lib); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.Path, 0o750); err != nil {
		return nil, fmt.Errorf("creating data directory: %w", err)
	}
	if err := checkUnlocked(cfg.Path); err != nil {
		return nil, err
	}
	w := &chdbWarehouse{cfg: cfg, pool: make(chan **cConn, cfg.Conns), done: make(chan struct{}),
		types: map[string]map[string]string{}}
	for i := 0; i < cfg.Conns; i++ {
		conn, err := connectCHDB(cfg.Path)
		if err != nil {
			_ = w.Close()
			return nil, err
		}
		w.pool <- conn
	}
	return w, nil
}

func connectCHDB(path string) (**cConn, error) {
	args := []string{"clickhouse", "--path=" + path}
	argv := make([]*byte, len(args))
	for i, a := range args {
		b := append([]byte(a), 0)
		argv[i] = &b[0]
	}
	conn := lib.connect(int32(len(argv)), &argv[0])
	if conn == nil || *conn == nil {
		// The engine printed its reason on stderr; the usual one is the lock.
		if err := checkUnlocked(path); err != nil {
			return nil, err
		}
		return nil, fmt.Errorf("chdb_connect failed for %s (see stderr for the engine's reason)", path)
	}
	return conn, nil
}

// checkUnlocked tries the engine's own lock (flock on PATH/status) so a second process gets
// ErrLocked instead of the engine's message on stderr.
func checkUnlocked(path string) error {
	f, err := os.OpenFile(filepath.Join(path, "status"), os.O_RDWR|os.O_CREATE, 0o640)
	if err != nil {
		return fmt.Errorf("opening %s/status: %w", path, err)
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return fmt.Errorf("%w: %s (is `amoskys run` running? use its /api/sql)", ErrLocked, path)
		}
		return fmt.Errorf("locking %s/status: %w", path, err)
	}
	return syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
}

func (w *chdbWarehouse) Backend() string { return SchemeCHDB }

// run executes one statement and returns its output copied into Go memory.
func (w *chdbWarehouse) run(ctx context.Context, query, format string) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if strings.TrimSpace(query) == "" {
		return nil, errors.New("empty query")
	}
	if format == "" {
		format = "TabSeparated"
	}
	var conn **cConn
	select {
	case <-w.done:
		return nil, ErrClosed
	case <-ctx.Done():
		return nil, ctx.Err()
	case conn = <-w.pool:
	}
	defer func() { w.pool <- conn }()
	r := lib.queryN(*conn, unsafe.StringData(query), uintptr(len(query)), unsafe.StringData(format), uintptr(len(format)))
	if r == nil {
		return nil, nil
	}
	defer lib.destroy(r)
	if e := lib.errorMsg(r); e != nil {
		return nil, &QueryError{Msg: strings.TrimSpace(goString(e))}
	}
	n := lib.length(r)
	if n == 0 {
		return nil, nil
	}
	out := make([]byte, n)
	copy(out, unsafe.Slice(lib.buffer(r), n))
	return out, nil
}

// QueryError is an error reported by the engine (syntax, unknown table, type mismatch, ...).
type QueryError struct{ Msg string }

func (e *QueryError) Error() string { return e.Msg }

func goString(p *byte) string {
	if p == nil {
		return ""
	}
	n := 0
	for *(*byte)(unsafe.Add(unsafe.Pointer(p), n)) != 0 {
		n++
	}
	return string(unsafe.Slice(p, n))
}

func (w *chdbWarehouse) Query(ctx context.Context, query, format string) ([]byte, error) {
	return w.run(ctx, query, format)
}

func (w *chdbWarehouse) Exec(ctx context.Context, query string) error {
	_, err := w.run(ctx, query, "TabSeparated")
	if err == nil && isDDL(query) {
		w.typesMu.Lock()
		clear(w.types)
		w.typesMu.Unlock()
	}
	return err
}

func (w *chdbWarehouse) Close() error {
	w.close.Do(func() {
		close(w.done)
		// Take back every connection (waiting for statements in flight), then close them.
		for range cap(w.pool) {
			select {
			case conn := <-w.pool:
				lib.closeConn(conn)
			case <-time.After(time.Minute):
				return // a statement that never ends: leave the engine to process exit
			}
		}
	})
	return nil
}

func isDDL(q string) bool {
	f := strings.ToUpper(firstWord(q))
	return f == "CREATE" || f == "ALTER" || f == "DROP" || f == "RENAME" || f == "TRUNCATE"
}

func firstWord(q string) string {
	q = strings.TrimSpace(q)
	for i, r := range q {
		if r == ' ' || r == '\n' || r == '\t' || r == '(' || r == '\r' {
			return q[:i]
		}
	}
	return q
}

// columnTypes returns the types of table's columns, cached until the next DDL.
func (w *chdbWarehouse) columnTypes(ctx context.Context, table string) (map[string]string, error) {
	w.typesMu.Lock()
	t, ok := w.types[table]
	w.typesMu.Unlock()
	if ok {
		return t, nil
	}
	if !validIdent(table) {
		return nil, fmt.Errorf("table name %q: want letters, digits and _", table)
	}
	out, err := w.run(ctx, "SELECT name, type FROM system.columns WHERE database = currentDatabase() AND table = '"+table+"'", "TabSeparatedRaw")
	if err != nil {
		return nil, err
	}
	t = map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if name, typ, ok := strings.Cut(line, "\t"); ok {
			t[name] = typ
		}
	}
	if len(t) == 0 {
		return nil, fmt.Errorf("table %q does not exist (run `amoskys migrate`)", table)
	}
	w.typesMu.Lock()
	w.types[table] = t
	w.typesMu.Unlock()
	return t, nil
}
