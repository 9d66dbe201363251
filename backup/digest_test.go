package backup

import (
	"bytes"
	"math/rand"
	"testing"
)

func TestRowDigesterOrderAndSplitIndependent(t *testing.T) {
	rows := [][]byte{[]byte("1\ta\\tb"), []byte("2\t\\N"), []byte("3\tx"), []byte("2\t\\N")}
	var stream bytes.Buffer
	for _, r := range rows {
		stream.Write(r)
		stream.WriteByte('\n')
	}
	var whole RowDigester
	whole.Write(stream.Bytes())
	if err := whole.Close(); err != nil {
		t.Fatal(err)
	}
	if whole.Rows != 4 {
		t.Fatalf("rows = %d, want 4", whole.Rows)
	}
	// Byte-at-a-time writes give the same digest.
	var split RowDigester
	for _, b := range stream.Bytes() {
		split.Write([]byte{b})
	}
	if split.Digest != whole.Digest || split.Rows != whole.Rows {
		t.Fatalf("split writes: %v/%d, whole: %v/%d", split.Digest, split.Rows, whole.Digest, whole.Rows)
	}
	// Any order and any chunking, merged, gives the same digest.
	rng := rand.New(rand.NewSource(1))
	for i := 0; i < 20; i++ {
		perm := rng.Perm(len(rows))
		var a, b RowDigester
		for j, k := range perm {
			w := &a
			if j%2 == 1 {
				w = &b
			}
			w.Write(append(append([]byte{}, rows[k]...), '\n'))
		}
		a.Digest.Merge(b.Digest)
		if a.Digest != whole.Digest {
			t.Fatalf("order %v: digest %v, want %v", perm, a.Digest, whole.Digest)
		}
	}
	// A duplicate row changes the digest (sum, not xor).
	var dup RowDigester
	dup.Write(stream.Bytes())
	dup.Write([]byte("3\tx\n"))
	if dup.Digest == whole.Digest {
		t.Fatal("an extra duplicate row did not change the digest")
	}
}

func TestRowDigesterTruncated(t *testing.T) {
	var d RowDigester
	d.Write([]byte("1\ta\n2\tb"))
	if err := d.Close(); err == nil {
		t.Fatal("Close accepted a stream ending inside a row")
	}
}

func TestDigestStringRoundTrip(t *testing.T) {
	d := Digest{Hi: 0x0123456789abcdef, Lo: 0xfedcba9876543210}
	s := d.String()
	if s != "0123456789abcdeffedcba9876543210" {
		t.Fatalf("String() = %s", s)
	}
	got, err := ParseDigest(s)
	if err != nil || got != d {
		t.Fatalf("ParseDigest(%s) = %v, %v", s, got, err)
	}
	if _, err := ParseDigest("xyz"); err == nil {
		t.Fatal("ParseDigest accepted garbage")
	}
}

func TestDigestCarry(t *testing.T) {
	d := Digest{Hi: 0, Lo: ^uint64(0)}
	d.Merge(Digest{Lo: 1})
	if d.Hi != 1 || d.Lo != 0 {
		t.Fatalf("carry lost: %+v", d)
	}
}

func BenchmarkRowDigester(b *testing.B) {
	row := bytes.Repeat([]byte("x"), 280)
	var buf bytes.Buffer
	for buf.Len() < 1<<20 {
		buf.Write(row)
		buf.WriteByte('\n')
	}
	b.SetBytes(int64(buf.Len()))
	for i := 0; i < b.N; i++ {
		var d RowDigester
		d.Write(buf.Bytes())
	}
}

