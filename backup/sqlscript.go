package backup

import (
	"bufio"
	"io"
	"regexp"
	"strings"
)

// dumpEntry is one object of a pg_dump plain-format script: the statement(s) under one
// "-- Name: …; Type: …; Schema: …; Owner: …" header.
type dumpEntry struct {
	Name, Type, Schema, Owner string
	SQL                       string
}

// dumpScript is a parsed pg_dump --schema-only section: the SET preamble every session
// must run first, and the entries in order.
type dumpScript struct {
	Preamble string
	Entries  []dumpEntry
}

var tocHeader = regexp.MustCompile(`^-- (?:Data for )?Name: (.*); Type: (.*); Schema: (.*); Owner: (.*)$`)

// parseDump splits pg_dump's plain output into entries by its TOC comment headers. psql
// meta-commands (\restrict and \unrestrict, written by pg_dump 15.14+ and 17.6+) are
// dropped: they are for psql, and the statements run through the protocol here.
func parseDump(r io.Reader) (*dumpScript, error) {
	s := &dumpScript{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 256<<20)
	var cur *dumpEntry
	var b strings.Builder
	flush := func() {
		if cur == nil {
			s.Preamble = b.String()
		} else {
			cur.SQL = strings.TrimSpace(b.String())
			if cur.SQL != "" {
				s.Entries = append(s.Entries, *cur)
			}
		}
		b.Reset()
	}
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, `\restrict `) || strings.HasPrefix(line, `\unrestrict `) {
			continue
		}
		if m := tocHeader.FindStringSubmatch(line); m != nil {
			flush()
			cur = &dumpEntry{Name: m[1], Type: m[2], Schema: m[3], Owner: m[4]}
			continue
		}
		if line == "--" || strings.HasPrefix(line, "-- PostgreSQL database dump") || strings.HasPrefix(line, "-- Dumped ") {
			continue
		}
		b.WriteString(line)
		b.WriteByte('\n')
	}
	flush()
	return s, sc.Err()
}

var ownerStmt = regexp.MustCompile(`(?m)^ALTER [A-Z ]+ .* OWNER TO [^;]+;\s*$`)

// withoutOwners drops the "ALTER … OWNER TO …;" statements of entries (--no-owner).
func withoutOwners(sql string) string { return ownerStmt.ReplaceAllString(sql, "") }

// script joins the preamble and entries back into one SQL script.
func (s *dumpScript) script(noOwner bool) string {
	var b strings.Builder
	b.WriteString(s.Preamble)
	for _, e := range s.Entries {
		sql := e.SQL
		if noOwner {
			sql = withoutOwners(sql)
		}
		b.WriteString(sql)
		b.WriteString("\n\n")
	}
	return b.String()
}
