package backup

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/linkagogo/linkbackup/internal/atomicfile"
)

// Parallel WAL push (archive_command), in the manner of pgBackRest's asynchronous
// archiving but without a daemon: when PostgreSQL asks for one file, the call also
// pushes the oldest other files PostgreSQL has marked ready (pg_wal/archive_status/
// X.ready), all at once, and leaves a marker per file pushed ahead in a private spool
// directory. When PostgreSQL then asks for one of those, the call checks the marker
// against the file and the store and returns at once.
//
// Crash safety: a marker is written (temp file, fsync, rename, fsync of the directory)
// only after the file's object and its record are stored, so a marker always names a
// durable file; a push killed at any point leaves at most an object without a record
// (invisible, overwritten by the retry) or a temp file the next call removes.
// PostgreSQL's own .ready and .done files are only ever read.

// DefaultWALSpool is the spool directory's name next to pg_wal (in the data directory)
// when WALPushOptions.SpoolDir is empty.
const DefaultWALSpool = "linkbackup_spool"

// WALPushOptions tunes PushReadyWAL.
type WALPushOptions struct {
	// Parallel is how many files one call pushes at once, the one asked for included;
	// the others are the oldest ready ones (history files first, as PostgreSQL orders
	// them). <= 1: only the one asked for.
	Parallel int
	// SpoolDir keeps the markers of files pushed ahead ("": DefaultWALSpool in the
	// directory above the pushed file's, i.e. the data directory for pg_wal/X).
	SpoolDir string
	// Log receives one line per file pushed ahead, or not (nil: none).
	Log *slog.Logger
}

// WALPush is what one PushReadyWAL call did.
type WALPush struct {
	Record *WALRecord
	// Early: the file had been pushed ahead by an earlier call; its marker, the file
	// and the store's record and object agreed, and nothing was uploaded.
	Early bool
	// Ahead are the other files this call stored (each now has a marker).
	Ahead []string
	// AheadFailed are other files that could not be stored (no marker; PostgreSQL
	// asks for them later and that call pushes them itself).
	AheadFailed map[string]error
}

// walMarker is a spool marker: the file it was written for (identified by device,
// inode, size and modification time, so a recycled or recreated file does not match)
// and what the store holds for it.
type walMarker struct {
	Name         string    `json:"name"`
	Size         int64     `json:"size"`
	ModTimeNanos int64     `json:"mtime_ns"`
	Dev          uint64    `json:"dev"`
	Ino          uint64    `json:"ino"`
	RawSHA256    string    `json:"raw_sha256"`
	StoredSHA256 string    `json:"stored_sha256"`
	StoredSize   int64     `json:"stored_size"`
	Archived     time.Time `json:"archived"`
}

const markerSuffix = ".pushed"

func fileIdentity(path string) (m walMarker, err error) {
	fi, err := os.Stat(path)
	if err != nil {
		return m, err
	}
	m.Size, m.ModTimeNanos = fi.Size(), fi.ModTime().UnixNano()
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		m.Dev, m.Ino = uint64(st.Dev), st.Ino
	}
	return m, nil
}

// spoolDir is where the markers of path's directory live.
func (o WALPushOptions) spoolDir(path string) string {
	if o.SpoolDir != "" {
		return o.SpoolDir
	}
	return filepath.Join(filepath.Dir(filepath.Dir(path)), DefaultWALSpool)
}

// PushReadyWAL is PushWAL for archive_command with read-ahead: the file at path (%p)
// is stored unless an earlier call already pushed it (then the call returns at once,
// after checking the marker, the file's identity and the store's record and object),
// and up to o.Parallel-1 other ready files of the same pg_wal are pushed alongside it.
// Its error is about the asked file only; a file pushed ahead that fails is reported in
// AheadFailed and gets no marker. It returns when every push it started has ended.
func PushReadyWAL(ctx context.Context, st Store, path string, k *Keys, o WALPushOptions) (*WALPush, error) {
	name := filepath.Base(path)
	key, err := walKey(name)
	if err != nil {
		return nil, err
	}
	spool := o.spoolDir(path)
	if rec, ok := checkMarker(ctx, st, spool, path, key, o.Log); ok {
		os.Remove(filepath.Join(spool, name+markerSuffix)) // consumed: PostgreSQL now marks it done
		return &WALPush{Record: rec, Early: true}, nil
	}
	if fi, err := os.Stat(filepath.Join(filepath.Dir(path), "archive_status")); o.Parallel <= 1 || err != nil || !fi.IsDir() {
		// One file at a time, or a file outside a pg_wal directory (a push by hand):
		// nothing to push ahead and no spool to create.
		rec, err := PushWAL(ctx, st, path, k)
		if err != nil {
			return nil, err
		}
		return &WALPush{Record: rec}, nil
	}
	if err := os.MkdirAll(spool, 0o700); err != nil {
		return nil, fmt.Errorf("WAL spool: %w", err)
	}
	unlock, err := lockSpool(ctx, spool)
	if err != nil {
		return nil, err
	}
	defer unlock()
	ready := readyWAL(filepath.Dir(path))
	cleanSpool(spool, ready, name)
	var ahead []string
	for _, r := range ready {
		if len(ahead) >= o.Parallel-1 {
			break
		}
		if r == name {
			continue
		}
		if _, err := os.Stat(filepath.Join(spool, r+markerSuffix)); err == nil {
			continue // pushed ahead already; checked when PostgreSQL asks for it
		}
		ahead = append(ahead, r)
	}
	res := &WALPush{AheadFailed: map[string]error{}}
	errs := make([]error, len(ahead))
	var wg sync.WaitGroup
	for i, a := range ahead {
		wg.Go(func() { errs[i] = pushAhead(ctx, st, filepath.Join(filepath.Dir(path), a), spool, k) })
	}
	res.Record, err = PushWAL(ctx, st, path, k)
	wg.Wait()
	for i, a := range ahead {
		if errs[i] == nil {
			res.Ahead = append(res.Ahead, a)
			continue
		}
		res.AheadFailed[a] = errs[i]
		if o.Log != nil {
			o.Log.Warn("WAL file not pushed ahead; pushed when PostgreSQL asks for it", "file", a, "err", errs[i])
		}
	}
	if o.Log != nil && len(res.Ahead) > 0 {
		o.Log.Debug("pushed ahead", "files", strings.Join(res.Ahead, ","), "with", name)
	}
	if err != nil {
		return nil, err
	}
	return res, nil
}

