package backup

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"sort"
	"strings"
	"time"

	"github.com/linkagogo/linkbackup/backup/trust"
)

// FormatVersion is the snapshot layout version written into every manifest. Readers
// refuse a manifest with a higher version. Format 2 added binary COPY chunks
// (Table.CopyFormat); format 1 snapshots (all text) are read as before. Format 4 added
// s2-compressed objects (Object.Comp); a zstd snapshot is still written as format 3
// (formatZstd), which linkbackup before s2 reads.
const FormatVersion = 4

const formatZstd = 3

// Store layout (documented in README "Snapshot layout"):
//
//	snapshots/<id>/manifest.json                 written last: a snapshot exists only with it
//	snapshots/<id>/schema/pre-data.sql.zst       pg_dump --schema-only --section=pre-data
//	snapshots/<id>/schema/post-data.sql.zst      pg_dump --schema-only --section=post-data
//	snapshots/<id>/data/<nnnn>-<table>.<cccc>.copy.zst    COPY text of table nnnn, chunk cccc
//	snapshots/<id>/data/<nnnn>-<table>.<cccc>.pgcopy.zst  the same in binary COPY format
//
// (.s2 instead of .zst for a snapshot compressed with s2.)
const (
	SnapshotsPrefix = "snapshots/"
	ManifestName    = "manifest.json"
)

// IDFormat is the layout of snapshot ids: sortable UTC time with milliseconds.
const IDFormat = "20060102T150405.000Z"

// Manifest describes one complete snapshot. It is the last object written.
type Manifest struct {
	Format      int       `json:"format"`
	ID          string    `json:"id"`
	Database    string    `json:"database"`
	Server      Server    `json:"server"`
	PgDump      string    `json:"pg_dump_version"`
	Tool        string    `json:"tool_version"`
	AppVersion  string    `json:"app_version,omitempty"`
	Started     time.Time `json:"started"`
	Finished    time.Time `json:"finished"`
	Compression string    `json:"compression"`          // the data's codec: "zstd" or "s2" (codec.go)
	Encryption  string    `json:"encryption,omitempty"` // "" = none, "age" (EncryptionAge)
	// Recipients are the fingerprints of the keys the content is encrypted to.
	Recipients []string `json:"recipients,omitempty"`
	// SignedBy is the fingerprint of the key that signed the manifest (manifest.sig);
	// for display only: readers trust their own verify keys, never this field.
	SignedBy string `json:"signed_by,omitempty"`
	// Settings are the session settings under which COPY text (and so the digests) was
	// produced; a restore drill recomputes digests under the same settings.
	Settings  map[string]string `json:"session_settings"`
	PreData   Object            `json:"pre_data"`
	PostData  Object            `json:"post_data"`
	Tables    []Table           `json:"tables"`
	Sequences []Sequence        `json:"sequences"`
	// MatViews are materialized views to REFRESH after restore ("schema"."name").
	MatViews []QualName `json:"materialized_views"`
	Excluded Excluded   `json:"excluded"`
	// LargeObjects is the number of large objects in the source left out of the snapshot
	// (Options.SkipLargeObjects).
	LargeObjects int64  `json:"large_objects_skipped,omitempty"`
	Totals       Totals `json:"totals"`
	// LargeObjectData holds the source's large objects (with owners and grants), restored
	// and proven by count and digest; nil when there were none.
	LargeObjectData *LargeObjects `json:"large_objects,omitempty"`
	// WALPoint is the snapshot's exact WAL position (nil: taken without one; see
	// Options.WALPoint).
	WALPoint *WALPoint `json:"wal_point,omitempty"`
}

// Server identifies the source cluster.
type Server struct {
	Version          string `json:"version"`     // server_version, e.g. "15.18 (Debian ...)"
	VersionNum       int    `json:"version_num"` // server_version_num, e.g. 150018
	SystemIdentifier string `json:"system_identifier"`
	// Standby is the linkbackup standby mark of the source, if it had one (a restored
	// copy); backups refuse such a source unless told otherwise.
	Standby string `json:"standby_mark,omitempty"`
	// Encoding, Collate and Ctype of the source database, for CREATE DATABASE on restore.
	Encoding string `json:"encoding"`
	Collate  string `json:"collate"`
	Ctype    string `json:"ctype"`
}

// Object is one stored object, as written: compressed size and SHA-256 of the stored bytes,
// and the size before compression.
type Object struct {
	Key     string `json:"key"`
	Size    int64  `json:"size"`
	SHA256  string `json:"sha256"`
	RawSize int64  `json:"raw_size"`
	// Enc is how the stored bytes are encrypted ("" none, "age"); Size and SHA256 are of
	// the stored (encrypted) bytes, RawSize of the content before compression.
	Enc string `json:"enc,omitempty"`
	// Comp is the codec of the content ("" zstd, "s2"; codec.go).
	Comp string `json:"comp,omitempty"`
}

