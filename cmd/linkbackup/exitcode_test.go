package main

import (
	"fmt"
	"testing"

	"github.com/linkagogo/linkbackup/backup"
)

// TestExitCodeTable: the kinds of error issue #13 names keep their exit codes: a side
// copy in use is a failure (1), not a refusal (4).
func TestExitCodeTable(t *testing.T) {
	for _, c := range []struct {
		err  error
		want int
	}{
		{fmt.Errorf("standby swap failed: %w", backup.ErrInUse), exitError},
		{fmt.Errorf("x: %w", backup.ErrRefused), exitRefused},
		{fmt.Errorf("x: %w", backup.ErrMismatch), exitMismatch},
	} {
		if got := exitCodeOf(c.err); got != c.want {
			t.Errorf("%v: exit %d, want %d", c.err, got, c.want)
		}
	}
}
