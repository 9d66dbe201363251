package backup_test

import (
	"context"
	"testing"

	"github.com/linkagogo/linkbackup/backup"
	"github.com/linkagogo/linkbackup/internal/testenv"
)

// TestBackupDataCannotSwitchOffItsOwnBackup: in PostgreSQL 15 the database owner can
// comment on public. A schema commented "linkbackup state…" is still backed up unless it
// is the configured state schema holding exactly the state tables.
func TestBackupDataCannotSwitchOffItsOwnBackup(t *testing.T) {
	t.Parallel()
	dsn := testenv.NewDatabase(t, testenv.PrimaryDSN(t))
	mustExec(t, connect(t, dsn), `CREATE TABLE precious (x int); INSERT INTO precious VALUES (1);
		COMMENT ON SCHEMA public IS '`+backup.StateSchemaPrefix+`: nothing to see here'`)
	ctx := context.Background()
	m, err := backup.Backup(ctx, opts(t, dsn, fileStore(t)))
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Tables) != 1 || m.Tables[0].Name != "precious" || len(m.Excluded.Schemas) != 0 {
		t.Fatalf("a comment on public switched off its backup: tables %v, excluded %v", m.Tables, m.Excluded.Schemas)
	}

	// The configured state schema, marked and holding exactly the state tables: left out.
	mustExec(t, connect(t, dsn), `COMMENT ON SCHEMA public IS NULL; CREATE SCHEMA lb_state;
		CREATE TABLE lb_state.river_job (id int); CREATE TABLE lb_state.weekly_ledger (id int);
		COMMENT ON SCHEMA lb_state IS '`+backup.StateSchemaPrefix+`: River jobs and the ledger'`)
	o := opts(t, dsn, fileStore(t))
	o.StateSchema, o.StateTables = "lb_state", []string{"river_%", "weekly_ledger"}
	schemas := func(o backup.Options) (map[string]int, []string) {
		t.Helper()
		m, err := backup.Backup(ctx, o)
		if err != nil {
			t.Fatal(err)
		}
		n := map[string]int{}
		for _, tb := range m.Tables {
			n[tb.Schema]++
		}
		return n, m.Excluded.Schemas
	}
	if n, ex := schemas(o); n["lb_state"] != 0 || n["public"] != 1 || len(ex) != 1 || ex[0] != "lb_state" {
		t.Fatalf("configured state schema: tables per schema %v, excluded %v", n, ex)
	}
	// Someone else's table in it: backed up, all of it.
	mustExec(t, connect(t, dsn), `CREATE TABLE lb_state.customer_data (x int)`)
	if n, ex := schemas(o); n["lb_state"] != 3 || len(ex) != 0 {
		t.Fatalf("state schema with a stray table: tables per schema %v, excluded %v", n, ex)
	}
	// Lacking a state table: backed up.
	mustExec(t, connect(t, dsn), `DROP TABLE lb_state.customer_data, lb_state.weekly_ledger`)
	if n, ex := schemas(o); n["lb_state"] != 1 || len(ex) != 0 {
		t.Fatalf("state schema without the ledger: tables per schema %v, excluded %v", n, ex)
	}
	// Marked but not the configured one: backed up.
	mustExec(t, connect(t, dsn), `CREATE TABLE lb_state.weekly_ledger (id int)`)
	o.StateSchema = "linkbackup_mail"
	if n, ex := schemas(o); n["lb_state"] != 2 || len(ex) != 0 {
		t.Fatalf("marked schema that is not the state schema: tables per schema %v, excluded %v", n, ex)
	}
}
