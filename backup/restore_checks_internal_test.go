package backup

import (
	"encoding/json"
	"slices"
	"testing"
)

// TestPlanRelations: every scanned relation of a JSON plan, through nested plans, CTEs
// and init plans; nodes without a relation (CTE and function scans) add none.
func TestPlanRelations(t *testing.T) {
	// EXPLAIN (VERBOSE, FORMAT JSON) of a query over members, a materialized CTE over
	// folders and an EXISTS over links (PostgreSQL 15, trimmed), plus a function scan.
	plan := `[{"Plan": {"Node Type": "Aggregate", "Plans": [{"Node Type": "Nested Loop", "Parent Relationship": "Outer", "Plans": [
		{"Node Type": "Hash Join", "Parent Relationship": "Outer", "Plans": [
			{"Node Type": "Seq Scan", "Parent Relationship": "Outer", "Relation Name": "members", "Schema": "public", "Alias": "m"},
			{"Node Type": "Hash", "Parent Relationship": "Inner", "Plans": [{"Node Type": "Aggregate", "Parent Relationship": "Outer", "Plans": [
				{"Node Type": "CTE Scan", "Parent Relationship": "Outer", "CTE Name": "c", "Alias": "c", "Plans": [
					{"Node Type": "Seq Scan", "Parent Relationship": "InitPlan", "Subplan Name": "CTE c", "Relation Name": "folders", "Schema": "public", "Alias": "folders"}]}]}]}]},
		{"Node Type": "Index Only Scan", "Parent Relationship": "Inner", "Relation Name": "links", "Schema": "public", "Alias": "l"},
		{"Node Type": "Function Scan", "Function Name": "pg_sleep", "Schema": "pg_catalog", "Alias": "s"},
		{"Node Type": "Seq Scan", "Relation Name": "links", "Schema": "Odd \"s\"", "Alias": "x"}]}]}}]`
	var tree any
	if err := json.Unmarshal([]byte(plan), &tree); err != nil {
		t.Fatal(err)
	}
	var got []string
	planRelations(tree, func(schema, name string) { got = append(got, schema+"."+name) })
	slices.Sort(got)
	if want := []string{`Odd "s".links`, "public.folders", "public.links", "public.members"}; !slices.Equal(got, want) {
		t.Fatalf("relations %v, want %v", got, want)
	}
}
