package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/linkagogo/linkbackup/backup"
	"github.com/linkagogo/linkbackup/internal/atomicfile"
	"github.com/linkagogo/linkbackup/internal/pgdsn"

	"github.com/jackc/pgx/v5"
	"github.com/spf13/cobra"
	"golang.org/x/sync/errgroup"

	"github.com/linkagogo/linkbackup/export"
	"github.com/linkagogo/linkbackup/export/pgsource"
)

// newExportCmd is over 80 lines only for its help text and flag list; the work is in
// runExport and exportMember.
func newExportCmd(a *app) *cobra.Command {
	var member int64
	var mf *mailFlags // --mail and its flags: mail.go
	var date string
	cmd := &cobra.Command{
		Use:   "export --source DSN --out DIR [--member ID] [--format zip|html|xbel]",
		Short: "Write every opted-in premium member's bookmarks to DIR (zip of HTML + XBEL)",
		Long: `Write one file per selected member into DIR: member-<id>.zip holding
bookmarks-YYYY-MM-DD.html (Netscape bookmark file: Chromium and Firefox import it) and
bookmarks-YYYY-MM-DD.xbel (XBEL 1.0), or only one of them with --format html|xbel.

Members: plan 'premium', weekly_backup, not deleted (export.member_query), read in
keyset batches from one snapshot; --source may be the verified standby. Files are
written atomically (temp file, fsync, rename): a file is complete or absent.

javascript:, vbscript: and data: links are left out of the HTML file (a page members
may open in a browser) and kept in the XBEL file. Inconsistent rows (a link in another
member's folder, folder cycles) are repaired without leaking: one warning per member
and kind is logged with row ids, never content.

Prints a summary: members, folders, links, links left out of the HTML, bytes, warnings.
Exit codes: 0 done (warnings included); 1 error; 2 usage.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if mf.mail {
				return runMailExport(cmd, a, mf, member)
			}
			c := a.cfg
			if c.Source == "" {
				return errNoSource
			}
			if c.Export.OutDir == "" {
				return usageError(errors.New("no output directory: set --out DIR, LINKBACKUP_EXPORT_OUT_DIR or export.out_dir in the config file"))
			}
			day := time.Now().UTC()
			if date != "" {
				d, err := time.Parse("2006-01-02", date)
				if err != nil {
					return usageError(fmt.Errorf("--date %q: want YYYY-MM-DD", date))
				}
				day = d
			}
			if cmd.Flags().Changed("member") && member <= 0 {
				return usageError(fmt.Errorf("--member %d: want a member id > 0", member))
			}
			sum, err := runExport(cmd.Context(), exportOptions{
				Source:    string(c.Source),
				OutDir:    c.Export.OutDir,
				Format:    c.Export.Format,
				MemberID:  member,
				Queries:   c.Export.queries(),
				BatchSize: c.Export.BatchSize,
				Jobs:      c.Export.Jobs,
				ZipLevel:  c.Export.ZipLevel,
				Date:      day,
				Log:       a.log,
			})
			if err != nil {
				return err
			}
			_, err = fmt.Fprintln(a.stdout, sum)
			return err
		},
	}
	f := cmd.Flags()
	f.String("source", "", "DSN of the bookmark database, or of its verified standby ($LINKBACKUP_SOURCE)")
	f.String("out", "", "directory for member-<id>.zip|html|xbel ($LINKBACKUP_EXPORT_OUT_DIR)")
	f.String("format", "", "zip (HTML + XBEL), html or xbel ($LINKBACKUP_EXPORT_FORMAT)")
	f.Int64Var(&member, "member", 0, "export only this member id (it must still be selected by export.member_query)")
	f.StringVar(&date, "date", "", "date in the file names inside the zip, YYYY-MM-DD (default: today, UTC)")
	f.Int("batch-size", 0, "members read per statement ($LINKBACKUP_EXPORT_BATCH_SIZE)")
	f.Int("jobs", 0, "members rendered and written in parallel; 0: 2 x CPUs ($LINKBACKUP_EXPORT_JOBS)")
	f.Int("zip-level", 0, "deflate level 1 (fastest) .. 9 (smallest) ($LINKBACKUP_EXPORT_ZIP_LEVEL)")
	a.bind(cmd, "source", "source")
	a.bind(cmd, "out", "export.out_dir")
	a.bind(cmd, "format", "export.format")
	a.bind(cmd, "batch-size", "export.batch_size")
	a.bind(cmd, "jobs", "export.jobs")
	a.bind(cmd, "zip-level", "export.zip_level")
	mf = addMailFlags(cmd, a)
	return cmd
}

// exportOptions is everything runExport needs; the command fills it from the config.
type exportOptions struct {
	Source    string
	OutDir    string
	Format    string // zip, html or xbel
	MemberID  int64  // 0: every selected member
	Queries   pgsource.Queries
	BatchSize int
	Jobs      int // 0: 2 x CPUs
	ZipLevel  int
	Date      time.Time
	Log       *slog.Logger
}

// exportSummary is what runExport did; String is the line the command prints.
type exportSummary struct {
	Dir, Format                      string
	Members, Folders, Links, Omitted int64
	Bytes, Warnings                  int64
	Elapsed                          time.Duration
}

func (s exportSummary) String() string {
	return fmt.Sprintf("exported members=%d folders=%d links=%d html_omitted=%d bytes=%d warnings=%d format=%s dir=%s elapsed=%s",
		s.Members, s.Folders, s.Links, s.Omitted, s.Bytes, s.Warnings, s.Format, s.Dir, s.Elapsed.Round(time.Millisecond))
}

// runExport reads the selected members from o.Source and writes one file per member
// into o.OutDir. One goroutine streams the rows; o.Jobs workers build, render and write.
// The first error stops everything; files already renamed into place are complete.
func runExport(ctx context.Context, o exportOptions) (exportSummary, error) {
	start := time.Now()
	sum := exportSummary{Dir: o.OutDir, Format: o.Format}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	jobs := o.Jobs
	if jobs <= 0 {
		jobs = 2 * runtime.NumCPU()
	}
	if err := os.MkdirAll(o.OutDir, 0o700); err != nil {
		return sum, fmt.Errorf("export: %w", err)
	}
	removeExportTemps(o.OutDir, o.Log)

	cc, err := pgx.ParseConfig(o.Source)
	if err != nil {
		return sum, fmt.Errorf("export: connect to %s: %w", pgdsn.Redact(o.Source), err)
	}
	backup.BoundWaits(cc)
	conn, err := pgx.ConnectConfig(ctx, cc)
	if err != nil {
		return sum, fmt.Errorf("export: connect to %s: %w", pgdsn.Redact(o.Source), err)
	}
	defer conn.Close(context.WithoutCancel(ctx))

	var n exportCounts
	g, gctx := errgroup.WithContext(ctx)
	work := make(chan *pgsource.Rows, jobs)
	g.Go(func() error {
		defer close(work)
		_, err := pgsource.Read(gctx, conn, pgsource.Options{Queries: o.Queries, BatchSize: o.BatchSize, MemberID: o.MemberID},
			func(r *pgsource.Rows) error {
				select {
				case work <- r:
					return nil
				case <-gctx.Done():
					return context.Cause(gctx)
				}
			})
		if err != nil {
			return fmt.Errorf("export: read %s: %w", pgdsn.Redact(o.Source), err)
		}
		return nil
	})
	for range jobs {
		g.Go(func() error {
			var builder export.Builder
			for r := range work {
				if err := exportMember(o, &builder, r, &n); err != nil {
					return err
				}
			}
			return nil
		})
	}
	err = g.Wait()
	sum.Members, sum.Folders, sum.Links, sum.Omitted = n.members.Load(), n.folders.Load(), n.links.Load(), n.omitted.Load()
	sum.Bytes, sum.Warnings, sum.Elapsed = n.bytes.Load(), n.warnings.Load(), time.Since(start)
	if err != nil {
		return sum, err
	}
	if err := atomicfile.SyncDir(o.OutDir); err != nil {
		return sum, fmt.Errorf("export: %w", err)
	}
	if o.MemberID != 0 && sum.Members == 0 {
		return sum, fmt.Errorf("export: member %d is not selected by export.member_query (premium, weekly_backup, not deleted) or does not exist", o.MemberID)
	}
	o.Log.Info("export done", "members", sum.Members, "folders", sum.Folders, "links", sum.Links,
		"html_omitted", sum.Omitted, "bytes", sum.Bytes, "warnings", sum.Warnings, "dir", sum.Dir, "format", sum.Format,
		"elapsed", sum.Elapsed.Round(time.Millisecond).String())
	return sum, nil
}

// exportMaxLoggedIDs bounds the ids of one warning in the log; count tells the total.
const exportMaxLoggedIDs = 50

// logExportWarning logs one repaired inconsistency: kind and row ids, never content.
func logExportWarning(log *slog.Logger, w export.Warning) {
	ids, refs := w.IDs, w.Refs
	if len(ids) > exportMaxLoggedIDs {
		ids = ids[:exportMaxLoggedIDs]
	}
	if len(refs) > exportMaxLoggedIDs {
		refs = refs[:exportMaxLoggedIDs]
	}
	attrs := []any{"member_id", w.Member, "kind", w.Kind, "count", len(w.IDs), "ids", ids}
	if len(refs) > 0 {
		attrs = append(attrs, "refs", refs)
	}
	log.Warn("export: "+w.Message(), attrs...)
}

// exportCounts adds up what the export workers wrote.
type exportCounts struct {
	members, folders, links, omitted, bytes, warnings atomic.Int64
}

// exportMember builds one member's tree and writes it as o.Format into o.OutDir.
func exportMember(o exportOptions, builder *export.Builder, r *pgsource.Rows, n *exportCounts) error {
	tree, warns := builder.Build(r.Member, r.Folders, r.Links)
	for _, w := range warns {
		logExportWarning(o.Log, w)
	}
	name := "member-" + strconv.FormatInt(r.Member.ID, 10) + "." + o.Format
	var st export.Stats
	size, err := writeMemberFile(o.OutDir, name, func(w io.Writer) error {
		var err error
		switch o.Format {
		case "html":
			st, err = export.WriteHTML(w, tree)
		case "xbel":
			st, err = export.WriteXBEL(w, tree)
		default:
			st, err = export.WriteZip(w, tree, export.ZipOptions{Date: o.Date, Level: o.ZipLevel})
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("export: member %d: %w", r.Member.ID, err)
	}
	n.members.Add(1)
	n.folders.Add(int64(tree.Folders))
	n.links.Add(int64(tree.Links))
	n.omitted.Add(int64(st.OmittedHTML))
	n.bytes.Add(size)
	n.warnings.Add(int64(len(warns)))
	return nil
}

// exportTempPrefix marks files being written; removeExportTemps deletes what a crash left.
const exportTempPrefix = ".tmp-"

// writeMemberFile writes dir/name through a temp file in dir: write, fsync, close,
// rename. On any error the temp file is removed and dir/name is untouched. It returns
// the number of bytes written. The directory itself is synced by the caller, once.
func writeMemberFile(dir, name string, write func(io.Writer) error) (int64, error) {
	f, err := atomicfile.Create(filepath.Join(dir, name), exportTempPrefix+name+"-*") // mode 0600: bookmarks are private
	if err != nil {
		return 0, err
	}
	f.SkipDirSync = true
	cw := &export.CountingWriter{W: f}
	bw := bufio.NewWriterSize(cw, 64<<10)
	if err := write(bw); err != nil {
		f.Abort()
		return 0, err
	}
	if err := bw.Flush(); err != nil {
		f.Abort()
		return 0, err
	}
	if err := f.Commit(); err != nil {
		return 0, err
	}
	return cw.N, nil
}

// removeExportTemps deletes temp files an interrupted export left in dir.
func removeExportTemps(dir string, log *slog.Logger) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range entries {
		if e.Type().IsRegular() && strings.HasPrefix(e.Name(), exportTempPrefix+"member-") {
			if err := os.Remove(filepath.Join(dir, e.Name())); err == nil {
				log.Info("export: removed an interrupted export's temp file", "file", e.Name())
			}
		}
	}
}
