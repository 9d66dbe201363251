package main

import (
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/linkagogo/linkbackup/internal/testenv"
)

// TestCLILatestPerDatabase: a store holding snapshots of two databases. latest is
// refused as ambiguous (exit 4, naming --database) when no database is known, and means
// the newest snapshot of the named (or configured source's) database otherwise.
func TestCLILatestPerDatabase(t *testing.T) {
	a := genDB(t, 3, 3)
	b := testenv.NewDatabase(t, testenv.PrimaryDSN(t))
	execSQL(t, b, "CREATE TABLE only_in_b (x int)")
	store := "file://" + t.TempDir()
	idA := backupTo(t, a, store)
	idB := backupTo(t, b, store) // the newest of the store
	cfg, err := pgx.ParseConfig(a)
	if err != nil {
		t.Fatal(err)
	}
	dbA := cfg.Database

	target := testenv.NewDatabase(t, testenv.StandbyDSN(t))
	out, errs, code := run(t, "restore", "latest", "--store", store, "--target", target)
	if code != exitRefused || !strings.Contains(errs, "ambiguous") || !strings.Contains(errs, "--database") {
		t.Fatalf("restore latest, two databases: exit %d\n%s\n%s", code, out, errs)
	}
	if n := userTables(t, target); n != 0 {
		t.Fatalf("a refused restore created %d tables", n)
	}
	out, errs, code = run(t, "restore", "latest", "--database", dbA, "--store", store, "--target", target)
	if code != 0 || !strings.Contains(out, idA) || userTables(t, target) != 3 {
		t.Fatalf("restore latest --database %s: exit %d\n%s\n%s", dbA, code, out, errs)
	}
	if _, errs, code = run(t, "verify", "--store", store); code != exitRefused {
		t.Fatalf("verify latest, two databases: exit %d\n%s", code, errs)
	}
	if out, errs, code = run(t, "verify", "--store", store, "--database", dbA); code != 0 || !strings.Contains(out, idA) {
		t.Fatalf("verify --database: exit %d\n%s\n%s", code, out, errs)
	}
	// The configured source names the database; an exact id needs none.
	t.Setenv("LINKBACKUP_SOURCE", a)
	if out, errs, code = run(t, "verify", "--store", store); code != 0 || !strings.Contains(out, idA) {
		t.Fatalf("verify with a configured source: exit %d\n%s\n%s", code, out, errs)
	}
	if out, errs, code = run(t, "verify", idB, "--store", store); code != 0 || !strings.Contains(out, idB) {
		t.Fatalf("verify of an exact id of the other database: exit %d\n%s\n%s", code, out, errs)
	}
}
