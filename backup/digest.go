package backup

import (
	"bytes"
	"encoding/binary"
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
// rows. In text format (Binary false) rows are separated by '\n' (COPY escapes newlines
// inside values, so every '\n' ends a row); in binary format the stream is PGCOPY's
// header, tuples (int16 field count, then per field an int32 length, -1 for NULL, and
// the bytes) and the int16 -1 trailer. Writes may split rows anywhere.
type RowDigester struct {
	Binary bool
	Digest Digest
	Rows   int64
	Bytes  int64
	part   []byte // an incomplete row carried over between writes
	// binary format state
	header, trailer bool
	err             error
	onRow           func(row []byte) // called with every binary tuple (member restore)
}

// Write implements io.Writer; it fails only on a malformed binary stream.
func (r *RowDigester) Write(p []byte) (int, error) {
	if r.Binary {
		return r.writeBinary(p)
	}
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

// binarySignature starts every binary COPY stream.
var binarySignature = []byte("PGCOPY\n\xff\r\n\x00")

func (r *RowDigester) writeBinary(p []byte) (int, error) {
	if r.err != nil {
		return 0, r.err
	}
	r.Bytes += int64(len(p))
	data := p
	carried := len(r.part) > 0
	if carried {
		r.part = append(r.part, p...)
		data = r.part
	}
	off, err := r.binaryRows(data)
	if err != nil {
		r.err = err
		return 0, err
	}
	if carried {
		r.part = r.part[:copy(r.part, data[off:])]
	} else {
		r.part = append(r.part[:0], data[off:]...)
	}
	return len(p), nil
}

// binaryRows digests the complete tuples at the start of data and returns how many
// bytes it consumed.
func (r *RowDigester) binaryRows(data []byte) (int, error) {
	off := 0
	if !r.header {
		if len(data) < 19 {
			return 0, nil
		}
		if !bytes.Equal(data[:11], binarySignature) {
			return 0, fmt.Errorf("not a binary COPY stream (no PGCOPY signature)")
		}
		ext := int64(binary.BigEndian.Uint32(data[15:19]))
		if int64(len(data)) < 19+ext {
			return 0, nil
		}
		off = 19 + int(ext)
		r.header = true
	}
	for off < len(data) {
		if r.trailer {
			return 0, fmt.Errorf("binary COPY stream has %d bytes after its trailer", len(data)-off)
		}
		if len(data)-off < 2 {
			break
		}
		fields := int16(binary.BigEndian.Uint16(data[off:]))
		if fields == -1 {
			r.trailer = true
			off += 2
			continue
		}
		if fields < 0 {
			return 0, fmt.Errorf("binary COPY stream: bad field count %d", fields)
		}
		end, ok := off+2, true
		for i := 0; i < int(fields); i++ {
			if len(data)-end < 4 {
				ok = false
				break
			}
			l := int32(binary.BigEndian.Uint32(data[end:]))
			end += 4
			if l < -1 {
				return 0, fmt.Errorf("binary COPY stream: bad field length %d", l)
			}
			if l > 0 {
				if len(data)-end < int(l) {
					ok = false
					break
				}
				end += int(l)
			}
		}
		if !ok {
			break
		}
		r.Digest.Add(data[off:end])
		r.Rows++
		if r.onRow != nil {
			r.onRow(data[off:end])
		}
		off = end
	}
	return off, nil
}

// binaryField returns field i of a binary COPY tuple (nil, false for NULL or a tuple
// with fewer fields).
func binaryField(tuple []byte, i int) ([]byte, bool) {
	if len(tuple) < 2 || int(int16(binary.BigEndian.Uint16(tuple))) <= i {
		return nil, false
	}
	p := tuple[2:]
	for {
		if len(p) < 4 {
			return nil, false
		}
		l := int32(binary.BigEndian.Uint32(p))
		p = p[4:]
		if l < 0 {
			if i == 0 {
				return nil, false
			}
			i--
			continue
		}
		if len(p) < int(l) {
			return nil, false
		}
		if i == 0 {
			return p[:l], true
		}
		p = p[l:]
		i--
	}
}

// Close reports a stream that ends inside a row (truncated data), or a binary stream
// without its trailer.
func (r *RowDigester) Close() error {
	if r.err != nil {
		return r.err
	}
	if len(r.part) > 0 {
		return fmt.Errorf("copy stream ends inside a row (%d bytes left over): truncated data", len(r.part))
	}
	if r.Binary && !r.trailer {
		return fmt.Errorf("binary copy stream ends without its trailer: truncated data")
	}
	return nil
}