// Table is one table's data: its COPY column list and chunks.
type Table struct {
	Schema string `json:"schema"`
	Name   string `json:"name"`
	// Columns is the COPY column list (generated and dropped columns excluded), in order.
	Columns []string `json:"columns"`
	// Parent is the partitioned table this is a partition of ("schema"."name"), if any.
	Parent string `json:"partition_of,omitempty"`
	Rows   int64  `json:"rows"`
	// Digest is the sum of the chunks' digests (see Digest).
	Digest string `json:"digest"`
	// CopyFormat is the COPY format of the chunks: "" (text) or "binary" (CopyBinary).
	CopyFormat string  `json:"copy_format,omitempty"`
	Chunks     []Chunk `json:"chunks"`
}

// Chunk is one object of a table's data: all rows, or one ctid range.
type Chunk struct {
	Object
	Rows   int64  `json:"rows"`
	Digest string `json:"digest"`
	// Range is the ctid range copied ("" for the whole table), for the record.
	Range string `json:"range,omitempty"`
}

// Sequence is a sequence's state at backup time.
type Sequence struct {
	Schema    string `json:"schema"`
	Name      string `json:"name"`
	LastValue int64  `json:"last_value"`
	IsCalled  bool   `json:"is_called"`
}

// QualName is a schema-qualified name.
type QualName struct {
	Schema string `json:"schema"`
	Name   string `json:"name"`
}

// Excluded records what configuration left out.
type Excluded struct {
	Schemas []string `json:"schemas,omitempty"`
	Tables  []string `json:"tables,omitempty"`
	// Subscriptions of the source database are never in a snapshot: a restored copy
	// must not replicate from the primary, and a database holding one cannot be dropped.
	Subscriptions []string `json:"subscriptions,omitempty"`
}

// Totals sums the snapshot.
type Totals struct {
	Tables      int   `json:"tables"`
	Rows        int64 `json:"rows"`
	RawBytes    int64 `json:"raw_bytes"`
	StoredBytes int64 `json:"stored_bytes"`
	Objects     int   `json:"objects"`
}

// CopyBinary is Table.CopyFormat of tables stored in binary COPY format.
const CopyBinary = "binary"

// Binary reports whether t's chunks are binary COPY.
func (t *Table) Binary() bool { return t.CopyFormat == CopyBinary }

// CopyWith is the COPY option clause for t's format ("" for text).
func (t *Table) CopyWith() string {
	if t.Binary() {
		return " WITH (FORMAT binary)"
	}
	return ""
}

// QualifiedName returns "schema"."name" quoted for SQL.
func (t *Table) QualifiedName() string { return QuoteIdent(t.Schema) + "." + QuoteIdent(t.Name) }

// String returns schema.name unquoted, for messages.
func (t *Table) String() string { return t.Schema + "." + t.Name }

// QuoteIdent quotes a SQL identifier.
func QuoteIdent(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

// Objects returns every object of the snapshot (schema first, then data).
func (m *Manifest) Objects() []Object {
	objs := []Object{m.PreData, m.PostData}
	for _, t := range m.Tables {
		for _, c := range t.Chunks {
			objs = append(objs, c.Object)
		}
	}
	if m.LargeObjectData != nil {
		objs = append(objs, m.LargeObjectData.Object)
	}
	return objs
}

// SnapshotPrefix is the key prefix of snapshot id.
func SnapshotPrefix(id string) string { return SnapshotsPrefix + id + "/" }

// ManifestKey is the manifest's key of snapshot id.
func ManifestKey(id string) string { return SnapshotPrefix(id) + ManifestName }

// Sentinel errors.
var (
	// ErrNoSnapshot: no complete snapshot matches.
	ErrNoSnapshot = errors.New("no such snapshot")
	// ErrLocked: another backup of the same database to the same store is running.
	ErrLocked = errors.New("backup locked")
	// ErrVerify: a snapshot failed verification.
	ErrVerify = errors.New("snapshot verification failed")
)

// WriteManifest stores m as the last object of its snapshot, unsigned.
func WriteManifest(ctx context.Context, st Store, m *Manifest) error {
	return writeManifest(ctx, st, m, nil)
}

// writeManifest stores m as the last object of its snapshot; with a signer, its
// signature goes first (a signed snapshot is never listed without it).
func writeManifest(ctx context.Context, st Store, m *Manifest, s *trust.Signer) error {
	if s != nil {
		m.SignedBy = s.Fingerprint
	}
	return putSignedJSON(ctx, st, SnapshotPrefix(m.ID), m, s, "write manifest")
}

// putSignedJSON stores v as prefix+ManifestName, indented, after its signature
// (prefix+SignatureName) when s is set, and checks the store kept every byte.
func putSignedJSON(ctx context.Context, st Store, prefix string, v any, s *trust.Signer, what string) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	b = append(b, '\n')
	if s != nil {
		if err := writeSignatureAt(ctx, st, prefix+SignatureName, b, s); err != nil {
			return err
		}
	}
	info, err := st.Put(ctx, prefix+ManifestName, bytes.NewReader(b))
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	if info.Size != int64(len(b)) {
		return fmt.Errorf("%s: store kept %d of %d bytes", what, info.Size, len(b))
	}
	return nil
}

