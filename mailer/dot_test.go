package mailer

import (
	"bufio"
	"bytes"
	"math/rand/v2"
	"net/textproto"
	"testing"
)

// dotWriter must write exactly what net/textproto's DotWriter writes (the bytes a
// DKIM signature covers), whatever the input and however it is split into writes.
func TestDotWriterMatchesTextproto(t *testing.T) {
	inputs := []string{
		"", "a", ".", "..", "\n", "\r", "\r\n", ".\r\n", "a\n.b\n..c\r\n.\r\nend",
		"line\r\n.leading dot\r\nbare lf\nbare cr\rx\r\n", "no final newline.",
		"ends with cr\r", "\n\n.\n\r\r\n.", "From: a\r\n\r\n.\r\n..\r\n.x\r\n",
	}
	r := rand.New(rand.NewPCG(1, 2))
	alphabet := []byte("ab.\r\n")
	for i := 0; i < 2000; i++ {
		b := make([]byte, r.IntN(40))
		for j := range b {
			b[j] = alphabet[r.IntN(len(alphabet))]
		}
		inputs = append(inputs, string(b))
	}
	for _, in := range inputs {
		var want bytes.Buffer
		tw := textproto.NewWriter(bufio.NewWriter(&want))
		dw := tw.DotWriter()
		dw.Write([]byte(in))
		dw.Close()
		for _, split := range []int{1, 2, 3, 7, 1 << 20} {
			var got bytes.Buffer
			bw := bufio.NewWriter(&got)
			d := &dotWriter{w: bw, bol: true}
			for p := []byte(in); len(p) > 0; {
				n := min(split, len(p))
				if k, err := d.Write(p[:n]); k != n || err != nil {
					t.Fatalf("Write: %d, %v", k, err)
				}
				p = p[n:]
			}
			if err := d.Close(); err != nil {
				t.Fatal(err)
			}
			w := want.Bytes()
			if in == "" { // textproto ends an empty message with an empty line; both are valid
				w = []byte(".\r\n")
			}
			if !bytes.Equal(got.Bytes(), w) {
				t.Fatalf("input %q in writes of %d: got %q, want %q", in, split, got.Bytes(), w)
			}
		}
	}
}
