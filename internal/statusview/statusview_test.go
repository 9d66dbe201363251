package statusview_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/linkagogo/linkbackup/backup"
	"github.com/linkagogo/linkbackup/internal/clihint"
	"github.com/linkagogo/linkbackup/internal/statusview"
)

var updateStatus = flag.Bool("update", false, "rewrite the golden files in testdata/status/<case>/")

// statusGoldenDir holds one directory per case: status.txt (plugin output), status.json
// and status.prom (node_exporter textfile).
const statusGoldenDir = "../../testdata/status"

var (
	// The injected clock: every case is judged at 08:00 UTC.
	statusNow = time.Date(2026, 3, 10, 8, 0, 0, 0, time.UTC)
	statusTh  = backup.StatusThresholds{SnapshotWarn: 25 * time.Hour, SnapshotCrit: 49 * time.Hour,
		StandbyWarn: 25 * time.Hour, StandbyCrit: 26 * time.Hour}
	statusStore = "s3://nightly/bookmarks?endpoint=http://127.0.0.1:7070&path_style=true"
)

// manifestAt is a snapshot of database bookmarks started at t.
func manifestAt(t time.Time) *backup.Manifest {
	return &backup.Manifest{ID: t.UTC().Format(backup.IDFormat), Database: "bookmarks", Started: t, Finished: t.Add(40 * time.Second),
		Totals: backup.Totals{Tables: 3, Rows: 3_061_204, RawBytes: 912_345_678, StoredBytes: 41_600_000, Objects: 17}}
}

// recordOf is the standby record of m, verified 3 minutes after the snapshot started.
func recordOf(m *backup.Manifest) *backup.StandbyRecord {
	return &backup.StandbyRecord{Database: "bookmarks", Snapshot: m.ID, SourceDatabase: m.Database, SourceSystemID: "7301",
		SourceTime: m.Started, Verified: m.Started.Add(3 * time.Minute), Tables: 3, Rows: m.Totals.Rows, Tool: "v1.2.0",
		StandbyHost: "7302", RestoreSeconds: 12.5, SwapSeconds: 0.04}
}

func attemptOf(m *backup.Manifest, serving *backup.StandbyRecord, errText string) *backup.StandbyAttempt {
	return &backup.StandbyAttempt{Database: "bookmarks", Snapshot: m.ID, Started: m.Started.Add(time.Minute),
		Finished: m.Started.Add(3*time.Minute + 10*time.Second), OK: errText == "", Error: errText, Serving: serving}
}

