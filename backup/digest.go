package backup

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"math/bits"

	"github.com/zeebo/xxh3"
)

// Digest is an order-independent 128-bit digest of a multiset of rows: the sum, modulo
// 2^128, of the XXH3-128 hash of every row's COPY text line (without its newline).
// Addition (unlike XOR) keeps duplicate rows visible, and sums of chunks add up to the
// table's digest, so a table copied in several ranges and restored in another order
// still compares equal. XXH3 is not a cryptographic hash: the digest proves a restore
// against accidents (lost, doubled or altered rows); every stored object additionally
// carries a SHA-256.
type Digest struct {
	Hi, Lo uint64
}

// Add adds one row (its COPY text, without the trailing newline).
func (d *Digest) Add(row []byte) {
	h := xxh3.Hash128(row)
	var carry uint64
	d.Lo, carry = bits.Add64(d.Lo, h.Lo, 0)
	d.Hi, _ = bits.Add64(d.Hi, h.Hi, carry)
}

// Merge adds another digest (of a disjoint set of rows).
func (d *Digest) Merge(o Digest) {
	var carry uint64
	d.Lo, carry = bits.Add64(d.Lo, o.Lo, 0)
	d.Hi, _ = bits.Add64(d.Hi, o.Hi, carry)
}

// String is 32 lower-case hex digits, high half first.
func (d Digest) String() string {
	var b [16]byte
	for i := 0; i < 8; i++ {
		b[i] = byte(d.Hi >> (56 - 8*i))
		b[8+i] = byte(d.Lo >> (56 - 8*i))
	}
	return hex.EncodeToString(b[:])
}

// ParseDigest parses the String form.
func ParseDigest(s string) (Digest, error) {
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != 16 {
		return Digest{}, fmt.Errorf("digest %q: want 32 hex digits", s)
	}
	var d Digest
	for i := 0; i < 8; i++ {
		d.Hi = d.Hi<<8 | uint64(b[i])
		d.Lo = d.Lo<<8 | uint64(b[8+i])
	}
	return d, nil
}

// RowDigester is an io.Writer that receives a COPY text stream (rows separated by '\n';
// COPY escapes newlines inside values, so every '\n' ends a row) and counts and digests
// its rows. Writes may split rows anywhere.
type RowDigester struct {
	Digest Digest
	Rows   int64
	Bytes  int64
	part   []byte // an incomplete row carried over between writes
}

// Write implements io.Writer; it never fails.
func (r *RowDigester) Write(p []byte) (int, error) {
	n := len(p)
	r.Bytes += int64(n)
	if len(r.part) > 0 {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			r.part = append(r.part, p...)
			return n, nil
		}
		r.part = append(r.part, p[:i]...)
		r.Digest.Add(r.part)
		r.Rows++
		r.part = r.part[:0]
		p = p[i+1:]
	}
	for {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			break
		}
		r.Digest.Add(p[:i])
		r.Rows++
		p = p[i+1:]
	}
	if len(p) > 0 {
		r.part = append(r.part, p...)
	}
	return n, nil
}

// Close reports a stream that did not end with a newline (a truncated row).
func (r *RowDigester) Close() error {
	if len(r.part) > 0 {
		return fmt.Errorf("copy stream ends inside a row (%d bytes without newline): truncated data", len(r.part))
	}
	return nil
}
