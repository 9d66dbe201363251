package retention

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
	_ "time/tzdata" // the DST cases do not depend on the host's zone files
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/retention/<case>/")

const goldenDir = "../../testdata/retention"

// evalNow is when every golden case is evaluated.
var evalNow = time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC)

// yearOfSnapshots is the store every golden case decides over:
//   - bookmarks: nightly at 22:30 UTC from 2025-12-01 to 2026-11-30 (in Berlin that is
//     23:30 in winter and 00:30 the next day in summer, so the DST changes on 2026-03-29
//     and 2026-10-25 leave a Berlin day without a snapshot and one with two), with gaps
//     2026-02-10..14 and 2026-08-01..03 (backups failed), and a second snapshot on
//     2026-05-05 at 09:10 UTC (a manual one);
//   - shop: every third day at 03:00 UTC from 2026-06-01: a second database in the store.
//
// The standby drill proved every bookmarks night except the last four; it serves the
// newest proven one and keeps the one before as previous. shop's newest but one is proven.
// 2026-03-15 is pinned.
func yearOfSnapshots() ([]Snapshot, Protections) {
	var snaps []Snapshot
	prot := Protections{Proven: map[string]bool{}, Reasons: map[string][]string{}}
	gap := func(t time.Time) bool {
		d := t.Format("2006-01-02")
		return (d >= "2026-02-10" && d <= "2026-02-14") || (d >= "2026-08-01" && d <= "2026-08-03")
	}
	add := func(db string, t time.Time, bytes int64) Snapshot {
		s := Snapshot{ID: t.UTC().Format("20060102T150405.000Z"), Database: db, Time: t, Bytes: bytes}
		snaps = append(snaps, s)
		return s
	}
	var nights []Snapshot
	for t, i := time.Date(2025, 12, 1, 22, 30, 0, 0, time.UTC), int64(0); t.Before(evalNow); t, i = t.AddDate(0, 0, 1), i+1 {
		if gap(t) {
			continue
		}
		nights = append(nights, add("bookmarks", t, 40<<20+i<<16))
	}
	add("bookmarks", time.Date(2026, 5, 5, 9, 10, 0, 0, time.UTC), 41<<20)
	for _, s := range nights[:len(nights)-4] {
		prot.Proven[s.ID] = true
	}
	served, previous := nights[len(nights)-5], nights[len(nights)-6]
	prot.Reasons[served.ID] = []string{"served by standby bookmarks"}
	prot.Reasons[previous.ID] = []string{"kept as previous by standby bookmarks"}
	prot.Reasons["20260315T223000.000Z"] = []string{"pinned: ticket 4711"}
	var shop []Snapshot
	for t := time.Date(2026, 6, 1, 3, 0, 0, 0, time.UTC); t.Before(evalNow); t = t.AddDate(0, 0, 3) {
		shop = append(shop, add("shop", t, 5<<20))
	}
	prot.Proven[shop[len(shop)-2].ID] = true
	return snaps, prot
}

func TestDecideGolden(t *testing.T) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatalf("time zone database: %v", err)
	}
	within := func(s string) Duration {
		d, err := ParseDuration(s)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	cases := []struct {
		name string
		pol  Policy
		loc  *time.Location
	}{
		{"keep-last-3", Policy{Last: 3}, time.UTC},
		{"daily-7-weekly-5-monthly-12", Policy{Daily: 7, Weekly: 5, Monthly: 12}, time.UTC},
		{"daily-14-berlin", Policy{Daily: 14}, berlin},
		{"daily-400-berlin-dst", Policy{Daily: 400}, berlin},
		{"weekly-8-yearly-3", Policy{Weekly: 8, Yearly: 3}, time.UTC},
		{"monthly-6-berlin", Policy{Monthly: 6}, berlin},
		{"within-30d", Policy{Within: within("30d")}, time.UTC},
		{"within-1m2w-last-2", Policy{Within: within("1m2w"), Last: 2}, berlin},
	}
	snaps, prot := yearOfSnapshots()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if err := c.pol.Validate(); err != nil {
				t.Fatal(err)
			}
			plan := Decide(slices.Clone(snaps), prot, c.pol, evalNow, c.loc)
			if len(plan.Decisions) != len(snaps) {
				t.Fatalf("%d decisions for %d snapshots", len(plan.Decisions), len(snaps))
			}
			var b bytes.Buffer
			if err := WriteTable(&b, plan, c.pol, c.loc); err != nil {
				t.Fatal(err)
			}
			golden(t, filepath.Join(goldenDir, c.name, "decisions.txt"), b.Bytes())
		})
	}
}

func golden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./backup/retention -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s differs (go test ./backup/retention -update rewrites it; review the diff):\n%s", path, got)
	}
}

// nightly returns n nightly snapshots of bookmarks at 02:15 UTC ending the night of end.
func nightly(n int, end time.Time) []Snapshot {
	out := make([]Snapshot, n)
	for i := range out {
		t := end.AddDate(0, 0, i-n+1)
		out[i] = Snapshot{ID: t.Format("20060102T150405.000Z"), Database: "bookmarks", Time: t, Bytes: 1 << 20}
	}
	return out
}

