// Package statusview renders a backup.StatusReport for its readers: the Nagios/Icinga
// plugin output (a status line with performance data, then details for a human) and a
// node_exporter textfile. backup.EvaluateStatus judges; this package only presents.
package statusview

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/linkagogo/linkbackup/backup"
)

type perfDatum struct {
	label, unit      string
	value            int64
	warn, crit, minv string
}

// perfData is the Nagios performance data of a report: the latest snapshot's age and
// stored size (when one was read), the snapshot count (when the store answered), and the
// standby's data age (when a serving record was judged).
func perfData(r *backup.StatusReport) []perfDatum {
	var perf []perfDatum
	th := r.Limits
	if s := &r.Snapshot; s.Taken != nil {
		perf = append(perf, perfDatum{label: "snapshot_age", unit: "s", value: *s.AgeSeconds,
			warn: secsStr(th.SnapshotWarn), crit: secsStr(th.SnapshotCrit), minv: "0"},
			perfDatum{label: "snapshot_stored_bytes", unit: "B", value: s.StoredBytes, minv: "0"})
	}
	if r.StoreOK {
		perf = append(perf, perfDatum{label: "snapshots", value: int64(r.Snapshot.Count), minv: "0"})
	}
	if sb := &r.Standby; sb.Serving != nil {
		perf = append(perf, perfDatum{label: "standby_data_age", unit: "s", value: *sb.DataAgeSeconds,
			warn: secsStr(th.StandbyWarn), crit: secsStr(th.StandbyCrit), minv: "0"})
	}
	return perf
}

// WriteText writes the Nagios/Icinga plugin output: one status line with performance
// data, then the details for a human.
func WriteText(w io.Writer, r *backup.StatusReport) error { return writeText(w, r, nil) }

