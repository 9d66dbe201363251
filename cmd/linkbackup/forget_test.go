package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/linkagogo/linkbackup/backup"
	"github.com/linkagogo/linkbackup/backup/file"
	"github.com/linkagogo/linkbackup/internal/testenv"
)

// fakeStore is a file store holding n nightly snapshots of bookmarks (schema objects and
// a manifest each, no PostgreSQL needed) ending last night, the newest proven and served.
func fakeStore(t *testing.T, n int) (string, []string) {
	t.Helper()
	dir := t.TempDir()
	st, err := file.New(dir)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	last := time.Now().UTC().Truncate(24 * time.Hour).Add(-24*time.Hour + 2*time.Hour)
	ids := make([]string, n)
	for i := range n {
		at := last.AddDate(0, 0, i-n+1)
		m := &backup.Manifest{Format: backup.FormatVersion, ID: at.Format(backup.IDFormat), Database: "bookmarks", Started: at, Finished: at}
		for _, name := range []string{"schema/pre-data.sql.zst", "schema/post-data.sql.zst"} {
			info, err := st.Put(ctx, backup.SnapshotPrefix(m.ID)+name, strings.NewReader(name))
			if err != nil {
				t.Fatal(err)
			}
			o := backup.Object{Key: backup.SnapshotPrefix(m.ID) + name, Size: info.Size}
			m.PreData, m.PostData = o, m.PreData
		}
		if err := backup.WriteManifest(ctx, st, m); err != nil {
			t.Fatal(err)
		}
		ids[i] = m.ID
	}
	rec, _ := json.Marshal(backup.DrillRecord{Database: "bookmarks", Serving: &backup.StandbyRecord{Database: "bookmarks", Snapshot: ids[n-1]}})
	if _, err := st.Put(ctx, backup.DrillKey("bookmarks"), bytes.NewReader(rec)); err != nil {
		t.Fatal(err)
	}
	return "file://" + dir, ids
}

func TestCLIForgetDryRunPinAndUsage(t *testing.T) {
	store, ids := fakeStore(t, 5)
	out, errs, code := run(t, "forget", "--store", store, "--dry-run", "--keep-last", "2")
	if code != 0 {
		t.Fatalf("forget --dry-run: exit %d\n%s\n%s", code, out, errs)
	}
	for _, want := range []string{ids[4] + "  ", "last proven by the drill", "served by standby bookmarks", "remove", "dry run: nothing removed"} {
		if !strings.Contains(out, want) {
			t.Fatalf("decision table lacks %q:\n%s", want, out)
		}
	}

	out, errs, code = run(t, "pin", ids[0], "--store", store, "--reason", "ticket 4711")
	if code != 0 || !strings.Contains(out, "pinned "+ids[0]) {
		t.Fatalf("pin: exit %d\n%s\n%s", code, out, errs)
	}
	out, _, _ = run(t, "snapshots", "--store", store)
	if !strings.Contains(out, "PINNED") || !strings.Contains(out, "ticket 4711") {
		t.Fatalf("snapshots does not list the pin:\n%s", out)
	}
	out, errs, code = run(t, "forget", "--store", store, "--json", "--keep-last", "1", "--now", "2099-01-01")
	var r backup.ForgetReport
	if code != 0 || json.Unmarshal([]byte(out), &r) != nil {
		t.Fatalf("forget --json --now future: exit %d\n%s\n%s", code, out, errs)
	}
	if !r.DryRun || len(r.Decisions) != 5 || r.Decisions[0].ID != ids[0] || !r.Decisions[0].Keep ||
		r.Decisions[0].Reasons[0] != "pinned: ticket 4711" || r.Removed.Snapshots != 3 {
		t.Fatalf("a future --now must be a dry run keeping the pinned one: %+v", r)
	}
	if out, errs, code = run(t, "unpin", ids[0], "--store", store); code != 0 {
		t.Fatalf("unpin: exit %d\n%s\n%s", code, out, errs)
	}
	if _, _, code = run(t, "unpin", ids[0], "--store", store); code != exitError {
		t.Fatalf("second unpin: exit %d, want 1", code)
	}

	for _, args := range [][]string{
		{"forget", "--store", store, "--dry-run"},                        // empty policy
		{"forget", "--store", store, "--keep-last", "1"},                 // no --source for the lock
		{"forget", "--store", store, "--dry-run", "--keep-daily", "-1"},  // negative
		{"forget", "--store", store, "--dry-run", "--keep-within", "3x"}, // bad span
		{"forget", "--store", store, "--dry-run", "--keep-last", "1", "--time-zone", "Mars/Olympus"},
		{"forget", "--store", store, "--dry-run", "--keep-last", "1", "--now", "yesterday"},
		{"forget", "--dry-run", "--keep-last", "1"}, // no store
		{"pin", ids[1], "--store", store},           // no reason
	} {
		if _, errs, code := run(t, args...); code != exitUsage {
			t.Fatalf("%v: exit %d, want 2\n%s", args, code, errs)
		}
	}
	t.Setenv("LINKBACKUP_RETENTION_KEEP_DAILY", "3")
	if out, errs, code := run(t, "forget", "--store", store, "--dry-run"); code != 0 || !strings.Contains(out, "policy: keep_daily 3") {
		t.Fatalf("policy from the environment: exit %d\n%s\n%s", code, out, errs)
	}
}

// TestCLIForgetRemoves: a real run takes the backup lock on --source, removes what the
// policy does not keep, and status shows what is left per database.
func TestCLIForgetRemoves(t *testing.T) {
	store, ids := fakeStore(t, 6)
	src := testenv.PrimaryDSN(t)
	out, errs, code := run(t, "forget", "--store", store, "--source", src, "--keep-last", "2")
	if code != 0 || !strings.Contains(out, "done: removed 4 snapshots") {
		t.Fatalf("forget: exit %d\n%s\n%s", code, out, errs)
	}
	out, _, _ = run(t, "snapshots", "--store", store, "--json")
	var list []snapshotSummary
	if err := json.Unmarshal([]byte(out), &list); err != nil || len(list) != 2 || list[0].ID != ids[4] || list[1].ID != ids[5] {
		t.Fatalf("left after forget: %v\n%s", err, out)
	}
	out, errs, _ = run(t, "status", "--store", store)
	if !strings.Contains(out, "database   bookmarks: 2 snapshots") || !strings.Contains(out, "newest proven "+ids[5]) {
		t.Fatalf("status lacks the per-database line:\n%s\n%s", out, errs)
	}
}
