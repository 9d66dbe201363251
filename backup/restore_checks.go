package backup

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// A standby refresh's invariants run as steps of the restore's graph as soon as the
// tables they read are final, beside its tail (foreign-key validation, the proof, the
// other tables' ANALYZE), instead of after it. Which tables an invariant reads is what
// PostgreSQL's plan of it shows, so an invariant runs in the graph only when that is
// the whole truth: every relation of its plan is a table the graph loads, and the
// database holds no function that could read others unseen (anything but C and
// internal functions). Every other invariant runs after the restore, as drills always
// did (drillInvariants).

// restoreChecks carries a drill's invariants into Restore and their results out.
type restoreChecks struct {
	invs    []Invariant
	timeout time.Duration // of a check without its own
	// validated: ValidateInvariants passed on the target once its schema existed.
	validated bool
	// ran[i]: invs[i] ran in the restore; results[i] is its result, not yet judged. Each
	// step writes its own index; they are read after Restore returned.
	ran     []bool
	results []InvariantResult
}

func newRestoreChecks(invs []Invariant, timeout time.Duration) *restoreChecks {
	if timeout <= 0 {
		timeout = 60 * time.Second // RunInvariants' default
	}
	return &restoreChecks{invs: invs, timeout: timeout, ran: make([]bool, len(invs)), results: make([]InvariantResult, len(invs))}
}

// plannedCheck is an invariant the graph runs: invs[i], reading tables (tableKey).
type plannedCheck struct {
	i      int
	tables []string
}

// checkLocal resets, in an invariant's transaction on a restore session, what could
// change its result to the session defaults every linkbackup session starts with
// (ConnConfig), the same as on the session a check after the restore runs on. The
// restore sessions add only synchronous_commit and default_toast_compression, which
// change no read.
const checkLocal = "SET LOCAL search_path TO DEFAULT; SET LOCAL row_security TO DEFAULT; "

// unseenReads are names in an invariant's SQL that read what its plan does not show:
// sequence functions (the sequences are set after the graph) and relations named by
// regclass.
var unseenReads = []string{"nextval", "currval", "lastval", "setval", "pg_sequence_last_value", "regclass"}

