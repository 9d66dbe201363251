package backup

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"syscall"
	"testing"
	"time"

	"filippo.io/age"
)

// discardStore counts what is put and keeps nothing.
type discardStore struct{ Store }

func (discardStore) Put(_ context.Context, key string, r io.Reader) (ObjectInfo, error) {
	n, err := io.Copy(io.Discard, r)
	return ObjectInfo{Key: key, Size: n}, err
}

// processCPU is the user+system CPU time of this process so far.
func processCPU() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkSeal isolates what encryption adds to the write path: 32 MiB of COPY-text-like
// rows through zstd (level 1) into a store that discards, plain and age-encrypted, the
// two alternating in each of 3 rounds. CPU-bound; MB/s is of the raw rows; cpu-ms/op is
// the process's CPU time (compression and sealing run in two goroutines, so wall time
// can be lower than CPU time).
//
//	go test -run '^$' -bench BenchmarkSeal -benchtime 5x ./backup/
func BenchmarkSeal(b *testing.B) {
	rows := make([]byte, 0, 32<<20)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := 0; len(rows) < 32<<20; i++ {
		rows = fmt.Appendf(rows, "%d\t%d\t%d\thttps://example%d.test/path/%x\ttitle %x\t\t{tag%d}\tf\tf\t%d\t2026-11-%02d 10:00:00+00\n",
			i, rng.IntN(5000), rng.IntN(90000), rng.IntN(1000), rng.Uint64(), rng.Uint32(), rng.IntN(20), rng.IntN(200), 1+rng.IntN(28))
	}
	id, err := age.GenerateX25519Identity()
	if err != nil {
		b.Fatal(err)
	}
	encs := zstdEncoders()
	for range 3 {
		for _, mode := range []string{"plain", "age"} {
			var rcpts []age.Recipient
			if mode == "age" {
				rcpts = []age.Recipient{id.Recipient()}
			}
			b.Run(mode, func(b *testing.B) {
				b.SetBytes(int64(len(rows)))
				cpu := processCPU()
				for range b.N {
					if _, err := putCompressed(context.Background(), discardStore{}, encs, rcpts, "k", 0, func(w io.Writer) error {
						_, err := w.Write(rows)
						return err
					}); err != nil {
						b.Fatal(err)
					}
				}
				// CPU time of the process per op: on a shared machine, wall time measures the
				// neighbours; this measures the work.
				b.ReportMetric(float64((processCPU()-cpu).Milliseconds())/float64(b.N), "cpu-ms/op")
			})
		}
	}
}
