package sigma

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Ruleset is an immutable set of compiled rules, indexed by logsource category so an event is
// only tested against the rules of its kind.
type Ruleset struct {
	Schema *Schema
	Rules  []*Rule // every loaded rule, in load order
	// Products this ruleset accepts; rules of another product load but are inactive.
	byCat map[string][]*Rule
	index map[string]*catIndex
}

// Options says which rules are active.
type Options struct {
	// Categories of events the caller will evaluate; rules of other categories load but are
	// inactive (lint reports them).
	Categories []string
	// Products accepted besides an empty product (default: linux).
	Products []string
}

// NewRuleset indexes rules.
func NewRuleset(s *Schema, rules []*Rule, o Options) *Ruleset {
	rs := &Ruleset{Schema: s, Rules: rules, byCat: map[string][]*Rule{}}
	for _, r := range rules {
		if rs.activeFor(r, o) {
			c := strings.ToLower(r.Logsource.Category)
			rs.byCat[c] = append(rs.byCat[c], r)
		}
	}
	rs.index = map[string]*catIndex{}
	for c, rules := range rs.byCat {
		rs.index[c] = buildIndex(rules)
	}
	return rs
}

func (rs *Ruleset) activeFor(r *Rule, o Options) bool {
	prods := o.Products
	if prods == nil {
		prods = []string{"linux"}
	}
	p := strings.ToLower(r.Logsource.Product)
	okProd := p == ""
	for _, x := range prods {
		okProd = okProd || p == x
	}
	if !okProd || r.Logsource.Service != "" {
		return false
	}
	c := strings.ToLower(r.Logsource.Category)
	for _, x := range o.Categories {
		if c == x {
			return true
		}
	}
	return false
}

// Active returns the rules that events of category cat are tested against.
func (rs *Ruleset) Active(cat string) []*Rule { return rs.byCat[cat] }

// ActiveCount is the number of active rules over every category.
func (rs *Ruleset) ActiveCount() int {
	n := 0
	for _, v := range rs.byCat {
		n += len(v)
	}
	return n
}

// Match calls fn, in rule order, for every active rule of category cat that rec matches.
// A prefilter skips the rules whose necessary image basenames the record does not have.
func (rs *Ruleset) Match(cat string, rec *Record, fn func(*Rule)) {
	ix := rs.index[cat]
	if ix == nil {
		return
	}
	mark := rec.marks(len(ix.rules))
	ix.candidates(rec, mark)
	for i, r := range ix.rules {
		if mark[i] && r.cond.eval(rec) {
			fn(r)
		}
	}
}

// MatchAll is Match without the prefilter (for tests that check the prefilter changes nothing).
func (rs *Ruleset) MatchAll(cat string, rec *Record, fn func(*Rule)) {
	for _, r := range rs.byCat[cat] {
		if r.cond.eval(rec) {
			fn(r)
		}
	}
}

// LoadReport is the outcome of loading rule files.
type LoadReport struct {
	Files  int
	Rules  []*Rule
	Errors []*LoadError
	Paths  []PathReport // one per path given, in order
}

// PathReport is what one configured file or directory yielded.
type PathReport struct {
	Path  string
	Files int   // rule files read under it
	Rules int   // rules parsed from them (before duplicates across paths are dropped)
	Err   error // the path could not be read (e.g. it does not exist); nil otherwise
}

// UnreadPaths describes the paths that could not be read, one "path: error" each.
func (r *LoadReport) UnreadPaths() []string {
	var out []string
	for _, p := range r.Paths {
		if p.Err != nil {
			out = append(out, p.Err.Error())
		}
	}
	return out
}

// LoadPaths loads every .yml/.yaml file under the given files or directories, recursively,
// in lexical order, following symbolic links to directories and files (each directory is read
// once, so a link loop ends). Files under a directory named "tests" (rule fixtures) or a hidden
// one are skipped. It keeps going after bad rules and returns them in the report; a path that
// cannot be read is an error.
func LoadPaths(s *Schema, paths ...string) (*LoadReport, error) {
	return load(s, false, paths)
}

// LoadPathsSkipMissing is LoadPaths, except that a path that cannot be read is recorded in its
// PathReport and skipped instead of failing the load.
func LoadPathsSkipMissing(s *Schema, paths ...string) (*LoadReport, error) {
	return load(s, true, paths)
}

