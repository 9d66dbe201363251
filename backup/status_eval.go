package backup

import (
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"sort"
	"strings"
	"time"
)

// EvaluateStatus turns facts into a report. Rules:
//   - store unreachable: UNKNOWN; no complete snapshot or an unreadable newest manifest:
//     CRITICAL; latest snapshot older than SnapshotWarn/SnapshotCrit: WARNING/CRITICAL;
//   - standby server given but unreachable, or without a verified copy, or its serving
//     copy does not accept connections (datallowconn, a real session): CRITICAL;
//     its data (now − source time) older than StandbyWarn/StandbyCrit: WARNING/CRITICAL;
//     without a server, the serving record of the store's last attempt is judged instead;
//   - last standby attempt failed: CRITICAL with its error; unreadable: UNKNOWN.
//
// The overall level is the most severe finding (CRITICAL > UNKNOWN > WARNING > OK).
func EvaluateStatus(f *StatusFacts, th StatusThresholds) *StatusReport {
	now := f.Now.UTC()
	j := &judge{now: now, hint: f.Hint, r: &StatusReport{Checked: now, Store: f.Store, Limits: th, Problems: []StatusProblem{},
		Thresholds: map[string]int64{
			"snapshot_warn_age": int64(th.SnapshotWarn.Seconds()), "snapshot_crit_age": int64(th.SnapshotCrit.Seconds()),
			"standby_warn_age": int64(th.StandbyWarn.Seconds()), "standby_crit_age": int64(th.StandbyCrit.Seconds()),
		}}}
	j.r.Databases = f.Databases
	if f.DatabasesErr != nil {
		j.r.DatabasesError = f.DatabasesErr.Error()
		j.add(LevelWarning, "store", "per-database facts unreadable (forget refuses to run until fixed): %v", f.DatabasesErr)
	}
	j.wal(f, th)
	j.pitr(f, th)
	j.snapshot(f, th)
	j.standby(f, th)
	j.attempt(f)
	j.verdict()
	return j.r
}

// judge builds one StatusReport from facts, one component at a time.
type judge struct {
	now  time.Time
	hint Hinter
	r    *StatusReport
}

func (j *judge) add(l Level, component, format string, args ...any) {
	j.r.Problems = append(j.r.Problems, StatusProblem{State: l.String(), Component: component, Message: fmt.Sprintf(format, args...), level: l})
}

// hintText is the caller's wording of fix ("" without a Hinter).
func (j *judge) hintText(fix Fix, arg string) string {
	if j.hint == nil {
		return ""
	}
	return j.hint(fix, arg)
}

// addFix adds a problem whose message ends with the caller's wording of fix.
func (j *judge) addFix(l Level, component string, fix Fix, arg, format string, args ...any) {
	j.add(l, component, "%s", fmt.Sprintf(format, args...)+j.hintText(fix, arg))
}

// age adds a warning or critical problem when d is over a limit.
func (j *judge) age(limitWarn, limitCrit, d time.Duration, component, what string) {
	switch {
	case d > limitCrit:
		j.add(LevelCritical, component, "%s %s old (limit %s)", what, HumanDuration(d), HumanDuration(limitCrit))
	case d > limitWarn:
		j.add(LevelWarning, component, "%s %s old (limit %s)", what, HumanDuration(d), HumanDuration(limitWarn))
	}
}

