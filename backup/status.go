package backup

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"time"

	"github.com/linkagogo/linkbackup/internal/human"
)

// Level is the result of a status check in the Nagios/Icinga plugin convention; its
// value is the exit code of `linkbackup status`.
type Level int

// Status levels.
const (
	LevelOK       Level = 0
	LevelWarning  Level = 1
	LevelCritical Level = 2
	LevelUnknown  Level = 3
)

func (l Level) String() string {
	switch l {
	case LevelOK:
		return "OK"
	case LevelWarning:
		return "WARNING"
	case LevelCritical:
		return "CRITICAL"
	}
	return "UNKNOWN"
}

// rank orders levels by severity: CRITICAL > UNKNOWN > WARNING > OK (a known failure
// outranks not knowing; not knowing outranks a warning).
func (l Level) rank() int {
	switch l {
	case LevelOK:
		return 0
	case LevelWarning:
		return 1
	case LevelUnknown:
		return 2
	}
	return 3
}

// StatusThresholds are the age limits of a status check. Ages count from the snapshot's
// start, the moment its data is consistent.
type StatusThresholds struct {
	SnapshotWarn, SnapshotCrit time.Duration // latest snapshot
	StandbyWarn, StandbyCrit   time.Duration // data served by the standby
	// WALWarn, WALCrit: the newest archived WAL segment is older (the point-in-time
	// recovery point objective); 0: not judged. Only a store holding WAL is judged.
	WALWarn, WALCrit time.Duration
	// PITRWarn, PITRCrit: the newest point proven by the nightly point-in-time proof is
	// older; 0: not judged. Judged only when the store holds a base backup.
	PITRWarn, PITRCrit time.Duration
}

// StatusFacts is everything a status check looks at. GatherStatus reads them from the
// store and the standby server; tests build them directly.
type StatusFacts struct {
	Now time.Time
	// WALNewest is the archive time of the newest archived WAL segment (nil: the store
	// holds no WAL); WALErr: the archive could not be read.
	WALNewest *time.Time
	WALErr    error
	// BaseBackups: complete base backups in the store; PITR: the last point-in-time
	// proof of the latest snapshot's database (nil: none); PITRErr: unreadable.
	BaseBackups int
	PITR        *PITRRecord
	PITRErr     error
	// WALMissing: segments missing between the oldest base backup's start and the newest
	// archived segment (a recovery cannot pass them).
	WALMissing []MissingSegment
	Identities []string // see StatusOptions.Identities
	Hint       Hinter   // words the fixes in problem messages (nil: none)
	Store      string   // store URL as shown (no secrets)
	StoreErr   error    // the store could not be opened or listed
	Snapshots  int      // complete snapshots in the store
	Latest     *Manifest
	LatestErr  error // the newest manifest could not be read
	// Database is the serving name on the standby ("" when unknown).
	Database string
	// StandbyChecked: a standby server was given and asked.
	StandbyChecked bool
	Standby        *StandbyRecord // what the standby serves
	StandbyErr     error          // reading it failed (fs.ErrNotExist: no verified copy)
	Previous       *StandbyRecord // <db>__previous, if present
	Attempt        *StandbyAttempt
	AttemptErr     error // reading the attempt record failed (other than not found)
	// Databases: per database in the store (status_store.go); DatabasesErr: unreadable.
	Databases    []DatabaseStatus
	DatabasesErr error

	// ServingErr: the serving copy does not accept connections (datallowconn false, or a
	// session to it fails); checked when its record was read.
	ServingErr error
}

// StatusProblem is one finding that makes a check worse than OK.
type StatusProblem struct {
	State     string `json:"state"`
	Component string `json:"component"` // store, snapshot, standby, attempt
	Message   string `json:"message"`
	level     Level
}

// SnapshotStatus describes the latest snapshot.
type SnapshotStatus struct {
	Count       int        `json:"count"`
	ID          string     `json:"id,omitempty"`
	Database    string     `json:"database,omitempty"`
	Taken       *time.Time `json:"taken,omitempty"`
	AgeSeconds  *int64     `json:"age_seconds,omitempty"`
	Tables      int        `json:"tables,omitempty"`
	Rows        int64      `json:"rows,omitempty"`
	RawBytes    int64      `json:"raw_bytes,omitempty"`
	StoredBytes int64      `json:"stored_bytes,omitempty"`
	// VerifiedByStandby: the standby serves this very snapshot, restored and proven.
	VerifiedByStandby bool       `json:"verified_by_standby"`
	StandbyVerified   *time.Time `json:"standby_verified,omitempty"`
	// Encrypted and Signed describe the latest snapshot (from its manifest, which status
	// reads without keys); Recipients are the fingerprints it is encrypted to.
	Encrypted  bool     `json:"encrypted"`
	Signed     bool     `json:"signed"`
	Recipients []string `json:"recipients,omitempty"`
	Error      string   `json:"error,omitempty"`
}

