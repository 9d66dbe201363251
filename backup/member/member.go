// Package member holds what the backup side knows about the reference bookmark schema
// (members, folders, links): Restore puts one member's rows from a snapshot back into a
// live database without touching anyone else's rows, and ReferenceInvariants are the
// schema's truths the standby drill checks on every restored copy. Package backup
// reads snapshots and runs checks for it and knows no member.
package member

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"

	"github.com/linkagogo/linkbackup/internal/pgdsn"

	"github.com/jackc/pgx/v5"
	"github.com/linkagogo/linkbackup/backup"
)

// Options configure Restore.
type Options struct {
	Store    backup.Store
	ID       string // snapshot id
	Target   string // DSN of the live (or any) bookmark database
	MemberID int64
	// DryRun does everything in a transaction, reports, and rolls back.
	DryRun bool
	// Keys verify and decrypt the snapshot (see backup.RestoreOptions.Keys).
	Keys *backup.Keys
	Log  *slog.Logger
}

// TableReport counts what Restore did with one table's rows of the member.
type TableReport struct {
	Table              string `json:"table"`
	InSnapshot         int64  `json:"in_snapshot"`
	Inserted           int64  `json:"inserted"`
	AlreadyPresent     int64  `json:"already_present"`
	SkippedOtherMember int64  `json:"skipped_other_member"`
	// Reattached counts restored rows whose parent/folder could not be restored and
	// that were put at the top level instead (parent_id / folder_id set to NULL).
	Reattached int64 `json:"reattached_top_level"`
}

// Report is the result of Restore.
type Report struct {
	Snapshot string        `json:"snapshot"`
	Member   int64         `json:"member"`
	DryRun   bool          `json:"dry_run"`
	Tables   []TableReport `json:"tables"`
}

// The bookmark tables a member restore works on (reference schema, testdata/schema.sql).
var memberTables = []struct{ name, owner string }{
	{"members", "id"}, {"folders", "member_id"}, {"links", "member_id"},
}

// Restore puts one member's rows (members, folders, links) from a snapshot back into
// a live database without touching anyone else's rows — "I deleted my links last
// Tuesday". Conflict rules, all in one transaction:
//   - a row whose id still exists for this member is left as it is now (current wins);
//   - a row whose id is missing is inserted with its original id and values;
//   - a row whose id now belongs to another member is skipped and counted (never changed);
//   - a restored folder whose parent, or link whose folder, is neither restored nor the
//     member's own is put at the top level (NULL) and counted;
//   - the member row itself is inserted only if missing; if it cannot be (another member
//     took its email), nothing is restored.
func Restore(ctx context.Context, opts Options) (*Report, error) {
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	m, err := backup.ReadTrustedManifest(ctx, opts.Store, opts.ID, opts.Keys, true, opts.Log)
	if err != nil {
		return nil, err
	}
	tables := map[string]*backup.Table{}
	for i := range m.Tables {
		if m.Tables[i].Schema == "public" {
			tables[m.Tables[i].Name] = &m.Tables[i]
		}
	}
	rows := func(ctx context.Context, t *backup.Table, owner string) (*backup.FilteredRows, error) {
		return backup.RowsWhere(ctx, opts.Store, t, owner, opts.MemberID, opts.Keys)
	}
	return restoreFrom(ctx, opts, "snapshot "+m.ID, m.ID, tables, rows)
}

// rowSource returns the rows of table t whose owner column is the member, as one COPY
// stream in t's format.
type rowSource func(ctx context.Context, t *backup.Table, owner string) (*backup.FilteredRows, error)

