package backup

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path"
	"strings"
	"sync"

	"golang.org/x/sync/errgroup"
)

// WALVerifyReport is what VerifyWAL found: the kept range (from the oldest base
// backup's start segment to the newest archived one), the segments missing in it and
// the ones that are there but broken.
type WALVerifyReport struct {
	Archive  *WALArchive `json:"archive"`
	Base     string      `json:"oldest_base_backup,omitempty"`
	Segments int         `json:"segments_checked"`
	Bytes    int64       `json:"bytes_checked"`
	// ContentChecked: every segment was decrypted and decompressed and its original
	// SHA-256 compared (an identity was given, or the archive is plaintext); otherwise
	// only the stored bytes were.
	ContentChecked bool      `json:"content_checked"`
	Broken         []Problem `json:"broken,omitempty"`
}

// OK tells whether the range is complete and every segment intact.
func (r *WALVerifyReport) OK() bool {
	return r != nil && len(r.Archive.Missing) == 0 && len(r.Broken) == 0
}

// VerifyWAL checks the archive's continuity from the oldest base backup's start segment
// to the newest archived segment of that timeline, and every segment in between: its
// record's name and signature (with k's verify keys), its stored size and SHA-256, and
// with k's identities (or for plaintext) its content's SHA-256. Without a base backup it
// checks from the oldest archived segment of timeline 1.
func VerifyWAL(ctx context.Context, st Store, k *Keys, jobs int, log *slog.Logger) (*WALVerifyReport, error) {
	if log == nil {
		log = discardLog()
	}
	bases, err := ListBaseBackups(ctx, st)
	if err != nil {
		return nil, err
	}
	rep := &WALVerifyReport{ContentChecked: true}
	var start string
	if len(bases) > 0 {
		rep.Base = bases[0].ID
		if start, err = StartSegment(bases[0].Timeline, bases[0].StartLSN); err != nil {
			return nil, err
		}
	} else if start, err = oldestSegment(ctx, st); err != nil || start == "" {
		return rep, err
	}
	if rep.Archive, err = CheckWAL(ctx, st, start); err != nil {
		return nil, err
	}
	a := rep.Archive
	if a.Newest == "" {
		return rep, nil
	}
	missing := map[string]bool{}
	for _, m := range a.Missing {
		missing[m.Name] = true
	}
	_, first, _ := segmentNumber(a.First)
	_, last, _ := segmentNumber(a.Newest)
	var mu sync.Mutex
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(max(jobs, 1))
	for n := first; n <= last; n++ {
		name := segmentName(a.Timeline, n)
		if missing[name] {
			continue
		}
		g.Go(func() error {
			size, content, err := verifySegment(gctx, st, name, k)
			mu.Lock()
			defer mu.Unlock()
			rep.Segments++
			rep.Bytes += size
			rep.ContentChecked = rep.ContentChecked && content
			if err != nil {
				if gctx.Err() != nil {
					return gctx.Err()
				}
				rep.Broken = append(rep.Broken, Problem{Key: name, What: err.Error()})
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	log.Info("WAL archive verified", "from", a.First, "to", a.Newest, "segments", rep.Segments,
		"missing", len(a.Missing), "broken", len(rep.Broken))
	return rep, nil
}

// verifySegment checks one archived segment; content reports whether its plaintext was
// checked too.
func verifySegment(ctx context.Context, st Store, name string, k *Keys) (int64, bool, error) {
	key, err := walKey(name)
	if err != nil {
		return 0, false, err
	}
	rec, err := readWALRecord(ctx, st, key)
	if err != nil {
		return 0, false, err
	}
	if err := rec.verify(name, k); err != nil {
		return 0, false, err
	}
	canDecrypt := rec.Object.Enc == "" || k != nil && len(k.Identities) > 0
	if !canDecrypt {
		rc, err := st.Open(ctx, rec.Object.Key)
		if err != nil {
			return 0, false, err
		}
		defer rc.Close()
		v := &verifyingReader{r: rc, want: rec.Object, h: sha256.New()}
		_, err = io.Copy(io.Discard, v)
		return rec.Object.Size, false, err
	}
	rc, err := OpenObject(ctx, st, rec.Object, k)
	if err != nil {
		return 0, true, err
	}
	defer rc.Close()
	h := sha256.New()
	if _, err := io.Copy(h, rc); err != nil {
		return rec.Object.Size, true, err
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != rec.RawSHA256 {
		return rec.Object.Size, true, fmt.Errorf("content sha256 %s, record says %s (corrupt)", got, rec.RawSHA256)
	}
	return rec.Object.Size, true, nil
}

// oldestSegment is the oldest archived segment ("" when there is none).
func oldestSegment(ctx context.Context, st Store) (string, error) {
	objs, err := st.List(ctx, WALPrefix)
	if err != nil {
		return "", fmt.Errorf("list the WAL archive: %w", err)
	}
	oldest := ""
	for _, o := range objs {
		name, ok := strings.CutSuffix(path.Base(o.Key), ".json")
		if _, _, seg := segmentNumber(name); ok && seg && len(name) == 24 && (oldest == "" || name < oldest) {
			oldest = name
		}
	}
	return oldest, nil
}

// ErrWALBroken: the WAL archive has a gap or a broken segment in its kept range.
var ErrWALBroken = errors.New("WAL archive broken")