func load(s *Schema, skipMissing bool, paths []string) (*LoadReport, error) {
	rep := &LoadReport{}
	for _, root := range paths {
		pr := PathReport{Path: root}
		files, err := RuleFiles(root)
		if err != nil {
			if !skipMissing {
				return nil, err
			}
			pr.Err = err
			rep.Paths = append(rep.Paths, pr)
			continue
		}
		for _, f := range files {
			data, err := os.ReadFile(f)
			if err != nil {
				rep.Errors = append(rep.Errors, &LoadError{File: f, Msg: err.Error()})
				continue
			}
			rep.Files++
			pr.Files++
			rules, err := Parse(f, data, s)
			pr.Rules += len(rules)
			rep.Rules = append(rep.Rules, rules...)
			rep.Errors = append(rep.Errors, loadErrors(f, err)...)
		}
		rep.Paths = append(rep.Paths, pr)
	}
	var dups []*LoadError
	rep.Rules, dups = dropDuplicateIDs(rep.Rules)
	rep.Errors = append(rep.Errors, dups...)
	return rep, nil
}

// RuleFiles lists the .yml/.yaml files under root (a file or a directory, possibly a symbolic
// link), sorted, as LoadPaths reads them.
func RuleFiles(root string) ([]string, error) {
	st, err := os.Stat(root)
	if err != nil {
		return nil, fmt.Errorf("rules path: %w", err)
	}
	if !st.IsDir() {
		return []string{root}, nil
	}
	var files []string
	err = WalkDirs(root, func(dir string, entries []os.DirEntry) error {
		for _, d := range entries {
			if d.IsDir() {
				continue
			}
			p := filepath.Join(dir, d.Name())
			if ext := filepath.Ext(p); ext == ".yml" || ext == ".yaml" {
				files = append(files, p)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("walking %s: %w", root, err)
	}
	sort.Strings(files)
	return files, nil
}

// WalkDirs calls fn for root and every directory under it whose name is neither "tests" nor
// hidden, following symbolic links. fn gets the directory's path (through the links, as the
// caller named it) and its entries, with every link replaced by an entry describing its target;
// dangling links are left out. A directory reached twice (a link loop, or two links to one
// directory) is visited once.
func WalkDirs(root string, fn func(dir string, entries []os.DirEntry) error) error {
	seen := map[string]bool{}
	var walk func(dir string) error
	walk = func(dir string) error {
		real, err := filepath.EvalSymlinks(dir)
		if err != nil {
			return err
		}
		if seen[real] {
			return nil
		}
		seen[real] = true
		raw, err := os.ReadDir(dir)
		if err != nil {
			return err
		}
		entries := make([]os.DirEntry, 0, len(raw))
		for _, d := range raw {
			if d.Type()&fs.ModeSymlink != 0 {
				st, err := os.Stat(filepath.Join(dir, d.Name()))
				if err != nil {
					continue // dangling link
				}
				d = fs.FileInfoToDirEntry(namedInfo{st, d.Name()})
			}
			entries = append(entries, d)
		}
		if err := fn(dir, entries); err != nil {
			return err
		}
		for _, d := range entries {
			if d.IsDir() && d.Name() != "tests" && !strings.HasPrefix(d.Name(), ".") {
				if err := walk(filepath.Join(dir, d.Name())); err != nil {
					return err
				}
			}
		}
		return nil
	}
	return walk(root)
}

// namedInfo is a link target's FileInfo under the link's name.
type namedInfo struct {
	fs.FileInfo
	name string
}

func (n namedInfo) Name() string { return n.name }

func loadErrors(file string, err error) []*LoadError {
	if err == nil {
		return nil
	}
	var out []*LoadError
	var multi interface{ Unwrap() []error }
	if errors.As(err, &multi) {
		for _, e := range multi.Unwrap() {
			out = append(out, loadErrors(file, e)...)
		}
		return out
	}
	var le *LoadError
	if errors.As(err, &le) {
		return []*LoadError{le}
	}
	return []*LoadError{{File: file, Msg: err.Error()}}
}

// dropDuplicateIDs keeps the first rule of each id: a second copy would fire twice.
func dropDuplicateIDs(rules []*Rule) ([]*Rule, []*LoadError) {
	seen := map[string]*Rule{}
	var out []*LoadError
	kept := rules[:0:0]
	for _, r := range rules {
		if r.ID == "" {
			kept = append(kept, r)
			continue
		}
		if o, ok := seen[r.ID]; ok {
			out = append(out, &LoadError{File: r.File, RuleID: r.ID, RuleTitle: r.Title,
				Msg: fmt.Sprintf("duplicate rule id %s (also in %s)", r.ID, o.File)})
			continue
		}
		seen[r.ID] = r
		kept = append(kept, r)
	}
	return kept, out
}
