package backup

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/linkagogo/linkbackup/internal/atomicfile"
)

// WAL archive layout (archive_command / restore_command files):
//
//	wal/<timeline>/<segment>.zst            a segment (or .backup / .partial file), zstd, age if encrypted
//	wal/<timeline>/<segment>.json           its record: written after the object, so it exists only when whole
//	wal/history/<timeline>.history.zst|.json timeline history files
const WALPrefix = "wal/"

// walName matches the files PostgreSQL archives: segments, timeline history files,
// backup history files and partial segments.
var walName = regexp.MustCompile(`^(?:([0-9A-F]{8})[0-9A-F]{16}(?:\.[0-9A-F]{8}\.backup|\.partial)?|[0-9A-F]{8}\.history)$`)

// WALRecord describes one archived file; its signature covers the file's name, the
// stored bytes' size and SHA-256 and the original bytes' SHA-256.
type WALRecord struct {
	Name      string `json:"name"`
	Object    Object `json:"object"`
	RawSHA256 string `json:"raw_sha256"`
	// Archived is when the push stored it: for a segment, just after its last record.
	Archived  time.Time `json:"archived"`
	SignedBy  string    `json:"signed_by,omitempty"`
	Signature string    `json:"signature,omitempty"`
}

// ErrWALNotFound: the archive has no such file (restore_command then ends recovery).
var ErrWALNotFound = errors.New("not in the WAL archive")

// ErrWALConflict: the archive holds a file of that name with other content (two
// clusters archiving into one place, or a rewound timeline).
var ErrWALConflict = errors.New("archived with different content")

// walKey is the object key prefix of an archived file name.
func walKey(name string) (string, error) {
	m := walName.FindStringSubmatch(name)
	if m == nil {
		return "", fmt.Errorf("%q is not a WAL segment, history or backup file name", name)
	}
	if m[1] == "" {
		return WALPrefix + "history/" + name, nil
	}
	return WALPrefix + m[1] + "/" + name, nil
}

func (r *WALRecord) signedText() []byte {
	return []byte("linkbackup-wal-v1\n" + r.Name + "\n" + r.Object.SHA256 + "\n" + strconv.FormatInt(r.Object.Size, 10) + "\n" + r.RawSHA256 + "\n")
}

// PushWAL archives the file at path (archive_command's %p) into st: compressed,
// encrypted to k's recipients, its record signed with k's signer. It returns only when
// the record is stored (the object first, then the record: a push killed in between
// leaves an object nobody lists, overwritten by the retry). Pushing a file that is
// already archived with the same content succeeds; with other content it fails with
// ErrWALConflict.
func PushWAL(ctx context.Context, st Store, path string, k *Keys) (*WALRecord, error) {
	name := filepath.Base(path)
	key, err := walKey(name)
	if err != nil {
		return nil, err
	}
	if old, err := readWALRecord(ctx, st, key); err == nil {
		// Only a retry reads the file twice; a first push hashes it on the way up.
		raw, err := fileSHA256(path)
		if err != nil {
			return nil, err
		}
		if old.RawSHA256 == raw {
			return old, nil // PostgreSQL retries after a crash: already durable
		}
		return nil, fmt.Errorf("%s: %w (archive %s, this file %s): two clusters archiving into one store, or a timeline "+
			"rewound; the archive keeps its copy", name, ErrWALConflict, old.RawSHA256[:12], raw[:12])
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	h := sha256.New()
	obj, err := putCompressed(ctx, st, zstdEncoders(), k.recipients(), key+".zst", 16<<20, func(w io.Writer) error {
		_, err := io.Copy(io.MultiWriter(w, h), f)
		return err
	})
	if err != nil {
		return nil, err
	}
	rec := &WALRecord{Name: name, Object: obj, RawSHA256: hex.EncodeToString(h.Sum(nil)), Archived: time.Now().UTC()}
	if s := k.signer(); s != nil {
		rec.SignedBy = s.Fingerprint
		rec.Signature = base64.StdEncoding.EncodeToString(ed25519.Sign(s.Key, rec.signedText()))
	}
	b, err := json.Marshal(rec)
	if err != nil {
		return nil, err
	}
	if _, err := st.Put(ctx, key+".json", bytes.NewReader(b)); err != nil {
		return nil, fmt.Errorf("%s: record: %w", name, err)
	}
	return rec, nil
}

// FetchWAL restores archived file name into path (restore_command's %f and %p): the
// record's signature checked with k's verify keys, the stored bytes' size and SHA-256,
// decryption, decompression and the original SHA-256, then an atomic rename into place.
// A file not in the archive returns ErrWALNotFound; anything else means the archive
// cannot be trusted to continue recovery.
func FetchWAL(ctx context.Context, st Store, name, path string, k *Keys) (*WALRecord, error) {
	key, err := walKey(name)
	if err != nil {
		return nil, err
	}
	rec, err := readWALRecord(ctx, st, key)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%s: %w", name, ErrWALNotFound)
	}
	if err != nil {
		return nil, err
	}
	if err := rec.verify(name, k); err != nil {
		return nil, err
	}
	rc, err := OpenObject(ctx, st, rec.Object, k)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	f, err := atomicfile.Create(path, "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return nil, err
	}
	defer f.Abort()
	h := sha256.New()
	if _, err := io.Copy(io.MultiWriter(f, h), rc); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != rec.RawSHA256 {
		return nil, fmt.Errorf("%s: content sha256 %s, record says %s (corrupt)", name, got, rec.RawSHA256)
	}
	return rec, f.Commit()
}

