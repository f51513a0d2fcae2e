package alertstore

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/amoskys/amoskys/schemas"
)

// Quote renders s as a ClickHouse single-quoted string literal. Backslash and quote are escaped,
// and every control byte, DEL and invalid UTF-8 byte is written as \xHH, so the literal always ends
// where this function says it does whatever s holds.
func Quote(s string) string {
	var b strings.Builder
	b.Grow(len(s) + 2)
	b.WriteByte('\'')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '\'' || c == '\\':
				b.WriteByte('\\')
				b.WriteByte(c)
			case c < 0x20 || c == 0x7f:
				fmt.Fprintf(&b, "\\x%02X", c)
			default:
				b.WriteByte(c)
			}
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n == 1 {
			fmt.Fprintf(&b, "\\x%02X", c)
		} else {
			b.WriteString(s[i : i+n])
		}
		i += n
	}
	b.WriteByte('\'')
	return b.String()
}

// formatTime renders t as a DateTime64(6) literal expression in UTC.
func formatTime(t time.Time) string {
	return "toDateTime64(" + Quote(t.UTC().Format("2006-01-02 15:04:05.000000")) + ", 6, 'UTC')"
}

// Cursor is a keyset position: the (time, id) of the last alert of a page, newest first.
type Cursor struct {
	Time time.Time
	ID   string
}

var idRe = regexp.MustCompile(`^[A-Za-z0-9_.:-]{1,128}$`)

// ValidID reports whether s can be an alert or event id.
func ValidID(s string) bool { return idRe.MatchString(s) }

// ErrBadCursor says a cursor string is not one this package made.
var ErrBadCursor = errors.New("cursor: not a cursor returned by this API")

// String encodes the cursor as "<unix microseconds>_<id>".
func (c Cursor) String() string {
	return strconv.FormatInt(c.Time.UnixMicro(), 10) + "_" + c.ID
}

// ParseCursor decodes a cursor made by Cursor.String.
func ParseCursor(s string) (Cursor, error) {
	ts, id, ok := strings.Cut(s, "_")
	if !ok || !ValidID(id) {
		return Cursor{}, ErrBadCursor
	}
	us, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || us < 0 || us > 1<<53 {
		return Cursor{}, ErrBadCursor
	}
	return Cursor{Time: time.UnixMicro(us).UTC(), ID: id}, nil
}

// Filter selects alerts. Every field is a validated, typed value.
type Filter struct {
	Limit      int
	Severities []schemas.Severity // any of; empty = all
	Statuses   []schemas.AlertStatus
	Host       string // exact
	Process    string // substring of the entity (process name or exe)
	Since      time.Time
	Until      time.Time // exclusive
	Cursor     *Cursor   // strictly older than this position
}

// Matches reports whether a passes the filter (cursor and limit aside).
func (f *Filter) Matches(a *schemas.AlertEvent) bool {
	if len(f.Severities) > 0 && !containsSev(f.Severities, a.Severity) {
		return false
	}
	if len(f.Statuses) > 0 && !containsStatus(f.Statuses, a.Status) {
		return false
	}
	if f.Host != "" && a.Host != f.Host {
		return false
	}
	if f.Process != "" && !strings.Contains(a.Entity, f.Process) {
		return false
	}
	if !f.Since.IsZero() && a.Time.Before(f.Since) {
		return false
	}
	if !f.Until.IsZero() && !a.Time.Before(f.Until) {
		return false
	}
	return true
}

func containsSev(ss []schemas.Severity, s schemas.Severity) bool {
	for _, v := range ss {
		if v == s {
			return true
		}
	}
	return false
}

func containsStatus(ss []schemas.AlertStatus, s schemas.AlertStatus) bool {
	for _, v := range ss {
		if v == s {
			return true
		}
	}
	return false
}

// Validate checks the typed values once more before they reach SQL.
func (f *Filter) Validate() error {
	if f.Limit < 1 || f.Limit > MaxLimit {
		return fmt.Errorf("limit: %d not within 1..%d", f.Limit, MaxLimit)
	}
	for _, s := range f.Severities {
		if s.Rank() == 0 {
			return fmt.Errorf("severity: %q is not one of LOW, MEDIUM, HIGH, CRITICAL", s)
		}
	}
	for _, s := range f.Statuses {
		if !ValidStatus(s) {
			return fmt.Errorf("status: %q is not one of open, acknowledged, resolved", s)
		}
	}
	if f.Cursor != nil && !ValidID(f.Cursor.ID) {
		return ErrBadCursor
	}
	return nil
}

// MaxLimit is the largest page.
const MaxLimit = 1000

// ValidStatus reports whether s is a lifecycle status.
func ValidStatus(s schemas.AlertStatus) bool {
	return s == schemas.StatusOpen || s == schemas.StatusAcknowledged || s == schemas.StatusResolved
}

// where renders the filter as a SQL condition over the alerts table (current versions).
func (f *Filter) where() string {
	conds := []string{"run_id = ''"}
	if len(f.Severities) > 0 {
		q := make([]string, len(f.Severities))
		for i, s := range f.Severities {
			q[i] = Quote(string(s))
		}
		conds = append(conds, "severity IN ("+strings.Join(q, ", ")+")")
	}
	if len(f.Statuses) > 0 {
		q := make([]string, len(f.Statuses))
		for i, s := range f.Statuses {
			q[i] = Quote(string(s))
		}
		conds = append(conds, "status IN ("+strings.Join(q, ", ")+")")
	}
	if f.Host != "" {
		conds = append(conds, "host = "+Quote(f.Host))
	}
	if f.Process != "" {
		conds = append(conds, "position(entity, "+Quote(f.Process)+") > 0")
	}
	if !f.Since.IsZero() {
		conds = append(conds, "time >= "+formatTime(f.Since))
	}
	if !f.Until.IsZero() {
		conds = append(conds, "time < "+formatTime(f.Until))
	}
	if f.Cursor != nil {
		conds = append(conds, "(time, id) < ("+formatTime(f.Cursor.Time)+", "+Quote(f.Cursor.ID)+")")
	}
	return strings.Join(conds, " AND ")
}

// alertColumns is the select list that alertRow decodes.
const alertColumns = `id, version, toUnixTimestamp64Micro(time) AS time_us, host, entity_kind, entity, entity_key,
title, summary, severity, score, layers, tags, evidence_ids, count,
toUnixTimestamp64Micro(first_seen) AS first_us, toUnixTimestamp64Micro(last_seen) AS last_us,
status, status_by, if(status_at IS NULL, 0, toUnixTimestamp64Micro(assumeNotNull(status_at))) AS status_us, history, cause, run_id`

// recentSQL is the warehouse query for a page of recent alerts.
func recentSQL(f *Filter) string {
	return "SELECT " + alertColumns + " FROM alerts FINAL WHERE " + f.where() +
		" ORDER BY time DESC, id DESC LIMIT " + strconv.Itoa(f.Limit) +
		" SETTINGS output_format_json_quote_64bit_integers = 0"
}

// getSQL reads the current version of one alert.
func getSQL(id string) string {
	return "SELECT " + alertColumns + " FROM alerts WHERE id = " + Quote(id) +
		" ORDER BY version DESC LIMIT 1 SETTINGS output_format_json_quote_64bit_integers = 0"
}