// snapshot judges the store and its latest snapshot.
func (j *judge) snapshot(f *StatusFacts, th StatusThresholds) {
	s := &j.r.Snapshot
	s.Count = f.Snapshots
	j.r.StoreOK = f.StoreErr == nil
	switch {
	case f.StoreErr != nil:
		s.Error = f.StoreErr.Error()
		j.add(LevelUnknown, "store", "store unreachable: %v", f.StoreErr)
	case f.Snapshots == 0:
		j.add(LevelCritical, "snapshot", "no complete snapshot in the store")
	case f.LatestErr != nil:
		s.Error = f.LatestErr.Error()
		j.add(LevelCritical, "snapshot", "latest snapshot unreadable: %v", f.LatestErr)
	case f.Latest != nil:
		m := f.Latest
		taken := m.Started.UTC()
		a := j.now.Sub(taken)
		secs := int64(a.Seconds())
		s.ID, s.Database, s.Taken, s.AgeSeconds = m.ID, m.Database, &taken, &secs
		s.Tables, s.Rows, s.RawBytes, s.StoredBytes = m.Totals.Tables, m.Totals.Rows, m.Totals.RawBytes, m.Totals.StoredBytes
		s.Encrypted, s.Signed, s.Recipients = m.Encryption != "", m.SignedBy != "", m.Recipients
		if s.Encrypted && len(f.Identities) > 0 && !overlap(f.Identities, m.Recipients) {
			j.add(LevelWarning, "snapshot", "the configured identities (%s) cannot decrypt the latest snapshot (encrypted to %s): "+
				"restores and the standby drill will fail", strings.Join(f.Identities, ", "), strings.Join(m.Recipients, ", "))
		}
		j.age(th.SnapshotWarn, th.SnapshotCrit, a, "snapshot", "latest snapshot of "+m.Database)
	}
}

// standby judges the copy the standby serves: from the standby server when it was
// checked, else from the store's last attempt record.
func (j *judge) standby(f *StatusFacts, th StatusThresholds) {
	sb := &j.r.Standby
	sb.Database = f.Database
	sb.Source = "not checked"
	sb.LastAttempt = f.Attempt
	serving := f.Standby
	if f.StandbyChecked {
		sb.Source = "standby server"
		sb.PreviousChecked = f.StandbyErr == nil || errors.Is(f.StandbyErr, fs.ErrNotExist)
		sb.Previous = f.Previous
		switch {
		case f.StandbyErr == nil && f.ServingErr != nil:
			sb.Error = f.ServingErr.Error()
			j.add(LevelCritical, "standby", "standby %s cannot serve: %s", f.Database, Message(f.ServingErr, j.hint))
		case f.StandbyErr == nil:
		case errors.Is(f.StandbyErr, errStandbyName):
			sb.Error = f.StandbyErr.Error() + j.hintText(FixStandbyName, "")
			j.add(LevelUnknown, "standby", "standby not checked: %s", sb.Error)
		case errors.Is(f.StandbyErr, fs.ErrNotExist):
			sb.Error = strings.TrimSuffix(f.StandbyErr.Error(), ": "+fs.ErrNotExist.Error())
			if sb.Error == "standby database "+f.Database {
				sb.Error = "database " + f.Database + " does not exist on the standby server"
			}
			j.addFix(LevelCritical, "standby", FixStandbyCopyName, "", "standby %s has no verified copy: %s", f.Database, sb.Error)
		default:
			sb.Error = f.StandbyErr.Error()
			j.add(LevelCritical, "standby", "standby server unreachable: %v", f.StandbyErr)
		}
	} else if f.Attempt != nil && f.Attempt.Serving != nil {
		sb.Source = "store (last attempt)"
		serving = f.Attempt.Serving
	}
	if serving == nil {
		return
	}
	sb.Serving = serving
	for _, inv := range serving.Invariants {
		if inv.Level == InvariantWarning {
			j.add(LevelWarning, "invariant", "served copy breaks invariant %s (no more than the copy before it)", inv.String())
		}
	}
	d := j.now.Sub(serving.SourceTime)
	secs := int64(d.Seconds())
	sb.DataAgeSeconds = &secs
	j.age(th.StandbyWarn, th.StandbyCrit, d, "standby", "standby "+f.Database+" data")
	if f.Latest != nil && serving.Snapshot == f.Latest.ID {
		v := serving.Verified.UTC()
		j.r.Snapshot.VerifiedByStandby, j.r.Snapshot.StandbyVerified = true, &v
	}
}

// attempt judges the store's record of the last standby refresh.
func (j *judge) attempt(f *StatusFacts) {
	switch {
	case f.AttemptErr != nil:
		j.r.Standby.AttemptError = f.AttemptErr.Error()
		j.add(LevelUnknown, "attempt", "cannot read the last standby attempt: %v", f.AttemptErr)
	case f.Attempt != nil && !f.Attempt.OK:
		a := f.Attempt
		j.add(LevelCritical, "attempt", "last standby refresh of %s (snapshot %s) failed at %s: %s", a.Database, a.Snapshot,
			a.Finished.UTC().Format(time.RFC3339), a.Error)
	}
}

