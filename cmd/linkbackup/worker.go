package main

import (
	"context"

	"github.com/spf13/cobra"

	"github.com/linkagogo/linkbackup/mailer/weekly"
)

func newWorkerCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "worker --source DSN --state DSN --mailer URL --from ADDRESS",
		Short: "Send the weekly backup emails enqueued by 'export --mail --enqueue-only' (River worker)",
		Long: `Run a River client that works the weekly email jobs of every period, until SIGTERM
or SIGINT. Run as many as needed, on as many machines: River hands each job to one
worker, and the delivery ledger keeps a member from being mailed twice.

On SIGTERM the worker takes no new job, lets in-flight ones finish for
mail.shutdown_timeout, then cancels the rest (they are retried by another worker).
A worker killed outright leaves its jobs running in the table. Every worker (and
export --mail) holds a PostgreSQL session lock named by its River client id and
checks every 2 s for running jobs whose client's lock is free: those of a killed
process are handed back within seconds (a machine that vanished: once the server
drops its session, about a minute), and a live worker finds the ledger row sent or
sends. mail.rescue_after stays as River's backstop.

The state database is migrated on start (see 'linkbackup migrate').
Exit codes: 0 stopped by a signal; 1 error; 2 usage.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runWorker(cmd.Context(), a)
		},
	}
	cmd.Flags().String("source", "", "DSN of the bookmark database ($LINKBACKUP_SOURCE)")
	a.bind(cmd, "source", "source")
	addMailConnFlags(cmd, a)
	return cmd
}

// runWorker works jobs until ctx is cancelled, then stops gracefully.
func runWorker(ctx context.Context, a *app) error {
	e, err := openMail(ctx, a, true)
	if err != nil {
		return err
	}
	defer e.close()
	client, err := weekly.NewClient(e.cfg, true)
	if err != nil {
		return err
	}
	stop, err := startWorking(ctx, e, client, a.log)
	if err != nil {
		return err
	}
	a.log.Info("worker started", "concurrency", e.mc.Concurrency, "rate", e.mc.Rate, "worker", e.cfg.WorkerName)
	<-ctx.Done()
	a.log.Info("stopping: finishing in-flight jobs", "timeout", e.mc.ShutdownTimeout)
	stop()
	a.log.Info("worker stopped")
	return nil
}
