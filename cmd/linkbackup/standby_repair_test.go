package main

import (
	"strings"
	"testing"

	"github.com/linkagogo/linkbackup/internal/testenv"
)

// TestCLIStandbyRepair: a serving copy left closed to connections makes status CRITICAL
// with the hint to run standby --repair, which reopens it.
func TestCLIStandbyRepair(t *testing.T) {
	src := genDB(t, 5, 5)
	store := "file://" + t.TempDir()
	server := testenv.StandbyDSN(t)
	name := standbyName(t, server)
	sb := []string{"--store", store, "--standby", server, "--database", name}
	backupTo(t, src, store)
	if out, errs, code := run(t, append([]string{"standby", "--grace", "1s"}, sb...)...); code != 0 {
		t.Fatalf("standby: exit %d\n%s\n%s", code, out, errs)
	}
	execSQL(t, server, `ALTER DATABASE "`+name+`" WITH ALLOW_CONNECTIONS false`)
	out, errs, code := run(t, append([]string{"status"}, sb...)...)
	if code != 2 || !strings.Contains(out, "does not accept connections") || !strings.Contains(out, "linkbackup standby --repair") {
		t.Fatalf("status with the serving copy closed: exit %d\n%s\n%s", code, out, errs)
	}
	out, errs, code = run(t, "standby", "--repair", "--standby", server, "--database", name)
	if code != 0 || !strings.Contains(out, "reopened to connections: "+name) {
		t.Fatalf("standby --repair: exit %d\n%s\n%s", code, out, errs)
	}
	if out, errs, code := run(t, append([]string{"status"}, sb...)...); code != 0 {
		t.Fatalf("status after the repair: exit %d\n%s\n%s", code, out, errs)
	}
	out, errs, code = run(t, "standby", "--repair", "--standby", server, "--database", name)
	if code != 0 || !strings.Contains(out, "nothing to repair") {
		t.Fatalf("standby --repair again: exit %d\n%s\n%s", code, out, errs)
	}
}
