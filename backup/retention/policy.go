// Package retention decides which snapshots a `linkbackup forget` keeps. It is pure: the
// input is the snapshots' facts (id, database, start time, bytes), the protections read
// from the store (proven by the standby drill, served by the standby, pinned), a policy,
// the evaluation time and a time zone; the output is one decision per snapshot with every
// reason it is kept. backup.Forget does the reading and the deleting.
//
// The policy follows restic's forget: keep the last N snapshots, and the newest snapshot
// of each of the last N days, ISO weeks, months and years that have snapshots (calendar
// buckets in the policy's time zone), and every snapshot within a duration. Unlike
// restic, keep_within counts back from the evaluation time (now, or --now), not from the
// newest snapshot: the protections below already keep the newest copies when backups
// stop, and counting from now is what lets `forget --now 2027-03-01` answer "what will be
// left then". A snapshot kept for several reasons lists all of them.
//
// Whatever the policy says, these are always kept (Protections): the newest snapshot of
// each database; the newest snapshot proven by a standby drill and the ones the standby
// serves or keeps as previous; every snapshot newer than the newest proven one (a run of
// failed drills never removes what the next good night needs); pinned snapshots.
package retention

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Policy is what to keep of each database's snapshots. Zero counts are off.
type Policy struct {
	Last    int `json:"keep_last,omitempty"`
	Daily   int `json:"keep_daily,omitempty"`
	Weekly  int `json:"keep_weekly,omitempty"`
	Monthly int `json:"keep_monthly,omitempty"`
	Yearly  int `json:"keep_yearly,omitempty"`
	// Within keeps every snapshot started within this span before now.
	Within Duration `json:"keep_within,omitzero"`
	// AllowUnproven applies the policy to a database none of whose snapshots was ever
	// proven by a standby drill (a site without a standby for it). By default such a
	// database keeps every snapshot: nothing newer than the newest proven one is removed.
	AllowUnproven bool `json:"allow_unproven,omitempty"`
}

// Sentinel errors.
var (
	// ErrEmptyPolicy: a policy that keeps nothing by itself. Forget refuses it: the
	// protections alone would remove every unprotected snapshot, which is never what an
	// operator who forgot to configure retention wants.
	ErrEmptyPolicy = errors.New("empty retention policy")
	// ErrBadPolicy: a negative count or a malformed duration.
	ErrBadPolicy = errors.New("bad retention policy")
)

// Validate reports negative counts and an empty policy.
func (p Policy) Validate() error {
	var errs []error
	for _, f := range []struct {
		name string
		n    int
	}{{"keep_last", p.Last}, {"keep_daily", p.Daily}, {"keep_weekly", p.Weekly},
		{"keep_monthly", p.Monthly}, {"keep_yearly", p.Yearly}} {
		if f.n < 0 {
			errs = append(errs, fmt.Errorf("%w: retention.%s = %d: want >= 0 (0 = off)", ErrBadPolicy, f.name, f.n))
		}
	}
	if p.Within.negative() {
		errs = append(errs, fmt.Errorf("%w: retention.keep_within = %s: want >= 0", ErrBadPolicy, p.Within))
	}
	if len(errs) == 0 && p.Empty() {
		errs = append(errs, fmt.Errorf("%w: set at least one of retention.keep_last, keep_daily, keep_weekly, "+
			"keep_monthly, keep_yearly, keep_within (e.g. keep_daily: 7, keep_weekly: 5, keep_monthly: 12)", ErrEmptyPolicy))
	}
	return errors.Join(errs...)
}

// Empty reports whether the policy keeps nothing by itself.
func (p Policy) Empty() bool {
	return p.Last <= 0 && p.Daily <= 0 && p.Weekly <= 0 && p.Monthly <= 0 && p.Yearly <= 0 && p.Within.IsZero()
}