func decisionOf(t *testing.T, p Plan, id string) Decision {
	t.Helper()
	for _, d := range p.Decisions {
		if d.ID == id {
			return d
		}
	}
	t.Fatalf("no decision for %s", id)
	return Decision{}
}

// pgbackweb #121 with drills instead of backups: ten nights of failed drills under
// keep_within 3d must keep the last proven snapshot and every night after it.
func TestTenFailedDrillsKeepLastProven(t *testing.T) {
	end := time.Date(2026, 11, 30, 2, 15, 0, 0, time.UTC)
	snaps := nightly(30, end)
	proven := snaps[len(snaps)-11] // the last good drill, eleven nights ago
	prot := Protections{Proven: map[string]bool{proven.ID: true, snaps[0].ID: true}}
	plan := Decide(snaps, prot, Policy{Within: Duration{Days: 3}}, end.Add(6*time.Hour), time.UTC)
	for i, s := range snaps {
		d := decisionOf(t, plan, s.ID)
		switch {
		case s.ID == proven.ID:
			if !d.Keep || !slices.Contains(d.Reasons, ReasonLastProven) {
				t.Fatalf("last proven %s: %+v", s.ID, d)
			}
		case i > len(snaps)-11:
			if !d.Keep || !slices.Contains(d.Reasons, ReasonNewerProven) {
				t.Fatalf("unproven newer night %s removed or without reason: %+v", s.ID, d)
			}
		default:
			if d.Keep {
				t.Fatalf("old night %s kept: %+v", s.ID, d)
			}
		}
	}
}

// A standby serving an old snapshot (refreshes by id, or failed ones) keeps it.
func TestServedOldSnapshotKept(t *testing.T) {
	end := time.Date(2026, 11, 30, 2, 15, 0, 0, time.UTC)
	snaps := nightly(20, end)
	old := snaps[2]
	prot := Protections{Proven: map[string]bool{snaps[19].ID: true, old.ID: true},
		Reasons: map[string][]string{old.ID: {"served by standby bookmarks"}}}
	plan := Decide(snaps, prot, Policy{Last: 1}, end, time.UTC)
	d := decisionOf(t, plan, old.ID)
	if !d.Keep || !slices.Equal(d.Reasons, []string{"served by standby bookmarks"}) {
		t.Fatalf("served snapshot: %+v", d)
	}
	if keep, _ := plan.Totals(); keep.Snapshots != 2 {
		t.Fatalf("kept %d, want the newest and the served one", keep.Snapshots)
	}
}

func TestPinnedSurvivesKeepLast1(t *testing.T) {
	end := time.Date(2026, 11, 30, 2, 15, 0, 0, time.UTC)
	snaps := nightly(10, end)
	prot := Protections{Proven: map[string]bool{snaps[9].ID: true},
		Reasons: map[string][]string{snaps[4].ID: {"pinned: ticket 4711"}}}
	plan := Decide(snaps, prot, Policy{Last: 1}, end, time.UTC)
	if d := decisionOf(t, plan, snaps[4].ID); !d.Keep || d.Reasons[0] != "pinned: ticket 4711" {
		t.Fatalf("pinned: %+v", d)
	}
	want := []string{ReasonNewest, ReasonLastProven, "last 1 of 1"}
	if d := decisionOf(t, plan, snaps[9].ID); !slices.Equal(d.Reasons, want) {
		t.Fatalf("newest: reasons %q, want %q", d.Reasons, want)
	}
	if keep, _ := plan.Totals(); keep.Snapshots != 2 {
		t.Fatalf("kept %d, want 2", keep.Snapshots)
	}
}

// WAL-G #636: order is the manifest's start time, never the name.
func TestOrderByStartTimeNotName(t *testing.T) {
	t0 := time.Date(2026, 11, 30, 2, 15, 0, 0, time.UTC)
	snaps := []Snapshot{
		{ID: "zzz-named-last", Database: "bookmarks", Time: t0.Add(-48 * time.Hour)},
		{ID: "aaa-named-first", Database: "bookmarks", Time: t0},
		{ID: "mmm", Database: "bookmarks", Time: t0.Add(-24 * time.Hour)},
	}
	prot := Protections{Proven: map[string]bool{"aaa-named-first": true, "mmm": true, "zzz-named-last": true}}
	plan := Decide(snaps, prot, Policy{Last: 1}, t0, time.UTC)
	if d := decisionOf(t, plan, "aaa-named-first"); !d.Keep {
		t.Fatalf("the newest by time was removed: %+v", d)
	}
	for _, id := range []string{"zzz-named-last", "mmm"} {
		if d := decisionOf(t, plan, id); d.Keep {
			t.Fatalf("%s kept: %+v", id, d)
		}
	}
	if got := plan.Decisions[0].ID; got != "zzz-named-last" {
		t.Fatalf("table not oldest first by time: starts with %s", got)
	}
}

