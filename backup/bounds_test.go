package backup_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/klauspost/compress/s2"
	"github.com/klauspost/compress/zstd"

	"github.com/linkagogo/linkbackup/backup"
	"github.com/linkagogo/linkbackup/backup/file"
	"github.com/linkagogo/linkbackup/internal/testenv"
)

// repeatReader yields n bytes of line, repeated.
type repeatReader struct {
	line string
	n    int64
	off  int
}

func (r *repeatReader) Read(p []byte) (int, error) {
	if r.n <= 0 {
		return 0, io.EOF
	}
	k := 0
	for k < len(p) && r.n > 0 {
		c := copy(p[k:], r.line[r.off:])
		if int64(c) > r.n {
			c = int(r.n)
		}
		k += c
		r.n -= int64(c)
		r.off = (r.off + c) % len(r.line)
	}
	return k, nil
}

// plant stores raw (zstd-compressed) under key in the file store and returns the object
// as an honest manifest would describe it.
func plant(t *testing.T, st *file.Store, key string, raw io.Reader) backup.Object {
	t.Helper()
	return plantWith(t, st, key, backup.CompressionZstd, raw)
}

// plantWith is plant with the codec comp.
func plantWith(t *testing.T, st *file.Store, key, comp string, raw io.Reader) backup.Object {
	t.Helper()
	p := filepath.Join(st.Dir(), filepath.FromSlash(key))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.New()
	var enc io.WriteCloser = s2.NewWriter(io.MultiWriter(f, h))
	if comp == backup.CompressionZstd {
		if enc, err = zstd.NewWriter(io.MultiWriter(f, h), zstd.WithEncoderLevel(zstd.SpeedFastest)); err != nil {
			t.Fatal(err)
		}
	}
	n, err := io.Copy(enc, raw)
	if err != nil {
		t.Fatal(err)
	}
	if err := enc.Close(); err != nil {
		t.Fatal(err)
	}
	fi, _ := f.Stat()
	f.Close()
	obj := backup.Object{Key: key, Size: fi.Size(), SHA256: hex.EncodeToString(h.Sum(nil)), RawSize: n}
	if comp != backup.CompressionZstd {
		obj.Comp = comp
	}
	return obj
}

// TestObjectStopsPastManifestSize: a decompression bomb behind a lying manifest is cut
// at the first byte past the manifest's decompressed size, with an error naming it.
func TestObjectStopsPastManifestSize(t *testing.T) {
	t.Parallel()
	st := fileStore(t)
	for _, comp := range backup.Compressions {
		obj := plantWith(t, st, "snapshots/x/data/bomb.copy."+comp, comp, &repeatReader{line: "1\tzero\n", n: 64 << 20})
		obj.RawSize = 1000 // the manifest lies
		rc, err := backup.OpenObject(context.Background(), st, obj, nil)
		if err != nil {
			t.Fatal(err)
		}
		n, err := io.Copy(io.Discard, rc)
		rc.Close()
		var oe *backup.ObjectError
		if !errors.As(err, &oe) || oe.Key != obj.Key || n > obj.RawSize {
			t.Fatalf("%s: read %d bytes past a manifest size of %d: %v", comp, n, obj.RawSize, err)
		}
	}
}

// TestObjectNamesItsCodec: an object read with the wrong codec, or recorded with one
// this build does not know, fails with an error naming the object (and, for an
// unknown codec, saying to upgrade); nothing is returned as content.
func TestObjectNamesItsCodec(t *testing.T) {
	t.Parallel()
	st := fileStore(t)
	s2obj := plantWith(t, st, "snapshots/x/data/a.copy.s2", backup.CompressionS2, strings.NewReader(strings.Repeat("1\tone\n", 5000)))
	asZstd := s2obj
	asZstd.Comp = "" // a forged or mis-recorded codec
	rc, err := backup.OpenObject(context.Background(), st, asZstd, nil)
	if err == nil {
		var got []byte
		got, err = io.ReadAll(rc)
		rc.Close()
		if err == nil {
			t.Fatalf("s2 bytes read as zstd gave %d bytes and no error", len(got))
		}
	}
	var oe *backup.ObjectError
	if !errors.As(err, &oe) || oe.Key != s2obj.Key {
		t.Fatalf("s2 bytes read as zstd: %v, want an ObjectError naming %s", err, s2obj.Key)
	}
	unknown := s2obj
	unknown.Comp = "brotli"
	_, err = backup.OpenObject(context.Background(), st, unknown, nil)
	if !errors.As(err, &oe) || !strings.Contains(err.Error(), `"brotli"`) || !strings.Contains(err.Error(), "upgrade linkbackup") {
		t.Fatalf("unknown codec: %v", err)
	}
	rc, err = backup.OpenObject(context.Background(), st, s2obj, nil)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(rc)
	rc.Close()
	if err != nil || string(got) != strings.Repeat("1\tone\n", 5000) {
		t.Fatalf("s2 object read back %d bytes: %v", len(got), err)
	}
}

// TestRestoreBoundsTheSchemaScript: a crafted snapshot whose pre-data object is a
// decompression bomb (hundreds of MB of SQL from a few hundred KB) fails with an error
// naming the object, without holding the bomb in memory; a manifest that admits a
// schema script above the cap is refused before the object is read.
func TestRestoreBoundsTheSchemaScript(t *testing.T) {
	// Not parallel: it measures the allocations of this process.
	ctx := context.Background()
	src := bookmarkDB(t, 2, 2)
	st := fileStore(t)
	m, err := backup.Backup(ctx, opts(t, src, st))
	if err != nil {
		t.Fatal(err)
	}
	bomb := plant(t, st, m.PreData.Key, &repeatReader{line: "SELECT 1; -- " + strings.Repeat("x", 100) + "\n", n: 300 << 20})
	lying := *m
	lying.ID, lying.PreData = "20990101T000000.000Z", bomb
	lying.PreData.RawSize = m.PreData.RawSize
	if err := backup.WriteManifest(ctx, st, &lying); err != nil {
		t.Fatal(err)
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	_, err = backup.Restore(ctx, backup.RestoreOptions{Store: st, ID: lying.ID, Target: testenv.NewDatabase(t, testenv.StandbyDSN(t)), Log: testLog(t)})
	runtime.ReadMemStats(&after)
	var oe *backup.ObjectError
	if !errors.As(err, &oe) || oe.Key != bomb.Key {
		t.Fatalf("restore of a schema bomb: %v", err)
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 64<<20 {
		t.Fatalf("the restore allocated %d MB reading a schema bomb", alloc>>20)
	}
	honest := lying
	honest.ID, honest.PreData = "20990102T000000.000Z", bomb
	if err := backup.WriteManifest(ctx, st, &honest); err != nil {
		t.Fatal(err)
	}
	if _, err := backup.Restore(ctx, backup.RestoreOptions{Store: st, ID: honest.ID, Target: testenv.NewDatabase(t, testenv.StandbyDSN(t)), Log: testLog(t)}); err == nil ||
		!strings.Contains(err.Error(), "schema script") || !strings.Contains(err.Error(), bomb.Key) {
		t.Fatalf("restore of a schema script above the cap: %v", err)
	}
}
