package retention

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"time"
)

// Snapshot is what a decision needs to know about one complete snapshot.
type Snapshot struct {
	ID       string    `json:"id"`
	Database string    `json:"database"`
	Time     time.Time `json:"time"` // the manifest's start time: the data's point in time
	Bytes    int64     `json:"bytes"`
}

// Protections are the always-keep facts read from the store.
type Protections struct {
	// Proven holds the ids of snapshots a standby drill restored and proved.
	Proven map[string]bool
	// Reasons are further always-keep reasons by snapshot id ("served by standby
	// bookmarks", "pinned: ticket 4711").
	Reasons map[string][]string
}

// Decision is the verdict on one snapshot.
type Decision struct {
	Snapshot
	Keep bool `json:"keep"`
	// Reasons lists every reason the snapshot is kept (empty when removed).
	Reasons []string `json:"reasons"`
}

// Plan is the outcome of Decide.
type Plan struct {
	// Decisions: one per snapshot, by database name, then oldest first.
	Decisions []Decision `json:"decisions"`
	// Warnings say why a database keeps more than the policy asks for.
	Warnings []string `json:"warnings,omitempty"`
}

// Reasons given by the protections (tests and callers compare against them).
const (
	ReasonNewest       = "newest snapshot"
	ReasonLastProven   = "last proven by the drill"
	ReasonNewerProven  = "newer than the last proven"
	ReasonNeverProven  = "no snapshot of this database proven by a drill yet"
	ReasonNewerThanNow = "started after the evaluation time"
)

// Decide applies p and the protections to snaps (any order, any databases) as of now,
// with calendar buckets in loc (nil: UTC).
func Decide(snaps []Snapshot, prot Protections, p Policy, now time.Time, loc *time.Location) Plan {
	if loc == nil {
		loc = time.UTC
	}
	byDB := map[string][]Snapshot{}
	for _, s := range snaps {
		byDB[s.Database] = append(byDB[s.Database], s)
	}
	dbs := make([]string, 0, len(byDB))
	for db := range byDB {
		dbs = append(dbs, db)
	}
	slices.Sort(dbs)
	var plan Plan
	for _, db := range dbs {
		ds, warn := decideDatabase(byDB[db], prot, p, now, loc)
		plan.Decisions = append(plan.Decisions, ds...)
		if warn != "" {
			plan.Warnings = append(plan.Warnings, warn)
		}
	}
	return plan
}

// newestFirst orders by start time, then id, newest first (never by id alone: ids are
// names, and a name can lie about its time).
func newestFirst(a, b Snapshot) int {
	if c := b.Time.Compare(a.Time); c != 0 {
		return c
	}
	return cmp.Compare(b.ID, a.ID)
}

// decideDatabase decides the snapshots of one database.
func decideDatabase(snaps []Snapshot, prot Protections, p Policy, now time.Time, loc *time.Location) ([]Decision, string) {
	slices.SortFunc(snaps, newestFirst)
	ds := make([]Decision, len(snaps))
	for i, s := range snaps {
		ds[i].Snapshot = s
	}
	keep := func(i int, reason string) {
		ds[i].Keep = true
		ds[i].Reasons = append(ds[i].Reasons, reason)
	}
	// Only snapshots started by now take part (--now in the past).
	var eligible []int
	for i, s := range snaps {
		if s.Time.After(now) {
			keep(i, ReasonNewerThanNow)
			continue
		}
		eligible = append(eligible, i)
	}
	warn := ""
	if len(eligible) > 0 {
		warn = protect(ds, eligible, prot, p.AllowUnproven, keep)
	}
	applyPolicy(ds, eligible, p, now, loc, keep)
	for i := range ds {
		for _, r := range prot.Reasons[ds[i].ID] {
			keep(i, r)
		}
		if ds[i].Reasons == nil {
			ds[i].Reasons = []string{}
		}
	}
	slices.Reverse(ds)
	return ds, warn
}

// protect applies rules 1–3: the newest snapshot, the newest proven one, and everything
// newer than the newest proven one (everything, when none is proven, unless allowUnproven).
func protect(ds []Decision, eligible []int, prot Protections, allowUnproven bool, keep func(int, string)) string {
	keep(eligible[0], ReasonNewest)
	for n, i := range eligible {
		if prot.Proven[ds[i].ID] {
			keep(i, ReasonLastProven)
			for _, j := range eligible[:n] {
				keep(j, ReasonNewerProven)
			}
			return ""
		}
	}
	if allowUnproven {
		return fmt.Sprintf("database %s: no snapshot was proven by a standby drill; retention.allow_unproven applies "+
			"the policy anyway (the newest snapshot and pins are still kept)", ds[0].Database)
	}
	for _, i := range eligible {
		keep(i, ReasonNeverProven)
	}
	return fmt.Sprintf("database %s: no snapshot was proven by a standby drill, so every snapshot is kept "+
		"(nothing newer than the newest proven one is ever removed); run `linkbackup standby` (or nightly with standby.server)",
		ds[0].Database)
}

// applyPolicy adds the policy's reasons: last N, calendar buckets, within.
func applyPolicy(ds []Decision, eligible []int, p Policy, now time.Time, loc *time.Location, keep func(int, string)) {
	for n, i := range eligible {
		if n >= p.Last {
			break
		}
		keep(i, "last "+strconv.Itoa(n+1)+" of "+strconv.Itoa(p.Last))
	}
	buckets := []struct {
		name string
		n    int
		key  func(time.Time) string
	}{
		{"daily", p.Daily, func(t time.Time) string { return t.Format("2006-01-02") }},
		{"weekly", p.Weekly, func(t time.Time) string {
			y, w := t.ISOWeek()
			return fmt.Sprintf("%04d-W%02d", y, w)
		}},
		{"monthly", p.Monthly, func(t time.Time) string { return t.Format("2006-01") }},
		{"yearly", p.Yearly, func(t time.Time) string { return t.Format("2006") }},
	}
	for _, b := range buckets {
		left, last := b.n, ""
		for _, i := range eligible {
			if left <= 0 {
				break
			}
			if k := b.key(ds[i].Time.In(loc)); k != last {
				keep(i, b.name+" "+k)
				left, last = left-1, k
			}
		}
	}
	if !p.Within.IsZero() {
		from := p.Within.Before(now.In(loc))
		for _, i := range eligible {
			if !ds[i].Time.Before(from) {
				keep(i, "within "+p.Within.String())
			}
		}
	}
}