// binaryStream builds a binary COPY stream of rows (nil field = NULL).
func binaryStream(rows [][][]byte) []byte {
	b := append([]byte{}, binarySignature...)
	b = append(b, 0, 0, 0, 0, 0, 0, 0, 4, 'x', 'x', 'x', 'x') // flags, a 4-byte header extension
	for _, r := range rows {
		b = append(b, byte(len(r)>>8), byte(len(r)))
		for _, f := range r {
			if f == nil {
				b = append(b, 0xff, 0xff, 0xff, 0xff)
				continue
			}
			n := len(f)
			b = append(b, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
			b = append(b, f...)
		}
	}
	return append(b, 0xff, 0xff)
}

func TestRowDigesterBinary(t *testing.T) {
	long := bytes.Repeat([]byte("z"), 70000)
	rows := [][][]byte{
		{[]byte{0, 0, 0, 0, 0, 0, 0, 1}, []byte("a\tb\nc")},
		{[]byte{0, 0, 0, 0, 0, 0, 0, 2}, nil},
		{[]byte{0, 0, 0, 0, 0, 0, 0, 3}, long},
		{[]byte{0, 0, 0, 0, 0, 0, 0, 2}, nil},
		{},
	}
	stream := binaryStream(rows)
	whole := RowDigester{Binary: true}
	if _, err := whole.Write(stream); err != nil {
		t.Fatal(err)
	}
	if err := whole.Close(); err != nil {
		t.Fatal(err)
	}
	if whole.Rows != 5 {
		t.Fatalf("rows = %d, want 5", whole.Rows)
	}
	// Any split of the stream, and any order of the rows, gives the same digest.
	for _, step := range []int{1, 3, 7, 4096} {
		split := RowDigester{Binary: true}
		for i := 0; i < len(stream); i += step {
			if _, err := split.Write(stream[i:min(i+step, len(stream))]); err != nil {
				t.Fatal(err)
			}
		}
		if err := split.Close(); err != nil || split.Digest != whole.Digest || split.Rows != whole.Rows {
			t.Fatalf("step %d: %v/%d (%v), whole: %v/%d", step, split.Digest, split.Rows, err, whole.Digest, whole.Rows)
		}
	}
	reordered := RowDigester{Binary: true}
	reordered.Write(binaryStream([][][]byte{rows[4], rows[2], rows[1], rows[0], rows[3]}))
	if reordered.Digest != whole.Digest {
		t.Fatal("row order changed the digest")
	}
	// A changed byte, a lost row, a truncated stream, a stream that is not binary COPY.
	changed := append([]byte{}, stream...)
	changed[len(changed)-10] ^= 1
	c := RowDigester{Binary: true}
	c.Write(changed)
	if c.Close() != nil || c.Digest == whole.Digest {
		t.Fatal("a changed byte kept the digest")
	}
	lost := RowDigester{Binary: true}
	lost.Write(binaryStream(rows[:4]))
	if lost.Digest == whole.Digest {
		t.Fatal("a lost row kept the digest")
	}
	trunc := RowDigester{Binary: true}
	trunc.Write(stream[:len(stream)-2])
	if trunc.Close() == nil {
		t.Fatal("a stream without trailer closed without error")
	}
	trunc = RowDigester{Binary: true}
	trunc.Write(stream[:len(stream)-100])
	if trunc.Close() == nil {
		t.Fatal("a stream cut inside a row closed without error")
	}
	text := RowDigester{Binary: true}
	if _, err := text.Write([]byte("1\tabc\n2\tdefghijklmnopqrstuvwxyz\n")); err == nil {
		t.Fatal("text accepted as binary COPY")
	}
	extra := RowDigester{Binary: true}
	if _, err := extra.Write(append(append([]byte{}, stream...), 0, 1)); err == nil {
		t.Fatal("bytes after the trailer accepted")
	}
}

func TestBinaryField(t *testing.T) {
	s := binaryStream([][][]byte{{[]byte("ab"), nil, []byte("cde")}})
	row := s[19+4 : len(s)-2]
	for i, want := range []string{"ab", "", "cde"} {
		f, ok := binaryField(row, i)
		if string(f) != want || ok != (want != "") {
			t.Fatalf("field %d = %q %v", i, f, ok)
		}
	}
	if _, ok := binaryField(row, 3); ok {
		t.Fatal("field beyond the tuple")
	}
}