func TestNeverProvenKeepsAll(t *testing.T) {
	end := time.Date(2026, 11, 30, 2, 15, 0, 0, time.UTC)
	plan := Decide(nightly(5, end), Protections{}, Policy{Last: 1}, end, time.UTC)
	if keep, remove := plan.Totals(); keep.Snapshots != 5 || remove.Snapshots != 0 {
		t.Fatalf("keep %d remove %d, want every snapshot kept", keep.Snapshots, remove.Snapshots)
	}
	if len(plan.Warnings) != 1 {
		t.Fatalf("warnings %q, want one", plan.Warnings)
	}
	// allow_unproven: the policy applies; the newest is still kept.
	plan = Decide(nightly(5, end), Protections{}, Policy{Last: 2, AllowUnproven: true}, end, time.UTC)
	if keep, remove := plan.Totals(); keep.Snapshots != 2 || remove.Snapshots != 3 || len(plan.Warnings) != 1 {
		t.Fatalf("allow_unproven: keep %d remove %d, warnings %q", keep.Snapshots, remove.Snapshots, plan.Warnings)
	}
	if d := plan.Decisions[4]; d.Reasons[0] != ReasonNewest {
		t.Fatalf("allow_unproven: newest %+v", d)
	}
}

// --now in the past: later snapshots take no part and are kept.
func TestNowInThePast(t *testing.T) {
	end := time.Date(2026, 11, 30, 2, 15, 0, 0, time.UTC)
	snaps := nightly(10, end)
	prot := Protections{Proven: map[string]bool{}}
	for _, s := range snaps {
		prot.Proven[s.ID] = true
	}
	plan := Decide(snaps, prot, Policy{Last: 2}, end.AddDate(0, 0, -5), time.UTC)
	keep, _ := plan.Totals()
	if keep.Snapshots != 7 { // 5 after now, the newest at now and one more
		t.Fatalf("kept %d, want 7", keep.Snapshots)
	}
	if d := decisionOf(t, plan, snaps[9].ID); d.Reasons[0] != ReasonNewerThanNow {
		t.Fatalf("future snapshot: %+v", d)
	}
}

func TestPolicyValidate(t *testing.T) {
	if err := (Policy{}).Validate(); !errors.Is(err, ErrEmptyPolicy) {
		t.Fatalf("empty policy: %v", err)
	}
	if err := (Policy{Daily: -1}).Validate(); !errors.Is(err, ErrBadPolicy) {
		t.Fatalf("negative: %v", err)
	}
	if err := (Policy{Within: Duration{Days: 3}}).Validate(); err != nil {
		t.Fatalf("within 3d: %v", err)
	}
}

func TestParseDuration(t *testing.T) {
	for in, want := range map[string]Duration{
		"3d": {Days: 3}, "1y6m": {Years: 1, Months: 6}, "2w": {Days: 14}, "36h": {Hours: 36},
		"1y2m3d4h": {1, 2, 3, 4}, "": {}, "0": {},
	} {
		got, err := ParseDuration(in)
		if err != nil || got != want {
			t.Fatalf("ParseDuration(%q) = %+v, %v; want %+v", in, got, err, want)
		}
	}
	for _, bad := range []string{"3", "d", "3x", "1.5d", "-3d", "3d4", "9223372036854775807d1d", "1000001h"} {
		if _, err := ParseDuration(bad); !errors.Is(err, ErrBadPolicy) {
			t.Fatalf("ParseDuration(%q): %v, want ErrBadPolicy", bad, err)
		}
	}
	// Calendar days across the DST change: 1d before 12:00 on 2026-03-29 in Berlin (the
	// clocks went forward at 02:00) is 12:00 on the 28th, 23 hours of real time earlier.
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	noon := time.Date(2026, 3, 29, 12, 0, 0, 0, berlin)
	if got := (Duration{Days: 1}).Before(noon); noon.Sub(got) != 23*time.Hour {
		t.Fatalf("1d before %s is %s (%s), want 23h earlier", noon, got, noon.Sub(got))
	}
}

// FuzzParseDuration: whatever parses prints back to a string that parses to the same span.
func FuzzParseDuration(f *testing.F) {
	for _, s := range []string{"3d", "1y6m", "2w", "36h", "1y2m3d4h", "0", "", "3x", "99999999999999999999d", "9223372036854775807d1d", "1000000w1000000d"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseDuration(s)
		if err != nil {
			if !errors.Is(err, ErrBadPolicy) {
				t.Fatalf("ParseDuration(%q): %v does not wrap ErrBadPolicy", s, err)
			}
			return
		}
		again, err := ParseDuration(d.String())
		if err != nil || again != d {
			t.Fatalf("ParseDuration(%q) = %+v prints %q, which parses to %+v, %v", s, d, d.String(), again, err)
		}
	})
}