// String is the policy as flags would spell it: "keep_last 3, keep_daily 7, keep_within 3d".
func (p Policy) String() string {
	var parts []string
	add := func(name string, n int) {
		if n > 0 {
			parts = append(parts, name+" "+strconv.Itoa(n))
		}
	}
	add("keep_last", p.Last)
	add("keep_daily", p.Daily)
	add("keep_weekly", p.Weekly)
	add("keep_monthly", p.Monthly)
	add("keep_yearly", p.Yearly)
	if !p.Within.IsZero() {
		parts = append(parts, "keep_within "+p.Within.String())
	}
	if len(parts) == 0 {
		return "(empty)"
	}
	if p.AllowUnproven {
		parts = append(parts, "allow_unproven")
	}
	return strings.Join(parts, ", ")
}

// Duration is a calendar span as restic writes it: "1y6m", "3d", "2w", "36h", "1y2m3d4h"
// (y years, m months, w weeks, d days, h hours). Days, months and years are calendar
// units in the policy's time zone: "1d" before 12:00 on the day after a DST change is
// 12:00 the day before, 23 or 25 hours earlier.
type Duration struct {
	Years, Months, Days, Hours int
}

// maxDurationCount bounds each number of a Duration (a million hours is 114 years), so
// sums cannot overflow.
const maxDurationCount = 1_000_000

// ParseDuration parses a Duration; "" and "0" are the zero Duration.
func ParseDuration(s string) (Duration, error) {
	var d Duration
	s = strings.TrimSpace(s)
	if s == "" || s == "0" {
		return d, nil
	}
	rest := s
	for rest != "" {
		i := 0
		for i < len(rest) && rest[i] >= '0' && rest[i] <= '9' {
			i++
		}
		if i == 0 || i == len(rest) {
			return Duration{}, fmt.Errorf("%w: duration %q: want numbers with units y, m, w, d, h (e.g. 3d, 1y6m, 36h)", ErrBadPolicy, s)
		}
		n, err := strconv.Atoi(rest[:i])
		if err != nil || n > maxDurationCount {
			return Duration{}, fmt.Errorf("%w: duration %q: %s is not a count up to %d", ErrBadPolicy, s, rest[:i], maxDurationCount)
		}
		switch rest[i] {
		case 'y':
			d.Years += n
		case 'm':
			d.Months += n
		case 'w':
			d.Days += 7 * n
		case 'd':
			d.Days += n
		case 'h':
			d.Hours += n
		default:
			return Duration{}, fmt.Errorf("%w: duration %q: unknown unit %q (want y, m, w, d, h)", ErrBadPolicy, s, rest[i])
		}
		if d.Years > maxDurationCount || d.Months > maxDurationCount || d.Days > maxDurationCount || d.Hours > maxDurationCount {
			return Duration{}, fmt.Errorf("%w: duration %q: more than %d of one unit", ErrBadPolicy, s, maxDurationCount)
		}
		rest = rest[i+1:]
	}
	return d, nil
}

// IsZero reports whether d spans nothing.
func (d Duration) IsZero() bool { return d == Duration{} }

func (d Duration) negative() bool { return d.Years < 0 || d.Months < 0 || d.Days < 0 || d.Hours < 0 }

// Before returns the start of the span that ends at t, in t's location.
func (d Duration) Before(t time.Time) time.Time {
	return t.AddDate(-d.Years, -d.Months, -d.Days).Add(-time.Duration(d.Hours) * time.Hour)
}

// String writes d back in its parsed form ("1y2m3d4h"; "0" when zero).
func (d Duration) String() string {
	if d.IsZero() {
		return "0"
	}
	var b strings.Builder
	for _, u := range []struct {
		n    int
		unit string
	}{{d.Years, "y"}, {d.Months, "m"}, {d.Days, "d"}, {d.Hours, "h"}} {
		if u.n != 0 {
			b.WriteString(strconv.Itoa(u.n) + u.unit)
		}
	}
	return b.String()
}

// MarshalText writes d as String does (JSON output of the policy).
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// UnmarshalText parses what MarshalText wrote.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := ParseDuration(string(b))
	if err != nil {
		return err
	}
	*d = v
	return nil
}
