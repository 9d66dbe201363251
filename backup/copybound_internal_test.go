package backup

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"strings"
	"testing"
)

func binaryHeader() []byte {
	return append(append([]byte{}, binarySignature...), 0, 0, 0, 0, 0, 0, 0, 0)
}

// TestBinaryCopyFieldBound: a field longer than PostgreSQL allows (1 GB) is refused at
// once, not buffered while the rest of the claimed length arrives.
func TestBinaryCopyFieldBound(t *testing.T) {
	s := &binaryTuples{each: func([]byte) {}}
	b := binaryHeader()
	b = binary.BigEndian.AppendUint16(b, 1)
	b = binary.BigEndian.AppendUint32(b, 0x7fffffff)
	b = append(b, "x"...)
	if _, err := s.Write(b); err == nil || !strings.Contains(err.Error(), "1 GB") {
		t.Fatalf("a 2 GB field: %v", err)
	}
}

// TestCopyRowBound: a row that grows past the row limit (PostgreSQL's 1 GB; lowered
// here) fails with a clear error in the binary and the text reader.
func TestCopyRowBound(t *testing.T) {
	old := maxCopyRow
	maxCopyRow = 4 << 10
	t.Cleanup(func() { maxCopyRow = old })
	s := &binaryTuples{each: func([]byte) {}}
	b := binaryHeader()
	b = binary.BigEndian.AppendUint16(b, 3)
	for i := 0; i < 2; i++ {
		b = binary.BigEndian.AppendUint32(b, 3<<10)
		b = append(b, bytes.Repeat([]byte("y"), 3<<10)...)
	}
	if _, err := s.Write(b); err == nil || !strings.Contains(err.Error(), "row") {
		t.Fatalf("a row past the limit: %v", err)
	}
	line := strings.Repeat("z", 10<<10) + "\n"
	d := &RowDigester{}
	if _, err := d.Write([]byte(line[:5<<10])); err == nil || !strings.Contains(err.Error(), "row") {
		t.Fatalf("digesting a text row past the limit: %v", err)
	}
	if _, err := readCopyLine(bufio.NewReaderSize(strings.NewReader(line), 1024)); err == nil || !strings.Contains(err.Error(), "row") {
		t.Fatalf("a text row past the limit: %v", err)
	}
}
