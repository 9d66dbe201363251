package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"
)

// errDeadline is the cause of a run's context when its deadline (deadline, --deadline)
// passed; such a run exits 1 (not 130: nobody interrupted it).
var errDeadline = errors.New("run deadline passed")

// deadlineError is a run's error after its deadline passed: it says how long the run was
// allowed, then what it was doing (the step's own error).
type deadlineError struct {
	d   time.Duration
	err error
}

func (e *deadlineError) Error() string {
	return fmt.Sprintf("stopped at the run deadline of %s (deadline, --deadline) while it was at: %v", e.d, e.err)
}
func (e *deadlineError) Unwrap() error        { return e.err }
func (e *deadlineError) Is(target error) bool { return target == errDeadline }

// runDeadline marks a context whose deadline is the run's (bounded).
type runDeadline struct{}

// deadlinePassed tells whether ctx ended because the run's deadline passed. A step that
// dials with the deadline itself can fail a moment before the context's timer fires,
// so a passed deadline counts too.
func deadlinePassed(ctx context.Context) bool {
	if errors.Is(context.Cause(ctx), errDeadline) {
		return true
	}
	dl, ok := ctx.Deadline()
	return ok && ctx.Value(runDeadline{}) != nil && !time.Now().Before(dl)
}

// atDeadline wraps err when ctx's run deadline d cut the run short.
func atDeadline(ctx context.Context, d time.Duration, err error) error {
	if err == nil || !deadlinePassed(ctx) || errors.Is(err, errDeadline) {
		return err
	}
	return &deadlineError{d: d, err: err}
}

// bounded runs a command's RunE under the configured run deadline (0: none): its context
// ends when the deadline passes, every step stops cleanly, and the error says where.
func bounded(a *app, run func(cmd *cobra.Command, args []string) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		d := a.cfg.Deadline
		if d <= 0 {
			return run(cmd, args)
		}
		ctx, cancel := context.WithTimeoutCause(context.WithValue(cmd.Context(), runDeadline{}, true), d, errDeadline)
		defer cancel()
		cmd.SetContext(ctx)
		return atDeadline(ctx, d, run(cmd, args))
	}
}
