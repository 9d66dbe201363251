package main

import (
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/spf13/cobra"

	"github.com/linkagogo/linkbackup/backup"
	"github.com/linkagogo/linkbackup/internal/pgdsn"
	"github.com/linkagogo/linkbackup/mailer/weekly"
)

func newMigrateCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "migrate --state DSN",
		Short: "Create or upgrade the state database (River's job tables and the mail ledger)",
		Long: `Create or upgrade the tables the weekly email needs in the state database, in
schema mail.schema (default linkbackup_mail): River's job tables (rivermigrate) and the
delivery ledger. Idempotent; 'export --mail' and 'worker' run it on start too.
The state database defaults to the source database (--source).

Exit codes: 0 up to date; 1 error; 2 usage.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			mc := a.cfg.Mail
			if err := mc.Validate(); err != nil {
				return usageError(err)
			}
			dsn := string(mc.State)
			if dsn == "" {
				dsn = string(a.cfg.Source)
			}
			if dsn == "" {
				return usageError(errors.New("no state database: set --state DSN (or --source), LINKBACKUP_MAIL_STATE or mail.state"))
			}
			pc, err := pgxpool.ParseConfig(dsn)
			if err != nil {
				return usageError(fmt.Errorf("state %s: %w", pgdsn.Redact(dsn), err))
			}
			backup.BoundWaits(pc.ConnConfig)
			pool, err := pgxpool.NewWithConfig(ctx, pc)
			if err != nil {
				return fmt.Errorf("state %s: %w", pgdsn.Redact(dsn), err)
			}
			defer pool.Close()
			res, err := weekly.Migrate(ctx, pool, mc.Schema, a.log)
			if err != nil {
				return fmt.Errorf("state %s: %w", pgdsn.Redact(dsn), err)
			}
			if len(res.River)+len(res.Ledger) == 0 {
				_, err = fmt.Fprintf(a.stdout, "state schema %s is up to date\n", mc.Schema)
				return err
			}
			_, err = fmt.Fprintf(a.stdout, "state schema %s migrated: river versions %v, ledger versions %v\n", mc.Schema, res.River, res.Ledger)
			return err
		},
	}
	f := cmd.Flags()
	f.String("state", "", "DSN of the state database ($LINKBACKUP_MAIL_STATE)")
	f.String("source", "", "DSN of the source database, the state database when --state is not set ($LINKBACKUP_SOURCE)")
	a.bind(cmd, "state", "mail.state")
	a.bind(cmd, "source", "source")
	return cmd
}