// StandbyStatus describes the standby copy and the last refresh attempt.
type StandbyStatus struct {
	Database string `json:"database,omitempty"`
	// Source says where the serving record came from: "standby server", "store (last
	// attempt)", or "not checked".
	Source          string          `json:"source"`
	Serving         *StandbyRecord  `json:"serving,omitempty"`
	DataAgeSeconds  *int64          `json:"data_age_seconds,omitempty"`
	PreviousChecked bool            `json:"previous_checked"`
	Previous        *StandbyRecord  `json:"previous,omitempty"`
	Error           string          `json:"error,omitempty"`
	LastAttempt     *StandbyAttempt `json:"last_attempt,omitempty"`
	AttemptError    string          `json:"last_attempt_error,omitempty"`
}

// StatusReport is the evaluated answer to "is everything ready this morning?".
type StatusReport struct {
	State      string           `json:"state"`
	Code       Level            `json:"code"`
	Summary    string           `json:"summary"`
	Checked    time.Time        `json:"checked"`
	Store      string           `json:"store"`
	Thresholds map[string]int64 `json:"thresholds_seconds"`
	Snapshot   SnapshotStatus   `json:"snapshot"`
	Standby    StandbyStatus    `json:"standby"`
	Problems   []StatusProblem  `json:"problems"`
	// WAL: the archive's newest segment time and age (omitted when the store holds no WAL).
	WAL *WALStatus `json:"wal,omitempty"`
	// PITR: the nightly point-in-time proof (omitted when the store holds no base backup
	// and no proof record).
	PITR *PITRStatus `json:"pitr,omitempty"`
	// Databases: snapshots, bytes, oldest restorable time, newest proven, pins per database.
	Databases      []DatabaseStatus `json:"databases,omitempty"`
	DatabasesError string           `json:"databases_error,omitempty"`
	// Limits are the thresholds the report was judged by.
	Limits StatusThresholds `json:"-"`
	// StoreOK: the store answered (its snapshot list was read).
	StoreOK bool `json:"-"`
}

// AddProblem adds a finding of a component the backup package does not judge (the
// weekly email) and orders the problems and sets code, state and summary again.
func (r *StatusReport) AddProblem(l Level, component, message string) {
	r.Problems = append(r.Problems, StatusProblem{State: l.String(), Component: component, Message: message, level: l})
	(&judge{r: r}).verdict()
}

// errStandbyName: the serving name comes from the latest snapshot, which is unreadable.
var errStandbyName error = &FixableError{Fix: FixStandbyName, Err: errors.New("serving database name unknown while the store is unreadable")}

// StatusOptions configure GatherStatus.
type StatusOptions struct {
	Store     Store  // nil when it could not be opened (StoreErr says why)
	StoreErr  error  // why the store could not be opened
	StoreName string // shown in the report; must not hold secrets
	// StandbyServer is the DSN of the standby server (maintenance database); "" = do not
	// connect (the store's record of the last attempt is still read).
	StandbyServer string
	// Database is the serving name on the standby; default: the latest snapshot's database.
	Database string
	Now      time.Time
	Hint     Hinter // words the fixes in problem messages (nil: none)
	// Identities are the fingerprints of the identities configured where status runs;
	// when there are some and none opens the latest snapshot, status warns: that is the
	// morning the key is found lost, not the day of the outage.
	Identities []string

	// SourceDatabase is the database whose snapshots are judged (a store may hold several);
	// "" = the newest snapshot's, whatever its database.
	SourceDatabase string
}

