package backup

import (
	"bytes"
	"encoding/binary"
	"fmt"
)

// maxCopyRow bounds one row of a COPY stream read back from a store: PostgreSQL builds
// each row of COPY TO in one buffer of at most 1 GB, and a field cannot be larger either.
var maxCopyRow = int64(1 << 30)

// binarySignature starts every binary COPY stream.
var binarySignature = []byte("PGCOPY\n\xff\r\n\x00")

// binaryTuples is an io.Writer that splits a binary COPY stream, written in pieces of
// any size, into tuples and calls each with every one: PGCOPY's header, then tuples
// (int16 field count, then per field an int32 length, -1 for NULL, and the bytes), then
// the int16 -1 trailer. A tuple is passed whole, from its field count to its last byte.
type binaryTuples struct {
	each            func(tuple []byte)
	part            []byte // an incomplete tuple (or header) carried over between writes
	header, trailer bool
	err             error
}

// Write implements io.Writer; it fails on a malformed stream.
func (s *binaryTuples) Write(p []byte) (int, error) {
	if s.err != nil {
		return 0, s.err
	}
	data := p
	carried := len(s.part) > 0
	if carried {
		s.part = append(s.part, p...)
		data = s.part
	}
	off, err := s.scan(data)
	if err != nil {
		s.err = err
		return 0, err
	}
	if int64(len(data)-off) > maxCopyRow {
		s.err = fmt.Errorf("binary COPY stream: a row of more than %d bytes is over PostgreSQL's 1 GB limit", maxCopyRow)
		return 0, s.err
	}
	if carried {
		s.part = s.part[:copy(s.part, data[off:])]
	} else {
		s.part = append(s.part[:0], data[off:]...)
	}
	return len(p), nil
}

// scan passes the complete tuples at the start of data to each and returns how many
// bytes it consumed.
func (s *binaryTuples) scan(data []byte) (int, error) {
	off := 0
	if !s.header {
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
		s.header = true
	}
	for off < len(data) {
		if s.trailer {
			return 0, fmt.Errorf("binary COPY stream has %d bytes after its trailer", len(data)-off)
		}
		if len(data)-off < 2 {
			break
		}
		fields := int16(binary.BigEndian.Uint16(data[off:]))
		if fields == -1 {
			s.trailer = true
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
			if int64(l) > maxCopyRow {
				return 0, fmt.Errorf("binary COPY stream: a field of %d bytes is over PostgreSQL's 1 GB limit", l)
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
		s.each(data[off:end])
		off = end
	}
	return off, nil
}

// Close reports a stream that ends inside a tuple or without its trailer (truncated).
func (s *binaryTuples) Close() error {
	if s.err != nil {
		return s.err
	}
	if len(s.part) > 0 {
		return fmt.Errorf("copy stream ends inside a row (%d bytes left over): truncated data", len(s.part))
	}
	if !s.trailer {
		return fmt.Errorf("binary copy stream ends without its trailer: truncated data")
	}
	return nil
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
