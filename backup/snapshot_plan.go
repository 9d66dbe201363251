package backup

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/jackc/pgx/v5"
)

// snapshotPlan is what the catalog, read inside the snapshot transaction, says to copy.
type snapshotPlan struct {
	cat *catalog
	// dumpExclude: excluded tables the role cannot read; pg_dump must leave out their
	// definitions too.
	dumpExclude []QualName
}

// planSnapshot reads the catalog inside the snapshot transaction tx: it leaves out
// linkbackup's state schemas (opts.ExcludeSchemas grows), refuses unreadable tables and
// unexpected large objects, stamps the application version, locks every table it copies
// and gives m its id.
func planSnapshot(ctx context.Context, tx pgx.Tx, opts *Options, m *Manifest) (*snapshotPlan, error) {
	log := opts.Log
	if !opts.IncludeStateSchemas {
		if err := leaveOutStateSchema(ctx, tx, opts); err != nil {
			return nil, err
		}
		m.Excluded.Schemas = opts.ExcludeSchemas
	}
	if err := recordSubscriptions(ctx, tx, m, log); err != nil {
		return nil, err
	}
	cat, err := readCatalog(ctx, tx, opts.ExcludeSchemas)
	if err != nil {
		return nil, err
	}
	if err := checkReadable(cat, opts.ExcludeTables); err != nil {
		return nil, err
	}
	if cat.LargeObjects > 0 && opts.SkipLargeObjects {
		m.LargeObjects = cat.LargeObjects
		log.Warn("large objects are NOT in this snapshot (skip_large_objects)", "count", cat.LargeObjects)
	}
	if opts.AppVersionQuery != "" {
		var v any
		if err := tx.QueryRow(ctx, opts.AppVersionQuery).Scan(&v); err != nil {
			return nil, fmt.Errorf("backup.app_version_query: %w", err)
		}
		m.AppVersion = fmt.Sprint(v)
	}
	// Hold ACCESS SHARE locks (as pg_dump does) so no table is dropped or rewritten under us.
	if err := lockTables(ctx, tx, cat.Tables, opts.ExcludeTables); err != nil {
		return nil, err
	}
	plan := &snapshotPlan{cat: cat}
	// pg_dump locks every table it dumps, even schema-only: an excluded table the role
	// cannot read must be left out of the schema too.
	for _, t := range cat.Tables {
		if !t.CanRead && matchTable(opts.ExcludeTables, t.Schema, t.Name) {
			plan.dumpExclude = append(plan.dumpExclude, QualName{Schema: t.Schema, Name: t.Name})
			log.Warn("excluded table is unreadable by the backup role: its definition is left out too", "table", t.Schema+"."+t.Name)
		}
	}
	m.MatViews = cat.MatViews
	if m.MatViews == nil {
		m.MatViews = []QualName{}
	}

	m.ID = opts.now().UTC().Format(IDFormat)
	if existing, err := opts.Store.List(ctx, SnapshotPrefix(m.ID)); err != nil {
		return nil, fmt.Errorf("store %s: %w", opts.Store, err)
	} else if len(existing) > 0 {
		return nil, fmt.Errorf("snapshot id %s already has objects in %s; retry in a second", m.ID, opts.Store)
	}
	return plan, nil
}

func checkReadable(cat *catalog, excludeTables []string) error {
	var denied []string
	for _, t := range cat.Tables {
		if !t.CanRead && !matchTable(excludeTables, t.Schema, t.Name) {
			denied = append(denied, t.Schema+"."+t.Name)
		}
	}
	denied = append(denied, cat.SeqNoRead...)
	if len(denied) == 0 {
		return nil
	}
	more := ""
	if len(denied) > 10 {
		more = fmt.Sprintf(" and %d more", len(denied)-10)
		denied = denied[:10]
	}
	return fmt.Errorf("the backup role cannot read %s%s: GRANT SELECT on them (or the role pg_read_all_data), "+
		"or exclude them with backup.exclude_tables / backup.exclude_schemas", strings.Join(denied, ", "), more)
}

func lockTables(ctx context.Context, tx pgx.Tx, tables []catTable, exclude []string) error {
	var all []string
	for _, t := range tables {
		if !matchTable(exclude, t.Schema, t.Name) {
			all = append(all, QuoteIdent(t.Schema)+"."+QuoteIdent(t.Name))
		}
	}
	const batch = 500
	for i := 0; i < len(all); i += batch {
		names := all[i:min(i+batch, len(all))]
		if _, err := tx.Exec(ctx, "SET LOCAL lock_timeout = '60s'; LOCK TABLE "+strings.Join(names, ", ")+" IN ACCESS SHARE MODE"); err != nil {
			return fmt.Errorf("lock tables (something holds an exclusive lock, e.g. a migration): %w", err)
		}
	}
	return nil
}