// ReadManifest loads the manifest of snapshot id, without checking its signature: for
// listing, status and retention. Whatever uses a snapshot's content reads it with
// ReadTrustedManifest.
func ReadManifest(ctx context.Context, st Store, id string) (*Manifest, error) {
	b, err := readManifestBytes(ctx, st, id)
	if err != nil {
		return nil, err
	}
	return parseManifest(b, id)
}

func readManifestBytes(ctx context.Context, st Store, id string) ([]byte, error) {
	rc, err := st.Open(ctx, ManifestKey(id))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("snapshot %s: %w", id, ErrNoSnapshot)
		}
		return nil, fmt.Errorf("read manifest %s: %w", id, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, 256<<20))
	if err != nil {
		return nil, fmt.Errorf("read manifest %s: %w", id, err)
	}
	return b, nil
}

func parseManifest(b []byte, id string) (*Manifest, error) {
	var m Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("manifest %s is corrupt: %w", id, err)
	}
	if m.Format > FormatVersion {
		return nil, fmt.Errorf("snapshot %s has format %d; this linkbackup reads up to %d: upgrade linkbackup", id, m.Format, FormatVersion)
	}
	if m.ID != id {
		return nil, fmt.Errorf("manifest %s names snapshot %q: corrupt or moved", ManifestKey(id), m.ID)
	}
	return &m, nil
}

// SnapshotIDs lists the ids of complete snapshots (those with a manifest), oldest first.
func SnapshotIDs(ctx context.Context, st Store) ([]string, error) {
	objs, err := st.List(ctx, SnapshotsPrefix)
	if err != nil {
		return nil, fmt.Errorf("list snapshots: %w", err)
	}
	var ids []string
	for _, o := range objs {
		rest := strings.TrimPrefix(o.Key, SnapshotsPrefix)
		id, name, ok := strings.Cut(rest, "/")
		if ok && name == ManifestName {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	return ids, nil
}

// ListSnapshots loads the manifests of all complete snapshots, oldest first.
func ListSnapshots(ctx context.Context, st Store) ([]*Manifest, error) {
	ids, err := SnapshotIDs(ctx, st)
	if err != nil {
		return nil, err
	}
	out := make([]*Manifest, 0, len(ids))
	for _, id := range ids {
		m, err := ReadManifest(ctx, st, id)
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, nil
}

// ResolveSnapshot turns "latest", a date "YYYY-MM-DD" (the newest snapshot started that
// UTC day) or an exact id into a snapshot id. database, when not empty, restricts
// "latest" and a date to snapshots of that database (an exact id is taken as it is); without it, "latest" or a date is refused
// (ErrRefused, FixSnapshotDatabase) when the matching snapshots come from more than one
// database.
func ResolveSnapshot(ctx context.Context, st Store, ref, database string) (string, error) {
	if ref == "" {
		ref = "latest"
	}
	ids, err := SnapshotIDs(ctx, st)
	if err != nil {
		return "", err
	}
	match := func(id string) bool {
		switch {
		case ref == "latest":
			return true
		case len(ref) == 10 && ref[4] == '-' && ref[7] == '-':
			return strings.HasPrefix(id, strings.ReplaceAll(ref, "-", "")+"T")
		default:
			return id == ref
		}
	}
	// An exact id names one snapshot whatever its database; "latest" or a date needs one.
	byDate := ref == "latest" || isDateRef(ref)
	if !byDate {
		database = ""
	}
	if database == "" && byDate {
		if err := oneDatabase(ctx, st, ids, match, ref); err != nil {
			return "", err
		}
	}
	for i := len(ids) - 1; i >= 0; i-- {
		if !match(ids[i]) {
			continue
		}
		if database != "" {
			m, err := ReadManifest(ctx, st, ids[i])
			if err != nil {
				return "", err
			}
			if m.Database != database {
				continue
			}
		}
		return ids[i], nil
	}
	where := ""
	if database != "" {
		where = " of database " + database
	}
	return "", fmt.Errorf("snapshot %q%s in %s: %w (list them with `linkbackup snapshots`)", ref, where, st, ErrNoSnapshot)
}
