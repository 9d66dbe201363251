package backup

// The restore graph's reading of pg_dump's post-data statements: which table a statement
// works on, which table a foreign key references, and the plain primary/unique key form
// that can be built as an index first (restore_graph.go schedules them).

import (
	"regexp"
	"strings"
)

// entryTable returns the table (tableKey) of a post-data statement that pg_dump writes
// as "CREATE [UNIQUE] INDEX name ON [ONLY] table ..." or "ALTER TABLE [ONLY] table ...",
// "" when the statement has another form.
func entryTable(sql string) string {
	s := strings.TrimSpace(sql)
	switch {
	case strings.HasPrefix(s, "CREATE INDEX "), strings.HasPrefix(s, "CREATE UNIQUE INDEX "):
		_, rest, ok := strings.Cut(s, " INDEX ")
		if !ok {
			return ""
		}
		if _, rest, ok = parseIdent(rest); !ok || !strings.HasPrefix(rest, " ON ") {
			return ""
		}
		rest = strings.TrimPrefix(strings.TrimPrefix(rest, " ON "), "ONLY ")
		schema, name, _, ok := parseQualName(rest)
		if !ok {
			return ""
		}
		return tableKey(schema, name)
	case strings.HasPrefix(s, "ALTER TABLE "):
		rest := strings.TrimPrefix(strings.TrimPrefix(s, "ALTER TABLE "), "ONLY ")
		schema, name, _, ok := parseQualName(rest)
		if !ok {
			return ""
		}
		return tableKey(schema, name)
	}
	return ""
}

// referencedTable returns the table after REFERENCES in pg_dump's ADD CONSTRAINT …
// FOREIGN KEY statement ("" if there is none or it does not parse).
func referencedTable(sql string) string {
	m := fkPattern.FindStringSubmatchIndex(sql)
	if m == nil {
		return ""
	}
	schema, name, _, ok := parseQualName(sql[m[1]:])
	if !ok {
		return ""
	}
	return tableKey(schema, name)
}

var fkPattern = regexp.MustCompile(`\n\s+ADD CONSTRAINT \S+ FOREIGN KEY \([^)]*\) REFERENCES `)

// keyPattern is pg_dump's plain primary key or unique constraint: no INCLUDE, WITH,
// tablespace, NULLS NOT DISTINCT or DEFERRABLE clause.
var keyPattern = regexp.MustCompile(`^ALTER TABLE ONLY (` + sqlIdent + `\.` + sqlIdent + `)\n    ADD CONSTRAINT (` + sqlIdent +
	`) (PRIMARY KEY|UNIQUE) (\([^();]*\));\s*$`)

// sqlIdent is an identifier as pg_dump writes it: quoted, or a bare lower-case word.
const sqlIdent = `(?:"(?:[^"]|"")+"|[a-z_\x{80}-\x{10FFFF}][a-z0-9_$\x{80}-\x{10FFFF}]*)`

// keyUsingIndex turns pg_dump's "ALTER TABLE ONLY t ADD CONSTRAINT c PRIMARY KEY (cols)"
// (or UNIQUE) into "CREATE UNIQUE INDEX c ON t USING btree (cols)" and "ALTER TABLE ONLY
// t ADD CONSTRAINT c PRIMARY KEY USING INDEX c": the same constraint and index (the
// index takes the constraint's name), built under a SHARE lock instead of ACCESS
// EXCLUSIVE. ok is false for any other form.
func keyUsingIndex(sql string) (build, attach string, ok bool) {
	m := keyPattern.FindStringSubmatch(sql)
	if m == nil {
		return "", "", false
	}
	if _, _, rest, ok := parseQualName(m[1]); !ok || rest != "" {
		return "", "", false
	}
	if _, rest, ok := parseIdent(m[2]); !ok || rest != "" {
		return "", "", false
	}
	build = "CREATE UNIQUE INDEX " + m[2] + " ON " + m[1] + " USING btree " + m[4] + ";"
	attach = "ALTER TABLE ONLY " + m[1] + " ADD CONSTRAINT " + m[2] + " " + m[3] + " USING INDEX " + m[2] + ";"
	return build, attach, true
}

// parseQualName reads pg_dump's schema.name at the start of s.
func parseQualName(s string) (schema, name, rest string, ok bool) {
	schema, rest, ok = parseIdent(s)
	if !ok || !strings.HasPrefix(rest, ".") {
		return "", "", "", false
	}
	name, rest, ok = parseIdent(rest[1:])
	return schema, name, rest, ok
}

// parseIdent reads one identifier as pg_dump quotes it: "…" with "" for a quote, or a
// bare lower-case word.
func parseIdent(s string) (id, rest string, ok bool) {
	if strings.HasPrefix(s, `"`) {
		var b strings.Builder
		for i := 1; i < len(s); i++ {
			if s[i] != '"' {
				b.WriteByte(s[i])
				continue
			}
			if i+1 < len(s) && s[i+1] == '"' {
				b.WriteByte('"')
				i++
				continue
			}
			return b.String(), s[i+1:], b.Len() > 0
		}
		return "", "", false
	}
	i := 0
	for i < len(s) && (s[i] == '_' || s[i] == '$' || s[i] >= 'a' && s[i] <= 'z' || s[i] >= '0' && s[i] <= '9' || s[i] >= 0x80) {
		i++
	}
	return s[:i], s[i:], i > 0
}