// pushAhead stores the file at path and then writes its marker.
func pushAhead(ctx context.Context, st Store, path, spool string, k *Keys) error {
	before, err := fileIdentity(path)
	if err != nil {
		return err
	}
	rec, err := PushWAL(ctx, st, path, k)
	if err != nil {
		return err
	}
	if after, err := fileIdentity(path); err != nil || after != before {
		return fmt.Errorf("%s changed while it was pushed", rec.Name)
	}
	m := before
	m.Name, m.RawSHA256, m.StoredSHA256, m.StoredSize, m.Archived = rec.Name, rec.RawSHA256, rec.Object.SHA256, rec.Object.Size, rec.Archived
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	f, err := atomicfile.Create(filepath.Join(spool, rec.Name+markerSuffix), ".*.tmp")
	if err != nil {
		return fmt.Errorf("WAL spool: %w", err)
	}
	defer f.Abort()
	if _, err := f.Write(b); err != nil {
		return fmt.Errorf("WAL spool: %w", err)
	}
	return f.Commit()
}

// checkMarker tells whether the file at path was pushed ahead and is still what the
// store holds: its marker names it, matches the file's identity, and the store's record
// and object carry the marker's digests and size. Any doubt means "push it again"
// (PushWAL is idempotent), never an early return.
func checkMarker(ctx context.Context, st Store, spool, path, key string, log *slog.Logger) (*WALRecord, bool) {
	name := filepath.Base(path)
	b, err := os.ReadFile(filepath.Join(spool, name+markerSuffix))
	if err != nil {
		return nil, false
	}
	doubt := func(why string) (*WALRecord, bool) {
		if log != nil {
			log.Warn("WAL spool marker does not match; pushing the file again", "file", name, "why", why)
		}
		os.Remove(filepath.Join(spool, name+markerSuffix))
		return nil, false
	}
	var m walMarker
	if err := json.Unmarshal(b, &m); err != nil || m.Name != name {
		return doubt("unreadable or for another file")
	}
	id, err := fileIdentity(path)
	if err != nil {
		return nil, false // PushWAL reports it
	}
	if id.Size != m.Size || id.ModTimeNanos != m.ModTimeNanos || id.Dev != m.Dev || id.Ino != m.Ino {
		return doubt("the file is not the one pushed (size, time or inode differ)")
	}
	rec, err := readWALRecord(ctx, st, key)
	if err != nil {
		return doubt("record: " + err.Error())
	}
	if rec.Name != name || rec.RawSHA256 != m.RawSHA256 || rec.Object.SHA256 != m.StoredSHA256 || rec.Object.Size != m.StoredSize {
		return doubt("the store's record differs from the marker")
	}
	info, err := st.Stat(ctx, rec.Object.Key)
	if err != nil || info.Size != rec.Object.Size {
		return doubt(fmt.Sprintf("object %s: size %d, %v", rec.Object.Key, info.Size, err))
	}
	return rec, true
}

// readyWAL lists the files of walDir that PostgreSQL marked ready for archiving, in its
// order: timeline history files first, then by name (oldest first).
func readyWAL(walDir string) []string {
	ents, err := os.ReadDir(filepath.Join(walDir, "archive_status"))
	if err != nil {
		return nil
	}
	var names []string
	for _, e := range ents {
		if n, ok := strings.CutSuffix(e.Name(), ".ready"); ok && walName.MatchString(n) {
			names = append(names, n)
		}
	}
	slices.SortFunc(names, func(a, b string) int {
		ha, hb := strings.HasSuffix(a, ".history"), strings.HasSuffix(b, ".history")
		switch {
		case ha && !hb:
			return -1
		case hb && !ha:
			return 1
		}
		return strings.Compare(a, b)
	})
	return names
}

// cleanSpool removes temp files a killed push left, and markers of files PostgreSQL no
// longer has ready (archived by another way, or a marker that outlived its file); the
// marker of the file being asked for stays (it was checked just before).
func cleanSpool(spool string, ready []string, asked string) {
	ents, err := os.ReadDir(spool)
	if err != nil {
		return
	}
	for _, e := range ents {
		n := e.Name()
		switch {
		case strings.HasPrefix(n, ".") && strings.HasSuffix(n, ".tmp"):
			os.Remove(filepath.Join(spool, n))
		case strings.HasSuffix(n, markerSuffix):
			f := strings.TrimSuffix(n, markerSuffix)
			if f != asked && !slices.Contains(ready, f) {
				os.Remove(filepath.Join(spool, n))
			}
		}
	}
}

// lockSpool takes the spool's lock (flock on spool/lock), so that two pushes (the
// archiver and an operator's) never push ahead the same files at once.
func lockSpool(ctx context.Context, spool string) (func(), error) {
	f, err := os.OpenFile(filepath.Join(spool, "lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("WAL spool: %w", err)
	}
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return func() { f.Close() }, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			f.Close()
			return nil, fmt.Errorf("WAL spool lock: %w", err)
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}
