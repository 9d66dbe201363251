// Command linkbackup snapshots the LinkaGoGo bookmark database to S3-compatible storage,
// proves the snapshots, and mails premium members their weekly bookmark backup.
//
// main is thin: it builds the root command, cancels the context on SIGINT/SIGTERM and
// turns the returned error into an exit code. Every subcommand lives in its own file and
// calls plain functions of the backup, export and mailer packages.
package main

import (
	"context"
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