// GatherStatus reads the facts a status check needs: the store's snapshot list and
// newest manifest, the standby's readiness record and previous copy (when a server is
// given), and the store's record of the last standby attempt. It never fails: every
// error becomes a fact.
func GatherStatus(ctx context.Context, o StatusOptions) *StatusFacts {
	f := &StatusFacts{Now: o.Now, Identities: o.Identities, Hint: o.Hint, Store: o.StoreName, StoreErr: o.StoreErr, Database: o.Database}
	if f.Now.IsZero() {
		f.Now = time.Now()
	}
	if o.Store != nil && f.StoreErr == nil {
		ids, err := SnapshotIDs(ctx, o.Store)
		if err != nil {
			f.StoreErr = err
		} else {
			f.Snapshots = len(ids)
			if len(ids) > 0 {
				f.Latest, f.LatestErr = latestOf(ctx, o.Store, ids, o.SourceDatabase)
			}
			f.Databases, f.DatabasesErr = gatherDatabases(ctx, o.Store)
			// One listing of wal/ serves the newest segment and the gap check (on S3 a
			// month of segments is dozens of list requests).
			wal, err := listWAL(ctx, o.Store)
			if err == nil {
				f.WALNewest, err = newestWALListed(ctx, o.Store, wal)
			}
			f.WALErr = err
			f.gatherPITR(ctx, o.Store, wal)
		}
	}
	if f.Database == "" && f.Latest != nil {
		f.Database = f.Latest.Database
	}
	if f.Database == "" {
		if o.StandbyServer != "" {
			f.StandbyChecked, f.StandbyErr = true, errStandbyName
		}
		return f
	}
	if o.StandbyServer != "" {
		f.StandbyChecked = true
		f.Standby, f.StandbyErr = ReadStandbyRecord(ctx, o.StandbyServer, f.Database)
		if f.StandbyErr == nil {
			f.ServingErr = checkServing(ctx, o.StandbyServer, f.Database)
		}
		if f.StandbyErr == nil || errors.Is(f.StandbyErr, fs.ErrNotExist) {
			f.Previous, _ = ReadStandbyRecord(ctx, o.StandbyServer, f.Database+PreviousSuffix)
		}
	}
	if o.Store != nil && f.StoreErr == nil {
		a, err := ReadStandbyAttempt(ctx, o.Store, f.Database)
		switch {
		case err == nil:
			f.Attempt = a
		case !errors.Is(err, fs.ErrNotExist):
			f.AttemptErr = err
		}
	}
	return f
}

// CheckStatus gathers and evaluates in one call.
func CheckStatus(ctx context.Context, o StatusOptions, th StatusThresholds) *StatusReport {
	return EvaluateStatus(GatherStatus(ctx, o), th)
}

func okSummary(r *StatusReport) string {
	s := &r.Snapshot
	var parts []string
	if s.ID != "" {
		parts = append(parts, fmt.Sprintf("latest snapshot %s %s old", s.ID, HumanDuration(time.Duration(*s.AgeSeconds)*time.Second)))
	}
	if sb := &r.Standby; sb.Serving != nil {
		parts = append(parts, fmt.Sprintf("standby %s serves %s, data %s old", sb.Database, sb.Serving.Snapshot,
			HumanDuration(time.Duration(*sb.DataAgeSeconds)*time.Second)))
	} else {
		parts = append(parts, "no standby checked")
	}
	return strings.Join(parts, "; ")
}

// HumanDuration renders an age for people: 45s, 12m, 7h, 31h5m.
func HumanDuration(d time.Duration) string {
	if d < 0 {
		return "-" + HumanDuration(-d)
	}
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int64(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int64(d.Minutes()))
	}
	h, m := int64(d.Hours()), int64(d.Minutes())%60
	if m == 0 {
		return fmt.Sprintf("%dh", h)
	}
	return fmt.Sprintf("%dh%dm", h, m)
}

// HumanBytes formats a byte count with binary units (1.5 MiB).
func HumanBytes(n int64) string { return human.Bytes(n) }

func shorten(s string, n int) string {
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}

// PITRStatus is what the nightly point-in-time proof last showed.
type PITRStatus struct {
	BaseBackups int `json:"base_backups"`
	// ProvenTo is the newest snapshot point a recovery reproduced, table by table.
	ProvenTo   *time.Time `json:"proven_to,omitempty"`
	AgeSeconds *int64     `json:"age_seconds,omitempty"`
	// Last is the last proof's record (also when it failed).
	Last  *PITRRecord `json:"last,omitempty"`
	Error string      `json:"error,omitempty"`
}

// gatherPITR reads the base backup count and the latest snapshot's proof record.
func (f *StatusFacts) gatherPITR(ctx context.Context, st Store, wal []ObjectInfo) {
	bases, err := ListBaseBackups(ctx, st)
	if err != nil {
		f.PITRErr = err
		return
	}
	f.BaseBackups = len(bases)
	if len(bases) > 0 {
		start, err := StartSegment(bases[0].Timeline, bases[0].StartLSN)
		var a *WALArchive
		if err == nil && f.WALErr == nil {
			a, err = checkWALListed(ctx, st, wal, start)
		}
		switch {
		case err != nil:
			f.WALErr = err
		case a != nil:
			f.WALMissing = a.Missing
		}
	}
	if f.Latest == nil {
		return
	}
	rec, err := ReadPITR(ctx, st, f.Latest.Database)
	switch {
	case err == nil:
		f.PITR = rec
	case !errors.Is(err, fs.ErrNotExist):
		f.PITRErr = err
	}
}

// WALStatus is the WAL archive's freshness: how much a point-in-time recovery would lose.
type WALStatus struct {
	Newest     time.Time `json:"newest_archived"`
	AgeSeconds int64     `json:"age_seconds"`
	Error      string    `json:"error,omitempty"`
	// Missing: segments missing in the range the kept base backups need.
	Missing []string `json:"missing,omitempty"`
}
