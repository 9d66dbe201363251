package backup

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strconv"
)

// FilteredRows are the rows of one table, read from a snapshot, whose integer column
// equals one value: Data is one COPY stream in the table's stored format (load it with
// "COPY … FROM STDIN" + t.CopyWith()), N the number of rows in it.
type FilteredRows struct {
	Data []byte
	N    int64
}

// RowsWhere reads every chunk of t from st and keeps the rows whose integer column
// equals id (in COPY text the column's decimal text, in binary COPY a big-endian
// integer of 2, 4 or 8 bytes); k decrypts an encrypted snapshot. It holds the kept rows in memory: it is meant for one
// owner's rows, not for a table.
func RowsWhere(ctx context.Context, st Store, t *Table, column string, id int64, k *Keys) (*FilteredRows, error) {
	col := -1
	for i, c := range t.Columns {
		if c == column {
			col = i
		}
	}
	if col < 0 {
		return nil, fmt.Errorf("table %s in the snapshot has no column %s", t, column)
	}
	if t.Binary() {
		return rowsWhereBinary(ctx, st, t, col, id, k)
	}
	return rowsWhereText(ctx, st, t, col, id, k)
}

// rowsWhereText is RowsWhere for COPY text chunks. COPY text escapes tabs inside
// values, so splitting on tab bytes is exact.
func rowsWhereText(ctx context.Context, st Store, t *Table, col int, id int64, k *Keys) (*FilteredRows, error) {
	want := []byte(strconv.FormatInt(id, 10))
	out := &FilteredRows{}
	for _, c := range t.Chunks {
		rc, err := OpenObject(ctx, st, c.Object, k)
		if err != nil {
			return nil, err
		}
		br := bufio.NewReaderSize(rc, 256<<10)
		for {
			line, err := readCopyLine(br)
			if len(line) > 0 && bytes.Equal(field(line, col), want) {
				out.Data = append(out.Data, line...)
				out.N++
			}
			if err == io.EOF {
				break
			}
			if err != nil {
				rc.Close()
				return nil, fmt.Errorf("read %s: %w", c.Key, err)
			}
		}
		rc.Close()
	}
	return out, nil
}

// rowsWhereBinary is RowsWhere for binary COPY chunks. The result is one binary COPY
// stream: header, the kept tuples, trailer.
func rowsWhereBinary(ctx context.Context, st Store, t *Table, col int, id int64, k *Keys) (*FilteredRows, error) {
	out := &FilteredRows{Data: append([]byte{}, binarySignature...)}
	out.Data = append(out.Data, 0, 0, 0, 0, 0, 0, 0, 0) // flags, header extension length
	for _, c := range t.Chunks {
		rc, err := OpenObject(ctx, st, c.Object, k)
		if err != nil {
			return nil, err
		}
		tuples := binaryTuples{each: func(row []byte) {
			f, ok := binaryField(row, col)
			var v int64
			switch {
			case ok && len(f) == 8:
				v = int64(binary.BigEndian.Uint64(f))
			case ok && len(f) == 4:
				v = int64(int32(binary.BigEndian.Uint32(f)))
			case ok && len(f) == 2:
				v = int64(int16(binary.BigEndian.Uint16(f)))
			default:
				return
			}
			if v == id {
				out.Data = append(out.Data, row...)
				out.N++
			}
		}}
		_, err = io.Copy(&tuples, rc)
		rc.Close()
		if err == nil {
			err = tuples.Close()
		}
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", c.Key, err)
		}
	}
	out.Data = append(out.Data, 0xff, 0xff) // trailer
	return out, nil
}

// field returns column i of a COPY text line (without the trailing newline).
func field(line []byte, i int) []byte {
	line = bytes.TrimSuffix(line, []byte{'\n'})
	for ; i > 0; i-- {
		j := bytes.IndexByte(line, '\t')
		if j < 0 {
			return nil
		}
		line = line[j+1:]
	}
	if j := bytes.IndexByte(line, '\t'); j >= 0 {
		return line[:j]
	}
	return line
}

// readCopyLine reads one row of COPY text (through its newline, if any); a row longer
// than the reader's buffer is gathered whole.
func readCopyLine(br *bufio.Reader) ([]byte, error) {
	line, err := br.ReadSlice('\n')
	if !errors.Is(err, bufio.ErrBufferFull) {
		return line, err
	}
	long := append([]byte{}, line...)
	for errors.Is(err, bufio.ErrBufferFull) {
		line, err = br.ReadSlice('\n')
		long = append(long, line...)
		if int64(len(long)) > maxCopyRow {
			return nil, fmt.Errorf("a COPY row of more than %d bytes is over PostgreSQL's 1 GB limit", maxCopyRow)
		}
	}
	return long, err
}
