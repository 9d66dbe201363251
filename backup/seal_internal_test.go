package backup

import (
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"

	"filippo.io/age"

	"github.com/linkagogo/linkbackup/backup/trust"
)

// memStore keeps objects in memory (Put and Open only).
type memStore struct {
	Store
	mu   sync.Mutex
	objs map[string][]byte
}

func (m *memStore) Put(_ context.Context, key string, r io.Reader) (ObjectInfo, error) {
	b, err := io.ReadAll(r)
	if err != nil {
		return ObjectInfo{}, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.objs == nil {
		m.objs = map[string][]byte{}
	}
	m.objs[key] = b
	return ObjectInfo{Key: key, Size: int64(len(b))}, nil
}

func (m *memStore) Open(_ context.Context, key string) (io.ReadCloser, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	b, ok := m.objs[key]
	if !ok {
		return nil, fs.ErrNotExist
	}
	return io.NopCloser(bytes.NewReader(b)), nil
}

// TestPutCompressedRoundTrip: the two-stage write path stores exactly what was produced,
// plain and age-encrypted, at sizes around age's 64 KiB chunks, in writes of every size.
func TestPutCompressedRoundTrip(t *testing.T) {
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	keys := &Keys{Identities: []trust.Identity{{Identity: id, Fingerprint: "x"}}}
	rng := rand.New(rand.NewPCG(3, 4))
	for _, comp := range Compressions {
		encs, err := newEncoders(comp, 1)
		if err != nil {
			t.Fatal(err)
		}
		roundTrips(t, rng, encs, keys, id)
	}
}

func roundTrips(t *testing.T, rng *rand.Rand, encs *encoders, keys *Keys, id *age.X25519Identity) {
	for _, size := range []int{0, 1, sealChunk - 1, sealChunk, sealChunk + 1, 5*sealChunk + 7, 3 << 20} {
		data := make([]byte, size)
		for i := range data {
			data[i] = byte(rng.IntN(16)) // compressible, but not to nothing
		}
		for _, rcpts := range [][]age.Recipient{nil, {id.Recipient()}} {
			st := &memStore{}
			obj, err := putCompressed(context.Background(), st, encs, rcpts, "k", 0, func(w io.Writer) error {
				for p := data; len(p) > 0; {
					n := min(len(p), 1+rng.IntN(3*sealChunk))
					if _, err := w.Write(p[:n]); err != nil {
						return err
					}
					p = p[n:]
				}
				return nil
			})
			if err != nil {
				t.Fatalf("%s size %d, %d recipients: %v", encs.comp, size, len(rcpts), err)
			}
			if obj.RawSize != int64(size) || obj.Size != int64(len(st.objs["k"])) || obj.Comp != encs.objectComp() {
				t.Fatalf("size %d: object %+v, stored %d bytes", size, obj, len(st.objs["k"]))
			}
			rc, err := OpenObject(context.Background(), st, obj, keys)
			if err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(rc)
			rc.Close()
			if err != nil || !bytes.Equal(got, data) {
				t.Fatalf("%s size %d, %d recipients: read back %d bytes, %v", encs.comp, size, len(rcpts), len(got), err)
			}
		}
	}
}

// brokenStore reads a little of every Put, then fails it.
type brokenStore struct{ Store }

func (brokenStore) Put(_ context.Context, _ string, r io.Reader) (ObjectInfo, error) {
	io.CopyN(io.Discard, r, 100)
	return ObjectInfo{}, errors.New("injected store failure")
}

// TestPutCompressedStoreFailure: an upload that stops early fails the write with the
// store's error (no hang with chunks in flight), plain and encrypted; a producer error
// is returned as is.
func TestPutCompressedStoreFailure(t *testing.T) {
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(5, 6))
	data := make([]byte, 8<<20)
	for i := range data {
		data[i] = byte(rng.Uint32()) // incompressible: many chunks
	}
	encs, _ := newEncoders(CompressionS2, 1)
	for _, rcpts := range [][]age.Recipient{nil, {id.Recipient()}} {
		_, err := putCompressed(context.Background(), brokenStore{}, encs, rcpts, "k", 0, func(w io.Writer) error {
			_, err := w.Write(data)
			return err
		})
		if err == nil || !strings.Contains(err.Error(), "injected store failure") {
			t.Fatalf("%d recipients: err = %v, want the store's failure", len(rcpts), err)
		}
		boom := errors.New("copy failed")
		_, err = putCompressed(context.Background(), &memStore{}, encs, rcpts, "k", 0, func(w io.Writer) error {
			w.Write(data[:3*sealChunk])
			return boom
		})
		if !errors.Is(err, boom) {
			t.Fatalf("%d recipients: err = %v, want the producer's", len(rcpts), err)
		}
	}
}