func statusCases() map[string]*backup.StatusFacts {
	tonight := manifestAt(statusNow.Add(-6 * time.Hour))    // 02:00 today
	lastNight := manifestAt(statusNow.Add(-30 * time.Hour)) // 02:00 yesterday
	twoNights := manifestAt(statusNow.Add(-54 * time.Hour)) // 02:00 the day before
	lateNight := manifestAt(statusNow.Add(-25*time.Hour - 30*time.Minute))
	base := func(latest *backup.Manifest, n int) *backup.StatusFacts {
		return &backup.StatusFacts{Now: statusNow, Hint: clihint.Text, Store: statusStore, Snapshots: n, Latest: latest, Database: "bookmarks"}
	}
	cases := map[string]*backup.StatusFacts{}

	f := base(tonight, 14)
	f.StandbyChecked, f.Standby, f.Previous = true, recordOf(tonight), recordOf(lastNight)
	f.Attempt = attemptOf(tonight, recordOf(tonight), "")
	cases["ok"] = f

	// Both the snapshot and the standby are 25h30m old: past warn (25h), before crit.
	f = base(lateNight, 14)
	f.StandbyChecked, f.Standby, f.Previous = true, recordOf(lateNight), recordOf(twoNights)
	f.Attempt = attemptOf(lateNight, recordOf(lateNight), "")
	cases["warning-stale"] = f

	// Tonight's snapshot exists, but the standby still serves last night's data and
	// nobody recorded an attempt (the standby step did not run).
	f = base(tonight, 14)
	f.StandbyChecked, f.Standby, f.Previous = true, recordOf(lastNight), recordOf(twoNights)
	cases["standby-stale-critical"] = f

	// Tonight's refresh failed on a corrupted object; last night's copy keeps serving.
	f = base(tonight, 14)
	f.StandbyChecked, f.Standby, f.Previous = true, recordOf(lastNight), recordOf(twoNights)
	f.Attempt = attemptOf(tonight, recordOf(lastNight), "standby restore of "+tonight.ID+" failed; bookmarks keeps serving its previous copy: "+
		"object snapshots/"+tonight.ID+"/data/public.links.0.zst: sha256 mismatch")
	cases["attempt-failed"] = f

	f = &backup.StatusFacts{Now: statusNow, Store: statusStore,
		StoreErr: errors.New(`list snapshots: s3 list nightly/bookmarks/snapshots/: dial tcp 127.0.0.1:7070: connect: connection refused`)}
	cases["store-unreachable"] = f

	// --standby given, but the serving name is unknown without the store.
	f = &backup.StatusFacts{Now: statusNow, Hint: clihint.Text, Store: statusStore, StandbyChecked: true,
		StoreErr:   errors.New(`list snapshots: s3 list nightly/bookmarks/snapshots/: dial tcp 127.0.0.1:7070: connect: connection refused`),
		StandbyErr: backup.GatherStatus(context.Background(), backup.StatusOptions{StandbyServer: "postgres://x@127.0.0.1:1/postgres"}).StandbyErr}
	cases["store-unreachable-standby-name-unknown"] = f

	f = base(nil, 0)
	f.Database = ""
	cases["no-snapshots"] = f

	f = base(tonight, 14)
	f.StandbyChecked = true
	f.StandbyErr = errors.New("connect to standby server postgres://postgres@10.0.0.7:5432/postgres: dial tcp 10.0.0.7:5432: connect: connection refused")
	f.Attempt = attemptOf(tonight, recordOf(tonight), "")
	cases["standby-unreachable"] = f

	f = base(tonight, 14)
	f.StandbyChecked = true
	f.StandbyErr = fmt.Errorf("standby database bookmarks: %w", fs.ErrNotExist)
	cases["standby-missing"] = f

	// An interrupted swap left the serving copy closed to new sessions.
	f = base(tonight, 14)
	f.StandbyChecked, f.Standby, f.Previous = true, recordOf(tonight), recordOf(lastNight)
	f.Attempt = attemptOf(tonight, recordOf(tonight), "")
	f.ServingErr = &backup.FixableError{Fix: backup.FixStandbyRepair, Err: fmt.Errorf("standby database bookmarks %w "+
		"(ALLOW_CONNECTIONS false, left by an interrupted swap): a failover onto it would fail", backup.ErrServingClosed)}
	cases["standby-closed"] = f

	// No --standby: the store's record of the last attempt is judged instead.
	f = base(tonight, 14)
	f.Attempt = attemptOf(tonight, recordOf(tonight), "")
	cases["store-record-only"] = f

	// No standby at all (a site without one).
	cases["no-standby"] = base(tonight, 2)

	// Two databases in the store after retention: per-database counts, bytes, oldest
	// restorable time, newest proven snapshot and pins.
	f = base(tonight, 41)
	f.StandbyChecked, f.Standby, f.Previous = true, recordOf(tonight), recordOf(lastNight)
	f.Attempt = attemptOf(tonight, recordOf(tonight), "")
	provenAt := tonight.Started.UTC()
	f.Databases = []backup.DatabaseStatus{
		{Database: "bookmarks", Snapshots: 35, StoredBytes: 1_456_000_000, Oldest: time.Date(2025, 3, 31, 2, 0, 0, 0, time.UTC),
			NewestProven: tonight.ID, NewestProvenTime: &provenAt,
			Pins: []backup.Pin{{Snapshot: "20251215T020000.000Z", Database: "bookmarks", Reason: "ticket 4711", By: "ops@db1",
				Created: time.Date(2026, 1, 5, 9, 30, 0, 0, time.UTC)}}},
		{Database: "shop", Snapshots: 6, StoredBytes: 31_457_280, Oldest: time.Date(2026, 2, 1, 3, 0, 0, 0, time.UTC)},
	}
	cases["retention"] = f
	return cases
}