// verdict orders the problems and sets the report's code, state and summary.
func (j *judge) verdict() {
	r := j.r
	// Most severe first; among equals, a failed attempt first: it is the cause the
	// operator acts on, the ages are its consequence.
	sort.SliceStable(r.Problems, func(i, j int) bool {
		a, b := r.Problems[i], r.Problems[j]
		if a.level.rank() != b.level.rank() {
			return a.level.rank() > b.level.rank()
		}
		return a.Component == "attempt" && b.Component != "attempt"
	})
	r.Code = LevelOK
	for _, p := range r.Problems {
		if p.level.rank() > r.Code.rank() {
			r.Code = p.level
		}
	}
	r.State = r.Code.String()
	if len(r.Problems) > 0 {
		msgs := make([]string, len(r.Problems))
		for i, p := range r.Problems {
			msgs[i] = shorten(p.Message, 500)
		}
		r.Summary = strings.Join(msgs, "; ")
	} else {
		r.Summary = okSummary(r)
	}
}

func overlap(a, b []string) bool {
	for _, x := range a {
		if slices.Contains(b, x) {
			return true
		}
	}
	return false
}

// wal judges the WAL archive's age, when the store holds one.
func (j *judge) wal(f *StatusFacts, th StatusThresholds) {
	switch {
	case f.WALErr != nil:
		j.r.WAL = &WALStatus{Error: f.WALErr.Error()}
		j.add(LevelUnknown, "wal", "WAL archive unreadable: %v", f.WALErr)
	case f.WALNewest != nil:
		age := j.now.Sub(*f.WALNewest)
		j.r.WAL = &WALStatus{Newest: f.WALNewest.UTC(), AgeSeconds: int64(age.Seconds())}
		if th.WALCrit > 0 {
			j.age(th.WALWarn, th.WALCrit, age, "wal", "newest archived WAL segment")
		}
		for _, m := range f.WALMissing {
			j.r.WAL.Missing = append(j.r.WAL.Missing, m.Name)
		}
		if n := len(f.WALMissing); n > 0 {
			j.add(LevelCritical, "wal", "WAL archive gap: %d segment(s) missing after the oldest base backup, first %s: "+
				"no recovery can replay past it (linkbackup verify --wal lists them; take a new base backup)", n, f.WALMissing[0].Name)
		}
	}
}

// pitr judges the nightly point-in-time proof, when the store holds a base backup (or a
// proof was recorded): never proven is a WARNING, a failed last proof CRITICAL, and the
// newest proven point is judged by age.
func (j *judge) pitr(f *StatusFacts, th StatusThresholds) {
	if f.PITRErr == nil && f.BaseBackups == 0 && f.PITR == nil {
		return
	}
	p := &PITRStatus{BaseBackups: f.BaseBackups, Last: f.PITR}
	j.r.PITR = p
	rec := f.PITR
	switch {
	case f.PITRErr != nil:
		p.Error = f.PITRErr.Error()
		j.add(LevelUnknown, "pitr", "point-in-time proof unreadable: %v", f.PITRErr)
		return
	case rec == nil:
		j.add(LevelWarning, "pitr", "point-in-time recovery never proven: the store holds %d base backup(s); "+
			"the nightly proves it against each night's snapshot (drill.pitr, needs wal_level = logical on the source)", f.BaseBackups)
		return
	case rec.OK:
		t := rec.PointTime.UTC()
		p.ProvenTo = &t
	case rec.LastProven != nil:
		t := rec.LastProven.UTC()
		p.ProvenTo = &t
	}
	if !rec.OK {
		j.add(LevelCritical, "pitr", "point-in-time recovery to snapshot %s NOT proven (%s): %s", rec.Snapshot,
			rec.Finished.UTC().Format(time.RFC3339), rec.Error)
	}
	if p.ProvenTo != nil {
		age := j.now.Sub(*p.ProvenTo)
		secs := int64(age.Seconds())
		p.AgeSeconds = &secs
		if th.PITRCrit > 0 {
			j.age(th.PITRWarn, th.PITRCrit, age, "pitr", "newest point proven by point-in-time recovery")
		}
	}
}