// verify checks the record against the name asked for and k's verify keys.
func (r *WALRecord) verify(name string, k *Keys) error {
	if r.Name != name {
		return fmt.Errorf("%w: WAL record for %s names %s: moved or forged", ErrUnauthenticated, name, r.Name)
	}
	if k == nil || len(k.Verifiers) == 0 {
		return nil
	}
	if r.Signature == "" {
		if k.AllowUnsigned {
			return nil
		}
		return fmt.Errorf("%w: WAL file %s carries no signature, and verify keys are configured", ErrUnauthenticated, name)
	}
	sig, err := base64.StdEncoding.DecodeString(r.Signature)
	for _, v := range k.Verifiers {
		if err == nil && v.Fingerprint == r.SignedBy && ed25519.Verify(v.Key, r.signedText(), sig) {
			return nil
		}
	}
	return fmt.Errorf("%w: WAL file %s: the signature (key %s) does not verify with the configured verify keys", ErrUnauthenticated, name, r.SignedBy)
}

func readWALRecord(ctx context.Context, st Store, key string) (*WALRecord, error) {
	return readRecord[WALRecord](ctx, st, key+".json", 64<<10, "WAL record", "")
}

func fileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// WALArchive summarises the archived segments of one timeline from a start segment on.
type WALArchive struct {
	Timeline string    `json:"timeline"`
	First    string    `json:"first"`  // the start segment
	Newest   string    `json:"newest"` // the newest archived segment
	Archived time.Time `json:"newest_archived"`
	// Missing lists the segments between First and Newest the archive lacks (at most
	// 100 names).
	Missing []MissingSegment `json:"missing,omitempty"`
}

// MissingSegment is a gap in the archive.
type MissingSegment struct {
	Name string `json:"name"`
	// After is the archive time of the last segment before the gap (zero: none). The
	// missing segment holds WAL written after it, so recovery to any later time needs it.
	After time.Time `json:"after"`
}

// segmentNumber parses a segment name (timeline, log, seg) into its timeline and a
// sequence number (16 MiB segments: 256 per log id).
func segmentNumber(name string) (string, uint64, bool) {
	if len(name) != 24 {
		return "", 0, false
	}
	log, err1 := strconv.ParseUint(name[8:16], 16, 32)
	seg, err2 := strconv.ParseUint(name[16:24], 16, 32)
	if err1 != nil || err2 != nil || seg > 0xFF {
		return "", 0, false
	}
	return name[:8], log*0x100 + seg, true
}

func segmentName(timeline string, n uint64) string {
	return fmt.Sprintf("%s%08X%08X", timeline, n/0x100, n%0x100)
}