func TestStatusGolden(t *testing.T) {
	wantCodes := map[string]backup.Level{
		"ok": backup.LevelOK, "warning-stale": backup.LevelWarning, "standby-stale-critical": backup.LevelCritical,
		"attempt-failed": backup.LevelCritical, "store-unreachable": backup.LevelUnknown,
		"store-unreachable-standby-name-unknown": backup.LevelUnknown, "no-snapshots": backup.LevelCritical,
		"standby-unreachable": backup.LevelCritical, "standby-missing": backup.LevelCritical,
		"store-record-only": backup.LevelOK, "no-standby": backup.LevelOK, "retention": backup.LevelOK,
		"standby-closed": backup.LevelCritical,
	}
	cases := statusCases()
	if len(cases) != len(wantCodes) {
		t.Fatalf("%d cases, %d expected codes", len(cases), len(wantCodes))
	}
	for name, facts := range cases {
		t.Run(name, func(t *testing.T) {
			r := backup.EvaluateStatus(facts, statusTh)
			want, ok := wantCodes[name]
			if !ok || r.Code != want {
				t.Fatalf("code %v, want %v: %s", r.Code, want, r.Summary)
			}
			var txt, js, prom bytes.Buffer
			if err := statusview.WriteText(&txt, r); err != nil {
				t.Fatal(err)
			}
			enc := json.NewEncoder(&js)
			enc.SetIndent("", "  ")
			enc.SetEscapeHTML(false)
			if err := enc.Encode(r); err != nil {
				t.Fatal(err)
			}
			if err := statusview.WritePrometheus(&prom, r); err != nil {
				t.Fatal(err)
			}
			dir := filepath.Join(statusGoldenDir, name)
			for file, got := range map[string][]byte{"status.txt": txt.Bytes(), "status.json": js.Bytes(), "status.prom": prom.Bytes()} {
				path := filepath.Join(dir, file)
				if *updateStatus {
					if err := os.MkdirAll(dir, 0o755); err != nil {
						t.Fatal(err)
					}
					if err := os.WriteFile(path, got, 0o644); err != nil {
						t.Fatal(err)
					}
					continue
				}
				wantB, err := os.ReadFile(path)
				if err != nil {
					t.Fatalf("%v (run go test ./internal/statusview -run TestStatusGolden -update to create it)", err)
				}
				if !bytes.Equal(got, wantB) {
					t.Fatalf("%s differs from the golden file (rerun with -update after checking):\n--- got\n%s\n--- want\n%s", path, got, wantB)
				}
			}
		})
	}
}

