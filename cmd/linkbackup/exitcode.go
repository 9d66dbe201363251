package main

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/linkagogo/linkbackup/backup"
	"github.com/linkagogo/linkbackup/internal/clihint"
	"github.com/linkagogo/linkbackup/internal/termsafe"
)

// Exit codes (also in `linkbackup --help`).
const (
	exitOK          = 0
	exitError       = 1
	exitUsage       = 2
	exitPartial     = 3
	exitRefused     = 4 // restore, standby: a safety rail refused before anything was changed
	exitMismatch    = 5 // restore, standby: restored data differ from the snapshot (the tables are named)
	exitInvariant   = 6 // standby, nightly, check: an invariant refused the copy (the standby keeps its previous one)
	exitInterrupted = 130
)

// errUsage marks usage errors (bad flag, bad config, missing setting, extra argument).
var errUsage = errors.New("usage error")

// usageError marks err as a usage error (exit 2); its message is err's.
func usageError(err error) error {
	if err == nil {
		return nil
	}
	return &kindError{kind: errUsage, err: err}
}

// kindError is err, classified as kind for the exit code table.
type kindError struct {
	kind error
	err  error
}

func (e *kindError) Error() string        { return e.err.Error() }
func (e *kindError) Unwrap() error        { return e.err }
func (e *kindError) Is(target error) bool { return target == e.kind }

// codeError carries an exit code that the command computed itself (status's
// Nagios levels, nightly's summary, a report already printed); it wins over the table.
type codeError struct {
	code int
	err  error
}

func (e *codeError) Error() string { return e.err.Error() }
func (e *codeError) Unwrap() error { return e.err }

// withCode wraps err so that main exits with code.
func withCode(code int, err error) error {
	if err == nil {
		return nil
	}
	return &codeError{code: code, err: err}
}

// silentExit ends the command with code without printing anything more (the command
// already printed its report).
func silentExit(code int) error { return &codeError{code: code, err: errSilent} }

var errSilent = errors.New("")

// exitCode prints err (unless silent) and returns the exit code main uses.
func exitCode(ctx context.Context, err error) int {
	if err == nil {
		return exitOK
	}
	if !errors.Is(err, errSilent) {
		fmt.Fprintln(os.Stderr, errorLine(err))
	}
	return codeOf(ctx, err)
}

// errorLine is the line main prints for err: its message (which may carry a store's or
// a server's text) without terminal control characters.
func errorLine(err error) string { return "linkbackup: " + termsafe.Clean(clihint.Message(err)) }

// codeOf is the one table from error kinds to exit codes.
func codeOf(ctx context.Context, err error) int {
	var ce *codeError
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &ce):
		return ce.code
	case errors.Is(err, errUsage), errors.Is(err, backup.ErrInvalidInvariant):
		return exitUsage
	case errors.Is(err, backup.ErrRefused):
		return exitRefused
	case errors.Is(err, backup.ErrMismatch):
		return exitMismatch
	case errors.Is(err, backup.ErrInvariant):
		return exitInvariant
	case errors.Is(err, errDeadline):
		return exitError
	case ctx.Err() != nil || errors.Is(err, context.Canceled):
		return exitInterrupted
	}
	return exitError
}