// planTasks fills m.Tables and returns the COPY tasks, largest first.
func planTasks(m *Manifest, cat *catalog, opts Options, prefix string) []task {
	var tasks []task
	for _, ct := range cat.Tables {
		if matchTable(opts.ExcludeTables, ct.Schema, ct.Name) {
			continue
		}
		ti := len(m.Tables)
		t := Table{Schema: ct.Schema, Name: ct.Name, Columns: ct.Columns, Parent: ct.Parent}
		if ct.Binary && !opts.TextFormat {
			t.CopyFormat = CopyBinary
		}
		if t.Columns == nil {
			t.Columns = []string{}
		}
		m.Tables = append(m.Tables, t)
		ranges := splitBlocks(ct.Bytes, cat.BlockSize, opts.SplitTableBytes)
		if ranges == nil {
			tasks = append(tasks, task{table: ti, chunk: 0, sizeHint: ct.Bytes, sql: t.copySQL("TO STDOUT")})
			continue
		}
		for c, r := range ranges {
			tasks = append(tasks, task{table: ti, chunk: c, rangeDesc: r.String(), sizeHint: ct.Bytes / int64(len(ranges)),
				sql: t.copyRangeSQL(r)})
		}
	}
	for i := range tasks {
		t := &m.Tables[tasks[i].table]
		ext := "copy"
		if t.Binary() {
			ext = "pgcopy"
		}
		t.Chunks = append(t.Chunks, Chunk{Range: tasks[i].rangeDesc,
			Object: Object{Key: fmt.Sprintf("%sdata/%04d-%s.%04d.%s%s", prefix, tasks[i].table, safeName(t.Schema+"."+t.Name), tasks[i].chunk, ext, compressionExt(m.Compression))}})
	}
	sort.SliceStable(tasks, func(i, j int) bool { return tasks[i].sizeHint > tasks[j].sizeHint })
	return tasks
}

// copySQL is the COPY of all of t's rows in its column list and format; dir is
// "TO STDOUT" or "FROM STDIN".
func (t *Table) copySQL(dir string) string {
	cols := ""
	if len(t.Columns) > 0 {
		cols = " (" + ColumnList(t.Columns) + ")"
	}
	return "COPY " + t.QualifiedName() + cols + " " + dir + t.CopyWith()
}

// copyRangeSQL is the COPY TO STDOUT of t's rows in block range r.
func (t *Table) copyRangeSQL(r blockRange) string {
	where := fmt.Sprintf("ctid >= '(%d,0)'::tid", r.lo)
	if r.hi >= 0 {
		where += fmt.Sprintf(" AND ctid < '(%d,0)'::tid", r.hi)
	}
	// A zero-column table gives "SELECT  FROM t": empty rows, as COPY t does.
	return "COPY (SELECT " + ColumnList(t.Columns) + " FROM ONLY " + t.QualifiedName() + " WHERE " + where + ") TO STDOUT" + t.CopyWith()
}

// blockRange is the ctid range [lo, hi) of a table's blocks; hi < 0: to the end.
type blockRange struct{ lo, hi int64 }

func (r blockRange) String() string {
	if r.hi < 0 {
		return fmt.Sprintf("blocks [%d,end)", r.lo)
	}
	return fmt.Sprintf("blocks [%d,%d)", r.lo, r.hi)
}

// splitBlocks cuts a table of size bytes into ceil(size/split) ranges of equal block
// counts, the last one open-ended; nil (the whole table at once) when size <= split.
func splitBlocks(size, blockSize, split int64) []blockRange {
	if size <= split {
		return nil
	}
	n := (size + split - 1) / split
	blocks := (size + blockSize - 1) / blockSize
	per := (blocks + n - 1) / n
	out := make([]blockRange, n)
	for c := range out {
		out[c] = blockRange{int64(c) * per, int64(c+1) * per}
	}
	out[n-1].hi = -1
	return out
}

// ColumnList is cols quoted for SQL and joined with commas.
func ColumnList(cols []string) string {
	q := make([]string, len(cols))
	for i, c := range cols {
		q[i] = QuoteIdent(c)
	}
	return strings.Join(q, ", ")
}

// safeName keeps key-friendly bytes of a table name and percent-encodes the rest.
func safeName(s string) string {
	var b strings.Builder
	for i := 0; i < len(s) && b.Len() < 96; i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.' {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}
