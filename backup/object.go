package backup

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"sync"

	"filippo.io/age"
)

// countingHash counts and hashes the bytes written through it.
type countingHash struct {
	h hash.Hash
	n int64
}

func (c *countingHash) Write(p []byte) (int, error) {
	c.h.Write(p)
	c.n += int64(len(p))
	return len(p), nil
}

// putCompressed streams what produce writes, compressed with encs' codec and, with recipients,
// age-encrypted, into key. It returns the stored object's size and SHA-256 (of the
// stored bytes) and the raw size, and checks that the store reports exactly the bytes
// written. No local disk is used: the stream goes through a pipe into the store's
// (multipart) upload.
//
// Two stages: produce and the compressor run in the caller's goroutine and hand its output
// on in 64 KiB pieces (age's chunk size, so age seals each piece with one copy and no
// partial chunk waits) to a second goroutine that encrypts, hashes the stored bytes and
// feeds the upload. Compression and sealing overlap on two cores, and the upload's
// pipe hand-offs no longer stall the compressor.
func putCompressed(ctx context.Context, st Store, encs *encoders, rcpts []age.Recipient, key string, sizeHint int64,
	produce func(w io.Writer) error) (Object, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	pr, pw := io.Pipe()
	type result struct {
		info ObjectInfo
		err  error
	}
	done := make(chan result, 1)
	go func() {
		info, err := st.Put(WithSizeHint(ctx, sizeHint), key, pr)
		pr.CloseWithError(errors.Join(err, errUploadEnded)) // unblock the producer if Put stopped early
		done <- result{info, err}
	}()

	sum := &countingHash{h: sha256.New()}
	raw := &countingHash{h: nopHash{}}
	var stored io.Writer = io.MultiWriter(sum, pw)
	var sealer io.WriteCloser
	var err error
	if len(rcpts) > 0 {
		if sealer, err = age.Encrypt(stored, rcpts...); err == nil {
			stored = sealer
		}
	}
	var enc compressor
	var chunks *sealStage
	if err == nil {
		chunks = startSealStage(stored, sealer)
		enc, err = encs.get(chunks)
	}
	if err == nil {
		err = produce(io.MultiWriter(raw, enc))
		if cerr := enc.Close(); err == nil {
			err = cerr
		}
		encs.put(enc)
	}
	if chunks != nil {
		if err != nil {
			pw.CloseWithError(err) // the stage's writes fail at once instead of uploading the rest
		}
		// The stage writes the age stream's last chunk and tag: without them the
		// object is truncated.
		if cerr := chunks.finish(err == nil); err == nil {
			err = cerr
		}
	}
	if err != nil {
		// The producer failed (COPY error) or the upload stopped first; either way the
		// reader side fails, so the store aborts the upload and keeps no object.
		pw.CloseWithError(err)
		r := <-done
		if errors.Is(err, errUploadEnded) && r.err != nil {
			return Object{}, r.err
		}
		return Object{}, err
	}
	pw.Close()
	r := <-done
	if r.err != nil {
		return Object{}, r.err // store errors name the key
	}
	obj := Object{Key: key, Size: sum.n, SHA256: hex.EncodeToString(sum.h.Sum(nil)), RawSize: raw.n, Comp: encs.objectComp()}
	if len(rcpts) > 0 {
		obj.Enc = EncryptionAge
	}
	// Backends report the size they stored (the s3 backend reads it back with HEAD).
	if r.info.Size != obj.Size {
		return Object{}, fmt.Errorf("check %s after upload: store holds %d bytes, %d were written", key, r.info.Size, obj.Size)
	}
	return obj, nil
}

// sealChunk is age's STREAM chunk size (filippo.io/age/internal/stream.ChunkSize): a
// write of exactly this many bytes is sealed and passed on as one chunk.
const sealChunk = 64 << 10

// sealDepth is how many chunks may wait between the compressor and the sealer.
const sealDepth = 4

// sealStage is the writer the compressor writes into: it cuts the stream into sealChunk pieces and
// a goroutine writes them to out (age's writer, or the hash and the upload directly).
type sealStage struct {
	buf    []byte
	full   chan []byte
	free   chan []byte
	stop   chan struct{} // closed when out failed
	err    error         // out's error; read after stop is closed or done is received
	done   chan struct{}
	closer io.Closer // age's writer (nil: plaintext)
}

func startSealStage(out io.Writer, closer io.Closer) *sealStage {
	s := &sealStage{full: make(chan []byte, sealDepth), free: make(chan []byte, sealDepth+1), stop: make(chan struct{}),
		done: make(chan struct{}), closer: closer}
	for range sealDepth + 1 {
		s.free <- make([]byte, 0, sealChunk)
	}
	s.buf = <-s.free
	go func() {
		defer close(s.done)
		for b := range s.full {
			if s.err == nil {
				if _, err := out.Write(b); err != nil {
					s.err = err
					close(s.stop)
				}
			}
			s.free <- b[:0]
		}
	}()
	return s
}

func (s *sealStage) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		k := copy(s.buf[len(s.buf):sealChunk], p)
		s.buf, p = s.buf[:len(s.buf)+k], p[k:]
		if len(s.buf) == sealChunk {
			if err := s.send(); err != nil {
				return n - len(p), err
			}
		}
	}
	return n, nil
}

