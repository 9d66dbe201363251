package bookmarkgen

// rng is a SplitMix64 generator. It is written out here, not taken from math/rand, so
// that a seed produces the same rows with every Go version: the output is part of the
// package's contract (benchmarks and golden tests rely on it).
type rng struct{ s uint64 }

// seed resets r to the stream identified by (seed, id, stream). Every member of every
// table has its own stream, so rows never depend on the order they are generated in.
func (r *rng) seed(seed int64, id int64, stream uint64) {
	r.s = uint64(seed)*0x9e3779b97f4a7c15 ^ uint64(id)*0xbf58476d1ce4e5b9 ^ stream*0x94d049bb133111eb
	r.next() // mix
}

func (r *rng) next() uint64 {
	r.s += 0x9e3779b97f4a7c15
	z := r.s
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// intn returns a value in [0, n); n <= 0 returns 0. The modulo bias is below 2^-40 for
// the small n used here.
func (r *rng) intn(n int) int {
	if n <= 0 {
		return 0
	}
	return int(r.next() % uint64(n))
}

// percent reports true with probability p/100.
func (r *rng) percent(p int) bool { return r.intn(100) < p }

func pick[T any](r *rng, xs []T) T { return xs[r.intn(len(xs))] }
