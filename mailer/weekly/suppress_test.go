package weekly

import "testing"

func TestSuppressed(t *testing.T) {
	a, b := "x@example.test", "X@Example.test"
	other := "y@example.test"
	for _, c := range []struct {
		name   string
		record []*string
		n      int
		want   bool
	}{
		{"two bounces at the address", []*string{&a, &b}, 2, true},
		{"more history than needed", []*string{&a, &a, nil}, 2, true},
		{"one bounce only", []*string{&a}, 2, false},
		{"sent in between", []*string{&a, nil, &a}, 2, false},
		{"address changed", []*string{&other, &other}, 2, false},
		{"off", []*string{&a, &a}, -1, false},
		{"no history", nil, 2, false},
	} {
		if got := suppressed(c.record, c.n, a); got != c.want {
			t.Errorf("%s: suppressed = %v, want %v", c.name, got, c.want)
		}
	}
}