// send hands the full buffer to the goroutine and takes a free one.
func (s *sealStage) send() error {
	select {
	case s.full <- s.buf:
	case <-s.stop:
		return s.err
	}
	select {
	case s.buf = <-s.free:
		return nil
	case <-s.stop:
		return s.err
	}
}

// finish passes on what is left (when ok), waits for the goroutine and closes age's
// writer (its last chunk and tag); it returns out's first error.
func (s *sealStage) finish(ok bool) error {
	var err error
	if ok && len(s.buf) > 0 {
		err = s.send()
	}
	close(s.full)
	<-s.done
	if err == nil {
		err = s.err
	}
	if ok && err == nil && s.closer != nil {
		err = s.closer.Close()
	}
	return err
}

var errUploadEnded = errors.New("upload ended")

type nopHash struct{}

func (nopHash) Write(p []byte) (int, error) { return len(p), nil }
func (nopHash) Sum(b []byte) []byte         { return b }
func (nopHash) Reset()                      {}
func (nopHash) Size() int                   { return 0 }
func (nopHash) BlockSize() int              { return 1 }

// ObjectError names a stored object that is missing, truncated or corrupt.
type ObjectError struct {
	Key string
	Err error
}

func (e *ObjectError) Error() string { return fmt.Sprintf("object %s: %v", e.Key, e.Err) }
func (e *ObjectError) Unwrap() error { return e.Err }

// OpenObject opens a stored object and returns its decompressed (and, for an encrypted
// object, decrypted with k's identities) content. The reader checks the stored bytes'
// size and SHA-256 against obj while streaming and returns an *ObjectError instead of
// io.EOF when they differ, so a consumer that reads to EOF never accepts a corrupt
// object; age authenticates every 64 KiB chunk and the end of the stream.
func OpenObject(ctx context.Context, st Store, obj Object, k *Keys) (io.ReadCloser, error) {
	rc, err := st.Open(ctx, obj.Key)
	if err != nil {
		return nil, &ObjectError{Key: obj.Key, Err: err}
	}
	v := &verifyingReader{r: rc, want: obj, h: sha256.New()}
	plain, err := decrypter(v, obj, k)
	if err != nil {
		rc.Close()
		return nil, &ObjectError{Key: obj.Key, Err: err}
	}
	dec, err := newDecompressor(obj.Comp, plain)
	if err != nil {
		rc.Close()
		return nil, &ObjectError{Key: obj.Key, Err: err}
	}
	return &objectReader{dec: dec, plain: plain, v: v, key: obj.Key, rawWant: obj.RawSize}, nil
}

type verifyingReader struct {
	r    io.ReadCloser
	want Object
	h    hash.Hash
	n    int64
}

func (v *verifyingReader) Read(p []byte) (int, error) {
	n, err := v.r.Read(p)
	v.h.Write(p[:n])
	v.n += int64(n)
	if err == io.EOF {
		if v.n != v.want.Size {
			return n, fmt.Errorf("size %d, manifest says %d (truncated or replaced)", v.n, v.want.Size)
		}
		if got := hex.EncodeToString(v.h.Sum(nil)); got != v.want.SHA256 {
			return n, fmt.Errorf("sha256 %s, manifest says %s (corrupt)", got, v.want.SHA256)
		}
	}
	return n, err
}

// objectReader may be closed while another goroutine is still reading (pgx's CopyFrom
// reads in its own goroutine and can return before it stops): Close closes the stored
// stream first, which ends a blocked read, then waits for the read before freeing the
// decoder.
type objectReader struct {
	mu      sync.Mutex
	closed  bool
	dec     decompressor
	plain   io.Reader // what the decompressor reads: v, or age's decryption of it
	v       *verifyingReader
	key     string
	raw     int64
	rawWant int64
}

func (o *objectReader) Read(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		return 0, &ObjectError{Key: o.key, Err: errors.New("read after close")}
	}
	n, err := o.dec.Read(p)
	if o.raw+int64(n) > o.rawWant {
		// A decompression bomb or a lying manifest: stop at the first byte past it.
		n = int(o.rawWant - o.raw)
		o.raw = o.rawWant
		return n, &ObjectError{Key: o.key, Err: fmt.Errorf("decompresses past the manifest's %d bytes", o.rawWant)}
	}
	o.raw += int64(n)
	if err == io.EOF {
		// Drain what the decompressor did not need so the stored bytes are fully checked: through the
		// decryption first (age authenticates its last chunk only at its end), then the
		// stored stream.
		if _, derr := io.Copy(io.Discard, o.plain); derr != nil {
			return n, &ObjectError{Key: o.key, Err: derr}
		}
		if _, derr := io.Copy(io.Discard, o.v); derr != nil {
			return n, &ObjectError{Key: o.key, Err: derr}
		}
		if o.v.n != o.v.want.Size {
			return n, &ObjectError{Key: o.key, Err: fmt.Errorf("size %d, manifest says %d", o.v.n, o.v.want.Size)}
		}
		if o.raw != o.rawWant {
			return n, &ObjectError{Key: o.key, Err: fmt.Errorf("decompressed size %d, manifest says %d", o.raw, o.rawWant)}
		}
		return n, io.EOF
	}
	if err != nil {
		return n, &ObjectError{Key: o.key, Err: err}
	}
	return n, nil
}

func (o *objectReader) Close() error {
	err := o.v.r.Close()
	o.mu.Lock()
	defer o.mu.Unlock()
	if !o.closed {
		o.closed = true
		o.dec.Close()
	}
	return err
}