// TestStatusRules checks the rules the golden files illustrate, independent of wording.
func TestStatusRules(t *testing.T) {
	cases := statusCases()
	first := func(name string) string {
		var b bytes.Buffer
		statusview.WriteText(&b, backup.EvaluateStatus(cases[name], statusTh))
		l, _, _ := strings.Cut(b.String(), "\n")
		return l
	}
	if l := first("standby-stale-critical"); !strings.HasPrefix(l, "LINKBACKUP CRITICAL - standby bookmarks data 30h old (limit 26h) |") {
		t.Fatalf("stale standby first line: %s", l)
	}
	if l := first("attempt-failed"); !strings.Contains(l, "sha256 mismatch") || !strings.HasPrefix(l, "LINKBACKUP CRITICAL - ") {
		t.Fatalf("failed attempt must be critical and name the failure: %s", l)
	}
	if l := first("store-unreachable"); !strings.HasPrefix(l, "LINKBACKUP UNKNOWN - store unreachable") {
		t.Fatalf("unreachable store: %s", l)
	}
	// Critical outranks unknown.
	f := *cases["store-unreachable"]
	f.StandbyChecked, f.Database = true, "bookmarks"
	f.StandbyErr = errors.New("connection refused")
	if r := backup.EvaluateStatus(&f, statusTh); r.Code != backup.LevelCritical || len(r.Problems) != 2 {
		t.Fatalf("critical + unknown = %v (%d problems)", r.Code, len(r.Problems))
	}
	// Boundaries: exactly at a limit is still within it.
	f = *cases["ok"]
	f.Now = f.Standby.SourceTime.Add(statusTh.StandbyCrit)
	if r := backup.EvaluateStatus(&f, statusTh); r.Code != backup.LevelWarning {
		t.Fatalf("standby data exactly 26h old: %v (%s), want WARNING (past 25h, not past 26h)", r.Code, r.Summary)
	}
	f.Now = f.Now.Add(time.Second)
	if r := backup.EvaluateStatus(&f, statusTh); r.Code != backup.LevelCritical {
		t.Fatalf("standby data 26h0m1s old: %v, want CRITICAL", r.Code)
	}
	// The verified-by-standby flag follows the serving snapshot.
	if r := backup.EvaluateStatus(cases["ok"], statusTh); !r.Snapshot.VerifiedByStandby {
		t.Fatal("ok: latest snapshot should be verified by the standby")
	}
	if r := backup.EvaluateStatus(cases["attempt-failed"], statusTh); r.Snapshot.VerifiedByStandby {
		t.Fatal("attempt-failed: latest snapshot must not count as verified")
	}
	// A newline or '|' in an error cannot break the plugin's first line.
	f = *cases["store-unreachable"]
	f.StoreErr = errors.New("line one\nline two | not perfdata")
	var b bytes.Buffer
	statusview.WriteText(&b, backup.EvaluateStatus(&f, statusTh))
	if l, _, _ := strings.Cut(b.String(), "\n"); strings.Contains(l, "|") || !strings.Contains(l, "line two") {
		t.Fatalf("first line: %q", l)
	}
}

// TestStatusWarnsWhenTheKeyIsLost: the latest snapshot is encrypted to a key none of
// the configured identities holds: WARNING naming both sides, before any outage.
func TestStatusWarnsWhenTheKeyIsLost(t *testing.T) {
	m := manifestAt(statusNow.Add(-2 * time.Hour))
	m.Encryption, m.Recipients, m.SignedBy = backup.EncryptionAge, []string{"sha256:aaaaaaaaaaaaaaaa"}, "sha256:cccccccccccccccc"
	f := &backup.StatusFacts{Now: statusNow, Store: statusStore, Snapshots: 1, Latest: m, Database: "bookmarks",
		Identities: []string{"sha256:bbbbbbbbbbbbbbbb"}}
	r := backup.EvaluateStatus(f, statusTh)
	if r.Code != backup.LevelWarning || !strings.Contains(r.Summary, "cannot decrypt the latest snapshot") ||
		!strings.Contains(r.Summary, "sha256:aaaaaaaaaaaaaaaa") || !strings.Contains(r.Summary, "sha256:bbbbbbbbbbbbbbbb") {
		t.Fatalf("%s: %s", r.State, r.Summary)
	}
	if !r.Snapshot.Encrypted || !r.Snapshot.Signed {
		t.Fatalf("snapshot status: %+v", r.Snapshot)
	}
	f.Identities = []string{"sha256:aaaaaaaaaaaaaaaa"}
	if r := backup.EvaluateStatus(f, statusTh); strings.Contains(r.Summary, "cannot decrypt") {
		t.Fatalf("with the right identity: %s", r.Summary)
	}
}

