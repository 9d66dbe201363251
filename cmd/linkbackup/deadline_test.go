package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/linkagogo/linkbackup/internal/testenv"
)

// TestDeadlineStopsRunsCleanly: backup, restore, standby and nightly stop at --deadline
// (or the deadline config key) with exit 1 and a message that says the deadline passed
// and where the run was; nothing partial is listed.
func TestDeadlineStopsRunsCleanly(t *testing.T) {
	src := genDB(t, 50, 20)
	dir := t.TempDir()
	store := "file://" + dir
	id := backupTo(t, src, store)
	server := testenv.StandbyDSN(t)
	target := testenv.NewDatabase(t, server)
	name := standbyName(t, server)
	check := func(what string, args ...string) {
		t.Helper()
		out, errs, code := run(t, args...)
		if code != exitError || !strings.Contains(errs+out, "run deadline of 1ms") {
			t.Fatalf("%s --deadline 1ms: exit %d\n%s\n%s", what, code, out, errs)
		}
		t.Logf("%s: %s", what, strings.TrimSpace(errs))
	}
	check("backup", "backup", "--source", src, "--store", store, "--deadline", "1ms")
	check("restore", "restore", id, "--store", store, "--target", target, "--deadline", "1ms")
	check("standby", "standby", id, "--store", store, "--standby", server, "--database", name, "--deadline", "1ms")
	cfg := filepath.Join(t.TempDir(), "c.yaml")
	if err := os.WriteFile(cfg, []byte("deadline: 1ms\nsource: "+src+"\nstore: "+store+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	check("nightly (config key)", "nightly", "--config", cfg)
	out, errs, code := run(t, "snapshots", "--store", store)
	if code != 0 || strings.Count(out, "\n") != 2 {
		t.Fatalf("snapshots after the runs stopped at their deadline (want only %s): exit %d\n%s\n%s", id, code, out, errs)
	}
}
