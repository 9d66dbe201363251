// Command linkbackup snapshots the LinkaGoGo bookmark database to S3-compatible storage,
// proves the snapshots, and mails premium members their weekly bookmark backup.
//
// main is thin: it builds the root command, cancels the context on SIGINT/SIGTERM and
// turns the returned error into an exit code. Every subcommand lives in its own file and
// calls plain functions of the backup, export and mailer packages.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := newRootCmd(os.Stdout, os.Stderr).ExecuteContext(ctx)
	code := exitCode(ctx, err) // before stop(): stop cancels ctx, which means "interrupted"
	stop()
	os.Exit(code)
}

// Exit codes (also in `linkbackup --help`).
const (
	exitOK          = 0
	exitError       = 1
	exitUsage       = 2
	exitPartial     = 3
	exitInterrupted = 130
)

// exitError carries a specific exit code; other errors exit 1.
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

func exitCode(ctx context.Context, err error) int {
	if err == nil {
		return exitOK
	}
	var ce *codeError
	if errors.As(err, &ce) {
		if !errors.Is(err, errSilent) {
			fmt.Fprintln(os.Stderr, "linkbackup:", err)
		}
		return ce.code
	}
	fmt.Fprintln(os.Stderr, "linkbackup:", err)
	if ctx.Err() != nil || errors.Is(err, context.Canceled) {
		return exitInterrupted
	}
	return exitError
}
