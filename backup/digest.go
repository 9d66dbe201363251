package backup

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"math/bits"

	"github.com/zeebo/xxh3"
)

// Digest is an order-independent 128-bit digest of a multiset of rows: the sum, modulo
// 2^128, of the XXH3-128 hash of every row as COPY writes it: the text line (without its
// newline), or for binary COPY the tuple (field count and fields).
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

// RowDigester is an io.Writer that receives a COPY stream and counts and digests its
// rows: in text format (Binary false) the lines ('\n'-terminated; COPY escapes newlines
// inside values, so every '\n' ends a row), in binary format the tuples (binaryTuples).
// Writes may split rows anywhere.
type RowDigester struct {
	Binary bool
	Digest Digest
	Rows   int64
	Bytes  int64
	part   []byte       // text: an incomplete row carried over between writes
	tuples binaryTuples // binary: the stream's parser
}

func (r *RowDigester) add(row []byte) {
	r.Digest.Add(row)
	r.Rows++
}

// Write implements io.Writer; it fails on a malformed binary stream and on a row over
// PostgreSQL's 1 GB limit (maxCopyRow).
func (r *RowDigester) Write(p []byte) (int, error) {
	r.Bytes += int64(len(p))
	if r.Binary {
		if r.tuples.each == nil {
			r.tuples.each = r.add
		}
		return r.tuples.Write(p)
	}
	n := len(p)
	if len(r.part) > 0 {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			r.part = append(r.part, p...)
			return n, r.rowBound()
		}
		r.part = append(r.part, p[:i]...)
		r.add(r.part)
		r.part = r.part[:0]
		p = p[i+1:]
	}
	for {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			break
		}
		r.add(p[:i])
		p = p[i+1:]
	}
	if len(p) > 0 {
		r.part = append(r.part, p...)
	}
	return n, r.rowBound()
}

// rowBound fails once the incomplete text row carried over is over maxCopyRow.
func (r *RowDigester) rowBound() error {
	if int64(len(r.part)) > maxCopyRow {
		return fmt.Errorf("a COPY row of more than %d bytes is over PostgreSQL's 1 GB limit", maxCopyRow)
	}
	return nil
}

// Close reports a stream that ends inside a row (truncated data), or a binary stream
// without its trailer.
func (r *RowDigester) Close() error {
	if r.Binary {
		return r.tuples.Close()
	}
	if len(r.part) > 0 {
		return fmt.Errorf("copy stream ends inside a row (%d bytes left over): truncated data", len(r.part))
	}
	return nil
}