// CheckWAL lists the archive of start's timeline from start on: the newest segment, its
// archive time (the recovery point objective now) and every segment missing in
// between. Only 16 MiB segments are supported (PostgreSQL's default).
func CheckWAL(ctx context.Context, st Store, start string) (*WALArchive, error) {
	tl, _, ok := segmentNumber(start)
	if !ok {
		return nil, fmt.Errorf("%q is not a WAL segment name", start)
	}
	objs, err := st.List(ctx, WALPrefix+tl+"/")
	if err != nil {
		return nil, fmt.Errorf("list the WAL archive: %w", err)
	}
	return checkWALListed(ctx, st, objs, start)
}

// listWAL lists the whole WAL archive once, for NewestWALListed and checkWALListed.
func listWAL(ctx context.Context, st Store) ([]ObjectInfo, error) {
	objs, err := st.List(ctx, WALPrefix)
	if err != nil {
		return nil, fmt.Errorf("list the WAL archive: %w", err)
	}
	return objs, nil
}

// checkWALListed is CheckWAL on objs, a listing of the archive that holds at least
// start's timeline (objects of other timelines are ignored).
func checkWALListed(ctx context.Context, st Store, objs []ObjectInfo, start string) (*WALArchive, error) {
	tl, first, ok := segmentNumber(start)
	if !ok {
		return nil, fmt.Errorf("%q is not a WAL segment name", start)
	}
	dir := WALPrefix + tl + "/"
	present := map[uint64]bool{}
	var newest uint64
	for _, o := range objs {
		name := strings.TrimSuffix(path.Base(o.Key), ".json")
		if !strings.HasSuffix(o.Key, ".json") || !strings.HasPrefix(o.Key, dir) {
			continue
		}
		if _, n, ok := segmentNumber(name); ok && n >= first {
			present[n] = true
			newest = max(newest, n)
		}
	}
	a := &WALArchive{Timeline: tl, First: start}
	if len(present) == 0 {
		return a, nil
	}
	a.Newest = segmentName(tl, newest)
	rec, err := readWALRecord(ctx, st, WALPrefix+tl+"/"+a.Newest)
	if err != nil {
		return nil, err
	}
	a.Archived = rec.Archived
	var lastPresent time.Time
	for n := first; n < newest && len(a.Missing) < 100; n++ {
		if !present[n] {
			a.Missing = append(a.Missing, MissingSegment{Name: segmentName(tl, n), After: lastPresent})
			continue
		}
		if n+1 < newest && !present[n+1] { // the gap's left edge: its archive time bounds the gap
			if r, err := readWALRecord(ctx, st, WALPrefix+tl+"/"+segmentName(tl, n)); err == nil {
				lastPresent = r.Archived
			}
		}
	}
	return a, nil
}

// StartSegment is the name of the segment holding lsn ("X/Y") on timeline tl.
func StartSegment(tl int, lsn string) (string, error) {
	hi, lo, ok := strings.Cut(lsn, "/")
	h, err1 := strconv.ParseUint(hi, 16, 32)
	l, err2 := strconv.ParseUint(lo, 16, 32)
	if !ok || err1 != nil || err2 != nil {
		return "", fmt.Errorf("%q is not an LSN", lsn)
	}
	seg := (h<<32 | l) / (16 << 20)
	return segmentName(fmt.Sprintf("%08X", tl), seg), nil
}

// NewestWAL returns the archive time of the newest segment of the newest timeline in
// st (nil when the store holds no WAL).
func NewestWAL(ctx context.Context, st Store) (*time.Time, error) {
	objs, err := listWAL(ctx, st)
	if err != nil {
		return nil, err
	}
	return newestWALListed(ctx, st, objs)
}

// newestWALListed is NewestWAL on objs, a listing of the whole archive.
func newestWALListed(ctx context.Context, st Store, objs []ObjectInfo) (*time.Time, error) {
	newest := ""
	for _, o := range objs {
		name := path.Base(o.Key)
		if seg, ok := strings.CutSuffix(name, ".json"); ok && len(seg) == 24 && seg > newest {
			if _, _, ok := segmentNumber(seg); ok {
				newest = seg
			}
		}
	}
	if newest == "" {
		return nil, nil
	}
	rec, err := readWALRecord(ctx, st, WALPrefix+newest[:8]+"/"+newest)
	if err != nil {
		return nil, err
	}
	t := rec.Archived
	return &t, nil
}
