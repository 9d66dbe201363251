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