// TestStatusJudgesTheWALArchive: a store holding WAL reports the newest segment's age;
// past wal_warn_age it is WARNING, past wal_crit_age CRITICAL; the line and the metric
// say when it was archived.
func TestStatusJudgesTheWALArchive(t *testing.T) {
	th := statusTh
	th.WALWarn, th.WALCrit = 15*time.Minute, time.Hour
	for age, want := range map[time.Duration]backup.Level{5 * time.Minute: backup.LevelOK, 20 * time.Minute: backup.LevelWarning, 2 * time.Hour: backup.LevelCritical} {
		f := *statusCases()["ok"]
		at := statusNow.Add(-age)
		f.WALNewest = &at
		r := backup.EvaluateStatus(&f, th)
		if r.Code != want || r.WAL == nil || r.WAL.AgeSeconds != int64(age.Seconds()) {
			t.Fatalf("WAL %s old: %s %s, %+v", age, r.State, r.Summary, r.WAL)
		}
		var text, prom strings.Builder
		statusview.WriteText(&text, r)
		statusview.WritePrometheus(&prom, r)
		if !strings.Contains(text.String(), "newest segment archived") || !strings.Contains(prom.String(), "linkbackup_wal_newest_archived_timestamp_seconds") {
			t.Fatalf("text:\n%s\nprom:\n%s", text.String(), prom.String())
		}
	}
}

// TestStatusJudgesThePointInTimeProof: with base backups in the store, no proof yet is a
// WARNING; a passed proof says "point-in-time recovery proven to <time>" and is judged by
// the proven point's age; a failed proof is CRITICAL with its error and the last proven
// point; a store without base backups or records shows nothing.
func TestStatusJudgesThePointInTimeProof(t *testing.T) {
	th := statusTh
	th.PITRWarn, th.PITRCrit = 25*time.Hour, 49*time.Hour
	ok := statusCases()["ok"]
	if r := backup.EvaluateStatus(ok, th); r.PITR != nil || r.Code != backup.LevelOK {
		t.Fatalf("no base backup: %s %+v", r.State, r.PITR)
	}
	proof := func(age time.Duration, errText string) *backup.PITRRecord {
		at := statusNow.Add(-age)
		return &backup.PITRRecord{Database: "bookmarks", Snapshot: at.Format(backup.IDFormat), PointTime: at, LSN: "0/7000060",
			BaseBackup: "20260308T010000.000Z", Started: at.Add(5 * time.Minute), Finished: at.Add(8 * time.Minute),
			OK: errText == "", Error: errText, Tables: 3, Rows: 3_061_204, RecoverySeconds: 41.5}
	}
	lastWeek := statusNow.Add(-30 * time.Hour)
	failed := proof(6*time.Hour, "point-in-time recovery: WAL segment 000000010000000000000007 missing")
	failed.LastProven = &lastWeek
	for _, c := range []struct {
		name string
		rec  *backup.PITRRecord
		want backup.Level
		text string
	}{
		{"never", nil, backup.LevelWarning, "never proven"},
		{"fresh", proof(6*time.Hour, ""), backup.LevelOK, "point-in-time recovery proven to 2026-03-10 02:00:00 UTC"},
		{"stale", proof(30*time.Hour, ""), backup.LevelWarning, "point-in-time recovery proven to"},
		{"old", proof(60*time.Hour, ""), backup.LevelCritical, "point-in-time recovery proven to"},
		{"failed", failed, backup.LevelCritical, "last proven to 2026-03-09 02:00:00 UTC"},
	} {
		f := *ok
		f.BaseBackups, f.PITR = 2, c.rec
		r := backup.EvaluateStatus(&f, th)
		var text, prom strings.Builder
		statusview.WriteText(&text, r)
		statusview.WritePrometheus(&prom, r)
		if r.Code != c.want || !strings.Contains(text.String(), c.text) {
			t.Fatalf("%s: %s, want %s; text:\n%s", c.name, r.State, c.want, text.String())
		}
		if c.name == "failed" && (!strings.Contains(r.Summary, "NOT proven") || !strings.Contains(r.Summary, "000000010000000000000007") ||
			!strings.Contains(prom.String(), "linkbackup_pitr_last_proof_ok 0")) {
			t.Fatalf("failed proof: %s\n%s", r.Summary, prom.String())
		}
		if c.name == "fresh" && (!strings.Contains(prom.String(), "\nlinkbackup_pitr_proven_timestamp_seconds ") ||
			!strings.Contains(prom.String(), "linkbackup_pitr_last_proof_ok 1")) {
			t.Fatalf("fresh proof metrics:\n%s", prom.String())
		}
	}
}