// planChecks validates the invariants on the target once pre-data has run (an
// invariant that does not parse fails the restore before any data is loaded, with
// ErrInvalidInvariant) and picks those the graph runs into r.planned.
func (r *restoreRun) planChecks(ctx context.Context) error {
	c := r.opts.checks
	if c == nil || len(c.invs) == 0 {
		return nil
	}
	// A session of its own: the coordinating one has pg_dump's preamble (an empty
	// search_path) and would not find the tables an invariant names unqualified.
	conn, err := pgx.ConnectConfig(ctx, r.cfg)
	if err != nil {
		return fmt.Errorf("invariants: connect: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if err := ValidateInvariants(ctx, conn, c.invs); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidInvariant, err)
	}
	c.validated = true
	log := r.opts.Log
	var functions bool
	var partSchemas, partNames []string
	if err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT FROM pg_catalog.pg_proc p
			JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace JOIN pg_catalog.pg_language l ON l.oid = p.prolang
			WHERE l.lanname NOT IN ('c', 'internal') AND n.nspname NOT IN ('pg_catalog', 'information_schema')),
		coalesce(array_agg(n.nspname::text), '{}'), coalesce(array_agg(c.relname::text), '{}')
		FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE c.relispartition`).
		Scan(&functions, &partSchemas, &partNames); err != nil {
		return fmt.Errorf("invariants: read the catalog: %w", err)
	}
	if functions {
		log.Debug("the database has SQL or procedural-language functions, which can read tables an invariant's plan does not show: every invariant runs after the restore")
		return nil
	}
	graph := map[string]bool{}
	for _, t := range r.tables {
		graph[tableKey(t.Schema, t.Name)] = true
	}
	// A partition's parent is analyzed only after the graph: a plan over it would lack
	// the parent's statistics.
	for i := range partSchemas {
		delete(graph, tableKey(partSchemas[i], partNames[i]))
	}
	for i, inv := range c.invs {
		tables, why := checkTables(ctx, conn, inv, graph)
		if why != "" {
			log.Debug("invariant runs after the restore", "invariant", inv.Name, "why", why)
			continue
		}
		log.Debug("invariant runs in the restore", "invariant", inv.Name, "tables", len(tables))
		r.planned = append(r.planned, plannedCheck{i: i, tables: tables})
	}
	return nil
}

// checkTables returns the tables inv reads when all of them are in graph, else why it
// cannot run in the graph.
func checkTables(ctx context.Context, conn *pgx.Conn, inv Invariant, graph map[string]bool) ([]string, string) {
	q := trimSQL(inv.SQL)
	low := strings.ToLower(q)
	for _, w := range unseenReads {
		if strings.Contains(low, w) {
			return nil, "its SQL names " + w
		}
	}
	// VERBOSE: a JSON plan names a relation's schema only then.
	var plan string
	if err := conn.QueryRow(ctx, "EXPLAIN (VERBOSE, FORMAT JSON) SELECT count(*) FROM ("+q+") AS v").Scan(&plan); err != nil {
		return nil, "EXPLAIN: " + err.Error()
	}
	var tree any
	if err := json.Unmarshal([]byte(plan), &tree); err != nil {
		return nil, "EXPLAIN: " + err.Error()
	}
	seen := map[string]bool{}
	var tables []string
	var bad string
	planRelations(tree, func(schema, name string) {
		k := tableKey(schema, name)
		switch {
		case !graph[k]:
			if bad == "" {
				bad = "it reads " + QuoteIdent(schema) + "." + QuoteIdent(name) + ", which the restore does not load as a table of its own"
			}
		case !seen[k]:
			seen[k] = true
			tables = append(tables, k)
		}
	})
	if bad != "" {
		return nil, bad
	}
	return tables, ""
}

// planRelations calls f with every relation a JSON plan (EXPLAIN (VERBOSE, FORMAT
// JSON)) scans: every node's "Relation Name" and "Schema", through every nested plan
// (subplans, CTEs, init plans).
func planRelations(v any, f func(schema, name string)) {
	switch v := v.(type) {
	case map[string]any:
		if name, ok := v["Relation Name"].(string); ok {
			schema, _ := v["Schema"].(string)
			f(schema, name)
		}
		for _, x := range v {
			planRelations(x, f)
		}
	case []any:
		for _, x := range v {
			planRelations(x, f)
		}
	}
}

// checkSteps are the graph's steps of the planned invariants. One runs once every
// table's data is loaded, the post-data "rest" (rules, policies, triggers) and the keys
// of tables the graph does not know ran, and the keys and ANALYZE of each table it reads
// are done (a plan without statistics could hit the time limit and refuse a good copy).
// It never fails the restore: its result is kept for drillInvariants.
func (r *restoreRun) checkSteps(byKey map[string]*graphTable, loads, unknownKeys []*step, rest *step) []*step {
	c := r.opts.checks
	out := make([]*step, 0, len(r.planned))
	for _, pc := range r.planned {
		i, inv := pc.i, c.invs[pc.i]
		s := &step{phase: phaseChecks, what: "invariant " + inv.Name, rank: rankCheck,
			run: func(ctx context.Context, conn *pgx.Conn) ([]*step, error) {
				res := runInvariant(ctx, conn, inv, c.timeout, checkLocal)
				res.InRestore = true
				c.results[i], c.ran[i] = res, true
				return nil, nil
			}}
		s.after(loads...)
		s.after(unknownKeys...)
		s.after(rest)
		for _, k := range pc.tables {
			gt := byKey[k]
			s.locks = append(s.locks, tableLock{k, lockAccessShare})
			s.size += gt.size
			s.after(gt.keys...)
			s.after(gt.analyze)
			gt.analyze.rank = rankCheckAnalyze
		}
		out = append(out, s)
	}
	return out
}
