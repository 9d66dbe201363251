package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/spf13/cobra"

	"github.com/linkagogo/linkbackup/internal/bookmarkgen"
	"github.com/linkagogo/linkbackup/internal/pgdsn"
)

// The hidden `dev` group holds developer tools: test data for demos and benchmarks.
func newDevCmd(a *app) *cobra.Command {
	dev := &cobra.Command{
		Use:    "dev",
		Short:  "Developer tools (test data)",
		Hidden: true,
		Args:   cobra.NoArgs,
	}
	dev.AddCommand(newDevGenCmd(a))
	return dev
}

// devGenFlags are the flags of `dev gen`.
type devGenFlags struct {
	dsn    string
	schema bool
	vacuum bool
	opts   bookmarkgen.Options
}

func newDevGenCmd(a *app) *cobra.Command {
	f := devGenFlags{opts: bookmarkgen.DefaultOptions()}
	cmd := &cobra.Command{
		Use:   "gen",
		Short: "Fill the reference bookmark schema with deterministic (and hostile) data",
		Long: `gen fills members, folders and links of the reference bookmark schema
(testdata/schema.sql) with deterministic data: the same flags give byte-identical rows.
The tables must be empty; --schema creates them first.

Benchmark database (15,000 members, ~3M links):
  linkbackup dev gen --dsn postgres://.../bench --schema --members 15000 --links 200 --vacuum

--shape changes the links' content only: small (short URL and title, no notes: many
small rows), wide (long titles, notes of 4-12 KB stored out of line by TOAST), or
default (the data above).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			dsn := f.dsn
			if dsn == "" {
				dsn = string(a.cfg.Source)
			}
			if dsn == "" {
				return usageError(errors.New("dev gen: --dsn (or config source) is required"))
			}
			return runDevGen(cmd.Context(), a.stdout, dsn, f)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.dsn, "dsn", "", "database to fill (default: config source)")
	fl.BoolVar(&f.schema, "schema", false, "create the reference schema first")
	fl.BoolVar(&f.vacuum, "vacuum", false, "VACUUM (FREEZE, ANALYZE) afterwards, for stable benchmarks")
	fl.IntVar(&f.opts.Members, "members", f.opts.Members, "number of members")
	fl.IntVar(&f.opts.LinksPerMember, "links", f.opts.LinksPerMember, "links per member")
	fl.IntVar(&f.opts.FoldersPerMember, "folders", 0, "folders per member (0: links/10, at least 1)")
	fl.Int64Var(&f.opts.Seed, "seed", f.opts.Seed, "random seed")
	fl.IntVar(&f.opts.PremiumPercent, "premium-percent", f.opts.PremiumPercent, "percent of members on the premium plan")
	fl.IntVar(&f.opts.OptInPercent, "optin-percent", f.opts.OptInPercent, "percent of premium members opted in to the weekly email")
	fl.IntVar(&f.opts.DeletedPercent, "deleted-percent", f.opts.DeletedPercent, "percent of members deleted")
	fl.IntVar(&f.opts.MaxFolderDepth, "max-depth", f.opts.MaxFolderDepth, "maximum folder depth")
	fl.BoolVar(&f.opts.Hostile, "hostile", f.opts.Hostile, "sprinkle hostile content (--hostile=false for plain data)")
	fl.BoolVar(&f.opts.Inconsistent, "inconsistent", false, "add rows that break application invariants (leak tests)")
	fl.StringVar(&f.opts.Shape, "shape", "default", "content of the links: default, small (short rows) or wide (long titles and notes, TOASTed)")
	return cmd
}

// runDevGen connects to dsn, optionally loads the schema, generates and prints Stats.
func runDevGen(ctx context.Context, out io.Writer, dsn string, f devGenFlags) error {
	if f.opts.Shape == "default" {
		f.opts.Shape = bookmarkgen.ShapeDefault
	}
	if err := f.opts.Validate(); err != nil {
		return usageError(err)
	}
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return fmt.Errorf("dev gen: connect %s: %w", pgdsn.Redact(dsn), err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	start := time.Now()
	if f.schema {
		if err := bookmarkgen.LoadSchema(ctx, conn); err != nil {
			return err
		}
	}
	st, err := bookmarkgen.Generate(ctx, conn, f.opts)
	if err != nil {
		return err
	}
	genTime := time.Since(start)
	if f.vacuum {
		if _, err := conn.Exec(ctx, "VACUUM (FREEZE, ANALYZE) members, folders, links"); err != nil {
			return fmt.Errorf("dev gen: vacuum: %w", err)
		}
	}
	var size int64
	if err := conn.QueryRow(ctx, "SELECT pg_database_size(current_database())").Scan(&size); err != nil {
		return fmt.Errorf("dev gen: database size: %w", err)
	}
	fmt.Fprintf(out, "members  %d (premium %d, opted in %d, deleted %d)\n", st.Members, st.Premium, st.OptedIn, st.Deleted)
	fmt.Fprintf(out, "folders  %d\nlinks    %d\n", st.Folders, st.Links)
	for _, an := range st.Anomalies {
		fmt.Fprintf(out, "anomaly  %s: member %d, %s %d: %s\n", an.Kind, an.Member, an.Table, an.ID, an.Detail)
	}
	fmt.Fprintf(out, "generated in %s", genTime.Round(time.Millisecond))
	if f.vacuum {
		fmt.Fprintf(out, ", vacuumed in %s", (time.Since(start) - genTime).Round(time.Millisecond))
	}
	_, err = fmt.Fprintf(out, "; database size %.1f MiB\n", float64(size)/(1<<20))
	return err
}
