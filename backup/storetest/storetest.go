// Package storetest is the conformance suite of backup.Store: every backend runs the same
// tests (restic's internal/backend/test, River's driver suite), one per contract clause
// of backup.Store.
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) backup.Store { return newEmptyStore(t) })
//	}
//
// newStore must return an empty store, private to the (sub)test, cleaned up by t.Cleanup.
package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/linkagogo/linkbackup/backup"
)

// Options tunes the suite. The zero value of a field selects its default.
type Options struct {
	// ManyKeys, when > 0, puts this many keys and lists them: use more than 1,000 to
	// check that List follows every page (S3 returns at most 1,000 keys a page).
	// Default 0: skipped.
	ManyKeys int
	// BigSize is the size of the large object streamed through a slow reader in small
	// pieces; large enough to force multipart uploads on S3 (8 MiB parts).
	// Default 20 MiB.
	BigSize int
	// Timeout bounds each subtest. Default 2 minutes.
	Timeout time.Duration
}

// DefaultOptions returns the options Run uses.
func DefaultOptions() Options { return Options{}.withDefaults() }

func (o Options) withDefaults() Options {
	if o.BigSize <= 0 {
		o.BigSize = 20 << 20
	}
	if o.Timeout <= 0 {
		o.Timeout = 2 * time.Minute
	}
	return o
}

// Run runs the suite with DefaultOptions.
func Run(t *testing.T, newStore func(t *testing.T) backup.Store) {
	t.Helper()
	RunOptions(t, Options{}, newStore)
}

// RunOptions runs every test of the suite as a subtest, each on a fresh store.
func RunOptions(t *testing.T, opts Options, newStore func(t *testing.T) backup.Store) {
	t.Helper()
	opts = opts.withDefaults()
	tests := []struct {
		name string
		fn   func(t *testing.T, ctx context.Context, s backup.Store, o Options)
	}{
		{"RoundTrip", testRoundTrip},
		{"BigSlowStream", testBigSlowStream},
		{"Overwrite", testOverwrite},
		{"Missing", testMissing},
		{"List", testList},
		{"ListEmpty", testListEmpty},
		{"ManyKeys", testManyKeys},
		{"Delete", testDelete},
		{"InvalidKeys", testInvalidKeys},
		{"ReaderErrorLeavesNoObject", testReaderError},
		{"CancelDuringPutLeavesNoObject", testCancelDuringPut},
		{"CancelledContext", testCancelledContext},
		{"AtomicVisibility", testAtomicVisibility},
		{"ConcurrentPuts", testConcurrentPuts},
		{"ConcurrentDeletes", testConcurrentDeletes},
		{"Link", testLink},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.name == "ManyKeys" && opts.ManyKeys <= 0 {
				t.Skip("Options.ManyKeys is 0")
			}
			s := newStore(t)
			if s == nil {
				t.Fatal("newStore returned nil")
			}
			ctx, cancel := context.WithTimeout(t.Context(), opts.Timeout)
			defer cancel()
			tc.fn(t, ctx, s, opts)
		})
	}
}
