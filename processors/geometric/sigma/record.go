package sigma

import (
	"strings"
	"sync"
)

// FieldID is a field's index in a Schema. Absent (-1) names a field the schema does not know:
// it never has a value.
type FieldID int

// Absent is the FieldID of a field the schema does not map.
const Absent FieldID = -1

// Schema maps Sigma field names (case-insensitively) to FieldIDs, and names the fields a
// keyword search looks at.
type Schema struct {
	names    []string
	byName   map[string]FieldID
	keywords []FieldID
}

// NewSchema makes a schema of the given field names; aliases map extra names to a field of
// names (alias -> name). Keyword searches look at keywordFields.
func NewSchema(names []string, aliases map[string]string, keywordFields ...string) *Schema {
	s := &Schema{names: append([]string(nil), names...), byName: map[string]FieldID{}}
	for i, n := range names {
		s.byName[strings.ToLower(n)] = FieldID(i)
	}
	for a, n := range aliases {
		if id, ok := s.byName[strings.ToLower(n)]; ok {
			s.byName[strings.ToLower(a)] = id
		}
	}
	for _, k := range keywordFields {
		if id, ok := s.byName[strings.ToLower(k)]; ok {
			s.keywords = append(s.keywords, id)
		}
	}
	return s
}

// Field returns the ID of a field name, or Absent.
func (s *Schema) Field(name string) FieldID {
	if id, ok := s.byName[strings.ToLower(name)]; ok {
		return id
	}
	return Absent
}

// Name returns the canonical name of a field.
func (s *Schema) Name(id FieldID) string {
	if id < 0 || int(id) >= len(s.names) {
		return ""
	}
	return s.names[id]
}

// Len is the number of fields.
func (s *Schema) Len() int { return len(s.names) }

// Source supplies the values of one event's fields. Values appends the values of field id to
// dst and returns it; no values means the field is absent. A multi-valued field (every ancestor
// image) matches when any of its values matches.
type Source interface {
	Values(id FieldID, dst []string) []string
}

// Record is the view of one event that rules evaluate. It asks its Source for a field only
// when a rule reads it, and lowercases each value once. A Record is not safe for concurrent use;
// take one per goroutine (NewRecord or a RecordPool) and Reset it per event.
type Record struct {
	src   Source
	gen   uint32
	slots []slot
	mark  []bool
}

func (r *Record) marks(n int) []bool {
	if cap(r.mark) < n {
		r.mark = make([]bool, n)
	}
	return r.mark[:n]
}

type slot struct {
	gen, lowGen uint32
	raw, low    []string
}

// NewRecord makes a record for schema s.
func NewRecord(s *Schema) *Record {
	return &Record{slots: make([]slot, s.Len()), gen: 1}
}

// Reset points the record at a new event.
func (r *Record) Reset(src Source) {
	r.src = src
	r.gen++
	if r.gen == 0 { // wrapped: clear every slot so no stale generation matches
		for i := range r.slots {
			r.slots[i].gen, r.slots[i].lowGen = 0, 0
		}
		r.gen = 1
	}
}

// Raw returns the values of field id as the source gave them.
func (r *Record) Raw(id FieldID) []string {
	if id < 0 || int(id) >= len(r.slots) || r.src == nil {
		return nil
	}
	s := &r.slots[id]
	if s.gen != r.gen {
		s.raw = r.src.Values(id, s.raw[:0])
		s.gen = r.gen
	}
	return s.raw
}

// Lower returns the values of field id lowercased.
func (r *Record) Lower(id FieldID) []string {
	raw := r.Raw(id)
	if raw == nil {
		return nil
	}
	s := &r.slots[id]
	if s.lowGen != r.gen {
		s.low = s.low[:0]
		for _, v := range raw {
			s.low = append(s.low, strings.ToLower(v))
		}
		s.lowGen = r.gen
	}
	return s.low
}

// RecordPool hands out records of one schema to concurrent callers.
type RecordPool struct{ p sync.Pool }

// NewRecordPool makes a pool for schema s.
func NewRecordPool(s *Schema) *RecordPool {
	return &RecordPool{p: sync.Pool{New: func() any { return NewRecord(s) }}}
}

// Get takes a record from the pool.
func (p *RecordPool) Get() *Record { return p.p.Get().(*Record) }

// Put returns a record to the pool.
func (p *RecordPool) Put(r *Record) { r.src = nil; p.p.Put(r) }

// MapSource is a Source over a map of field name to values, for tests and fixtures.
type MapSource struct {
	Schema *Schema
	Fields map[FieldID][]string
}

// NewMapSource builds a MapSource from field names; unknown names are ignored.
func NewMapSource(s *Schema, fields map[string][]string) *MapSource {
	m := &MapSource{Schema: s, Fields: map[FieldID][]string{}}
	for k, v := range fields {
		if id := s.Field(k); id != Absent {
			m.Fields[id] = append(m.Fields[id], v...)
		}
	}
	return m
}

// Values implements Source.
func (m *MapSource) Values(id FieldID, dst []string) []string {
	return append(dst, m.Fields[id]...)
}