// restoreFrom applies the member's rows from src (what names it in messages; label goes
// into the report) into opts.Target with the conflict rules of Restore.
func restoreFrom(ctx context.Context, opts Options, src, label string, tables map[string]*backup.Table, rowsOf rowSource) (*Report, error) {
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	for _, mt := range memberTables {
		t := tables[mt.name]
		if t == nil {
			return nil, &backup.FixableError{Fix: backup.FixMemberSchema,
				Err: fmt.Errorf("%w: %s has no table public.%s", backup.ErrRefused, src, mt.name)}
		}
		if columnIndex(t.Columns, mt.owner) < 0 {
			return nil, fmt.Errorf("%w: public.%s in %s has no %s column", backup.ErrRefused, mt.name, src, mt.owner)
		}
	}
	cfg, err := backup.ConnConfig(opts.Target, "linkbackup-restore-member")
	if err != nil {
		return nil, err
	}
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connect to target %s: %w", pgdsn.Strip(opts.Target), err)
	}
	defer conn.Close(context.WithoutCancel(ctx))

	tx, err := conn.Begin(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	rep := &Report{Snapshot: label, Member: opts.MemberID, DryRun: opts.DryRun}
	for _, mt := range memberTables {
		t := tables[mt.name]
		tmp := "lb_restore_" + mt.name
		if _, err := tx.Exec(ctx, "CREATE TEMP TABLE "+tmp+" ON COMMIT DROP AS SELECT "+backup.ColumnList(t.Columns)+
			" FROM "+t.QualifiedName()+" WITH NO DATA"); err != nil {
			return nil, fmt.Errorf("target table %s does not match the snapshot's columns: %w", t, err)
		}
		rows, err := rowsOf(ctx, t, mt.owner)
		if err != nil {
			return nil, err
		}
		if _, err := tx.Conn().PgConn().CopyFrom(ctx, bytes.NewReader(rows.Data), "COPY "+tmp+" FROM STDIN"+t.CopyWith()); err != nil {
			return nil, fmt.Errorf("stage %s rows: %w", t, err)
		}
		rep.Tables = append(rep.Tables, TableReport{Table: t.String(), InSnapshot: rows.N})
	}
	if rep.Tables[0].InSnapshot == 0 {
		return nil, fmt.Errorf("%w: member %d is not in %s", backup.ErrNoSnapshot, opts.MemberID, src)
	}
	if err := applyMember(ctx, tx, tables, opts.MemberID, rep); err != nil {
		return nil, err
	}
	if opts.DryRun {
		return rep, tx.Rollback(ctx)
	}
	if err := tx.Commit(ctx); err != nil {
		return nil, fmt.Errorf("commit member restore: %w", err)
	}
	opts.Log.Info("member restored", "member", opts.MemberID, "from", src)
	return rep, nil
}

func applyMember(ctx context.Context, tx pgx.Tx, tables map[string]*backup.Table, member int64, rep *Report) error {
	insert := func(t *backup.Table, tmp string) (int64, error) {
		tag, err := tx.Exec(ctx, "INSERT INTO "+t.QualifiedName()+" ("+backup.ColumnList(t.Columns)+") OVERRIDING SYSTEM VALUE SELECT "+
			backup.ColumnList(t.Columns)+" FROM "+tmp+" s WHERE NOT EXISTS (SELECT 1 FROM "+t.QualifiedName()+" x WHERE x.id = s.id)")
		return tag.RowsAffected(), err
	}
	count := func(sql string) (int64, error) {
		var n int64
		err := tx.QueryRow(ctx, sql, member).Scan(&n)
		return n, err
	}
	// members
	mt := &rep.Tables[0]
	var exists bool
	if err := tx.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM public.members WHERE id = $1)", member).Scan(&exists); err != nil {
		return err
	}
	if exists {
		mt.AlreadyPresent = 1
	} else {
		n, err := insert(tables["members"], "lb_restore_members")
		if err != nil {
			return fmt.Errorf("re-insert member %d (another member may now use its email): %w", member, err)
		}
		mt.Inserted = n
	}
	// folders, then links: rows of other members with the same id are skipped; parents
	// and folders that will not exist for this member become NULL (top level).
	for i, step := range []struct {
		table, tmp, ref, refTable string
	}{
		{"folders", "lb_restore_folders", "parent_id", "folders"},
		{"links", "lb_restore_links", "folder_id", "folders"},
	} {
		r := &rep.Tables[i+1]
		t := tables[step.table]
		var err error
		if r.SkippedOtherMember, err = count("SELECT count(*) FROM " + step.tmp + " s JOIN " + t.QualifiedName() + " x ON x.id = s.id WHERE x.member_id <> $1"); err != nil {
			return err
		}
		if r.AlreadyPresent, err = count("SELECT count(*) FROM " + step.tmp + " s JOIN " + t.QualifiedName() + " x ON x.id = s.id WHERE x.member_id = $1"); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, "DELETE FROM "+step.tmp+" s USING "+t.QualifiedName()+" x WHERE x.id = s.id"); err != nil {
			return err
		}
		// Valid references: the member's rows on the target plus (for folders) the ones
		// about to be inserted.
		valid := "SELECT id FROM public." + step.refTable + " WHERE member_id = $1"
		if step.table == "folders" {
			valid += " UNION SELECT id FROM lb_restore_folders"
		}
		tag, err := tx.Exec(ctx, "UPDATE "+step.tmp+" SET "+step.ref+" = NULL WHERE "+step.ref+" IS NOT NULL AND "+
			step.ref+" NOT IN ("+valid+")", member)
		if err != nil {
			return err
		}
		r.Reattached = tag.RowsAffected()
		if r.Inserted, err = insert(t, step.tmp); err != nil {
			return fmt.Errorf("re-insert %s: %w", t, err)
		}
	}
	return nil
}

func columnIndex(cols []string, name string) int {
	for i, c := range cols {
		if c == name {
			return i
		}
	}
	return -1
}