func writeText(w io.Writer, r *backup.StatusReport, m *Mail) error {
	var b strings.Builder
	fmt.Fprintf(&b, "LINKBACKUP %s - %s", r.State, oneLine(r.Summary))
	if perf := perfData(r); len(perf) > 0 {
		b.WriteString(" |")
		for _, p := range perf {
			fmt.Fprintf(&b, " %s=%d%s;%s;%s;%s", p.label, p.value, p.unit, p.warn, p.crit, p.minv)
		}
	}
	b.WriteString("\n")
	line := func(head, format string, args ...any) {
		fmt.Fprintf(&b, "%-10s %s\n", head, fmt.Sprintf(format, args...))
	}
	line("store", "%s", r.Store)
	textSnapshot(line, r)
	if w := r.WAL; w != nil && w.Error == "" {
		line("wal", "newest segment archived %s, %s ago: a point-in-time recovery loses at most that", ts(w.Newest),
			backup.HumanDuration(time.Duration(w.AgeSeconds)*time.Second))
		if len(w.Missing) > 0 {
			line("", "MISSING %s", strings.Join(w.Missing, ", "))
		}
	}
	textPITR(line, r)
	textStandby(line, r)
	for _, d := range r.Databases {
		line("database", "%s", databaseLine(d))
		for _, p := range d.Pins {
			line("", "pinned %s: %s (by %s, %s)", p.Snapshot, p.Reason, p.By, ts(p.Created))
		}
	}
	if r.DatabasesError != "" {
		line("database", "unknown: %s", r.DatabasesError)
	}
	mailLines(line, m)
	for _, p := range r.Problems {
		line("problem", "%s %s: %s", p.State, p.Component, p.Message)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// WritePrometheus writes the report as a node_exporter textfile. Metrics whose value is
// unknown (no snapshot, no standby) are left out rather than written as 0.
func WritePrometheus(w io.Writer, r *backup.StatusReport) error {
	return WritePrometheusMail(w, r, nil)
}

// gauges are the report's metrics (see metrics.go for their exposition).
func gauges(r *backup.StatusReport) []gauge {
	var g gauges_
	g.add("linkbackup_status_code", "Result of the last linkbackup status check: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN.", nil, int64(r.Code))
	g.add("linkbackup_status_checked_timestamp_seconds", "When the status check ran (Unix time).", nil, r.Checked.Unix())
	if p := r.PITR; p != nil && p.ProvenTo != nil {
		g.add("linkbackup_pitr_proven_timestamp_seconds", "Newest snapshot point a point-in-time recovery reproduced, table by table (Unix time).", nil, p.ProvenTo.Unix())
	}
	if p := r.PITR; p != nil && p.Last != nil {
		g.add("linkbackup_pitr_last_proof_ok", "1 if the last nightly point-in-time proof passed.", nil, b2i(p.Last.OK))
	}
	if w := r.WAL; w != nil && w.Error == "" {
		g.add("linkbackup_wal_newest_archived_timestamp_seconds", "When the newest WAL segment was archived (Unix time): the point-in-time recovery point.", nil, w.Newest.Unix())
	}
	switch {
	case len(r.Databases) > 0:
		databaseGauges(&g, r.Databases)
	case r.StoreOK:
		g.add("linkbackup_snapshots", "Complete snapshots in the store.", nil, int64(r.Snapshot.Count))
	}
	if s := &r.Snapshot; s.ID != "" {
		l := labels("database", s.Database)
		g.add("linkbackup_last_snapshot_timestamp_seconds", "Start (data point) of the latest complete snapshot (Unix time).", l, s.Taken.Unix())
		g.add("linkbackup_last_snapshot_stored_bytes", "Stored (compressed) size of the latest snapshot.", l, s.StoredBytes)
		g.add("linkbackup_last_snapshot_raw_bytes", "Uncompressed size of the latest snapshot's data.", l, s.RawBytes)
		g.add("linkbackup_last_snapshot_rows", "Rows in the latest snapshot.", l, s.Rows)
		g.add("linkbackup_last_snapshot_verified_by_standby", "1 if the standby serves the latest snapshot, restored and proven.", l, b2i(s.VerifiedByStandby))
	}
	sb := &r.Standby
	l := labels("database", sb.Database)
	if v := sb.Serving; v != nil {
		g.add("linkbackup_standby_verified_timestamp_seconds", "When the standby's serving copy was proven equal to its snapshot (Unix time).", l, v.Verified.Unix())
		g.add("linkbackup_standby_source_timestamp_seconds", "Source time of the data the standby serves (Unix time).", l, v.SourceTime.Unix())
		g.add("linkbackup_standby_data_age_seconds", "Age of the standby's data at the check (now - source time).", l, *sb.DataAgeSeconds)
		for _, inv := range v.Invariants {
			g.add("linkbackup_invariant_violations", "Rows violating each drill invariant on the served copy.",
				[]string{"database", sb.Database, "invariant", inv.Name}, inv.Violations)
		}
	}
	if sb.PreviousChecked {
		g.add("linkbackup_standby_previous_copy", "1 if the standby keeps a previous copy to fall back to.", l, b2i(sb.Previous != nil))
	}
	if a := sb.LastAttempt; a != nil {
		g.add("linkbackup_standby_last_attempt_ok", "1 if the last standby refresh succeeded, 0 if it failed.", l, b2i(a.OK))
		g.add("linkbackup_standby_last_attempt_timestamp_seconds", "When the last standby refresh finished (Unix time).", l, a.Finished.Unix())
	}
	return g
}

// labels is one label pair, none when the value is empty (unknown).
func labels(k, v string) []string {
	if v == "" {
		return nil
	}
	return []string{k, v}
}

func b2i(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

func secsStr(d time.Duration) string { return strconv.FormatInt(int64(d.Seconds()), 10) }

// oneLine keeps the plugin's first line one line: newlines and '|' (the performance
// data separator) are replaced.
func oneLine(s string) string {
	return strings.NewReplacer("\r", " ", "\n", " ", "|", "/").Replace(s)
}

// writeInvariants adds a summary line and one line per invariant that did not hold.
func writeInvariants(line func(key, format string, args ...any), what string, rs []backup.InvariantResult) {
	if len(rs) == 0 {
		return
	}
	held := 0
	for _, r := range rs {
		if r.Level == backup.InvariantOK {
			held++
		}
	}
	line("", "%s: %d of %d hold (%s)", what, held, len(rs), backup.WorstInvariant(rs))
	for _, r := range rs {
		if r.Level != backup.InvariantOK {
			line("", "  %s %s", r.Level, r.String())
		}
	}
}

// databaseLine is one database's line of the text output.
func databaseLine(d backup.DatabaseStatus) string {
	proven := "none proven by a standby drill yet"
	if d.NewestProvenTime != nil {
		proven = "newest proven " + d.NewestProven
	}
	plural := "s"
	if d.Snapshots == 1 {
		plural = ""
	}
	return fmt.Sprintf("%s: %d snapshot%s, %s stored, oldest restorable %s, %s, %d pinned", d.Database, d.Snapshots, plural,
		backup.HumanBytes(d.StoredBytes), d.Oldest.UTC().Format("2006-01-02 15:04:05 UTC"), proven, len(d.Pins))
}

// databaseGauges adds the per-database gauges.
func databaseGauges(g *gauges_, dbs []backup.DatabaseStatus) {
	for _, d := range dbs {
		l := labels("database", d.Database)
		g.add("linkbackup_snapshots", "Complete snapshots in the store, per database.", l, int64(d.Snapshots))
		g.add("linkbackup_store_bytes", "Bytes stored by the complete snapshots of the database.", l, d.StoredBytes)
		g.add("linkbackup_oldest_snapshot_timestamp_seconds", "Start of the oldest complete snapshot: the oldest restorable point (Unix time).", l, d.Oldest.Unix())
		if d.NewestProvenTime != nil {
			g.add("linkbackup_newest_proven_snapshot_timestamp_seconds", "Start of the newest snapshot a standby drill proved (Unix time); absent when none.", l, d.NewestProvenTime.Unix())
		}
		g.add("linkbackup_pinned_snapshots", "Pinned snapshots of the database (kept whatever the retention policy says).", l, int64(len(d.Pins)))
	}
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// ts formats a time in the text output.
func ts(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05 UTC") }

// textSnapshot writes the latest snapshot's lines.
func textSnapshot(line func(head, format string, args ...any), r *backup.StatusReport) {
	s := &r.Snapshot
	switch {
	case s.ID != "":
		line("snapshot", "%s of %s, taken %s, %s old (warn %s, crit %s)", s.ID, s.Database, ts(*s.Taken),
			backup.HumanDuration(time.Duration(*s.AgeSeconds)*time.Second), backup.HumanDuration(r.Limits.SnapshotWarn), backup.HumanDuration(r.Limits.SnapshotCrit))
		plural := "s"
		if s.Count == 1 {
			plural = ""
		}
		line("", "%d tables, %d rows, %s stored (%s raw); %d complete snapshot%s in the store", s.Tables, s.Rows,
			backup.HumanBytes(s.StoredBytes), backup.HumanBytes(s.RawBytes), s.Count, plural)
		line("", "encrypted %s, signed %s", yesNo(s.Encrypted), yesNo(s.Signed))
		if s.VerifiedByStandby {
			line("", "verified by the standby drill at %s", ts(*s.StandbyVerified))
		} else {
			line("", "not yet verified by a standby drill")
		}
	case s.Error != "":
		line("snapshot", "unknown: %s", s.Error)
	default:
		line("snapshot", "none: the store holds no complete snapshot")
	}
}

// textStandby writes the standby's lines: the serving copy, the previous one, the last run.
func textStandby(line func(head, format string, args ...any), r *backup.StatusReport) {
	sb := &r.Standby
	switch {
	case sb.Serving != nil:
		v := sb.Serving
		line("standby", "%s serves %s (source time %s), verified %s, data %s old (warn %s, crit %s)", sb.Database, v.Snapshot,
			ts(v.SourceTime), ts(v.Verified), backup.HumanDuration(time.Duration(*sb.DataAgeSeconds)*time.Second),
			backup.HumanDuration(r.Limits.StandbyWarn), backup.HumanDuration(r.Limits.StandbyCrit))
		line("", "%d tables, %d rows; restore %.1fs, swap %.2fs; read from the %s", v.Tables, v.Rows, v.RestoreSeconds, v.SwapSeconds, sb.Source)
		if v.Identity != "" {
			line("", "decrypted with identity %s at %s: the key works", v.Identity, ts(v.Verified))
		}
		writeInvariants(line, "invariants of the served copy", v.Invariants)
	case sb.Error != "" && sb.Database == "":
		line("standby", "%s", sb.Error)
	case sb.Error != "":
		line("standby", "%s: %s", sb.Database, sb.Error)
	case sb.Source == "not checked":
		line("standby", "not checked (no --standby, and no standby attempt recorded in the store)")
	}
	if sb.PreviousChecked {
		if sb.Previous != nil {
			line("", "previous copy %s%s holds %s", sb.Database, backup.PreviousSuffix, sb.Previous.Snapshot)
		} else {
			line("", "no previous copy (%s%s absent: normal until the second refresh)", sb.Database, backup.PreviousSuffix)
		}
	}
	switch a := sb.LastAttempt; {
	case sb.AttemptError != "":
		line("last run", "unknown: %s", sb.AttemptError)
	case a == nil:
		line("last run", "no standby refresh recorded in the store")
	case a.OK:
		line("last run", "standby refresh of %s ok, finished %s", a.Snapshot, ts(a.Finished))
	default:
		line("last run", "standby refresh of %s FAILED at %s: %s", a.Snapshot, ts(a.Finished), a.Error)
		writeInvariants(line, "invariants of the refused copy", a.Invariants)
	}
}

// textPITR is the point-in-time proof line.
func textPITR(line func(head, format string, args ...any), r *backup.StatusReport) {
	p := r.PITR
	switch {
	case p == nil:
		return
	case p.Error != "":
		line("pitr", "unknown: %s", p.Error)
	case p.Last == nil:
		line("pitr", "point-in-time recovery never proven (%d base backup(s) in the store)", p.BaseBackups)
	case p.Last.OK:
		l := p.Last
		line("pitr", "point-in-time recovery proven to %s (snapshot %s, lsn %s, from base backup %s: %d tables, %d rows equal; recovery %.1fs)",
			ts(l.PointTime), l.Snapshot, l.LSN, l.BaseBackup, l.Tables, l.Rows, l.RecoverySeconds)
	default:
		l := p.Last
		line("pitr", "point-in-time recovery to snapshot %s FAILED %s", l.Snapshot, ts(l.Finished))
		if p.ProvenTo != nil {
			line("", "last proven to %s", ts(*p.ProvenTo))
		}
	}
}
