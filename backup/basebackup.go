package backup

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/linkagogo/linkbackup/backup/trust"
	"github.com/linkagogo/linkbackup/internal/pgdsn"
)

// Base backups (physical, for point-in-time recovery with the archived WAL):
//
//	base/<id>/base.tar.zst    pg_basebackup -Ft -D - (one tar, with PostgreSQL's backup_manifest), zstd, age
//	base/<id>/manifest.sig    the manifest's signature (if signed), before it
//	base/<id>/manifest.json   written last
const BasePrefix = "base/"

// BaseManifest describes one base backup.
type BaseManifest struct {
	Format     int       `json:"format"`
	ID         string    `json:"id"`
	Database   string    `json:"database"` // the database the DSN named (the backup is of the whole cluster)
	Started    time.Time `json:"started"`
	Finished   time.Time `json:"finished"`
	StartLSN   string    `json:"start_lsn"`
	StopLSN    string    `json:"stop_lsn"`
	Timeline   int       `json:"timeline"`
	Server     Server    `json:"server"`
	Tool       string    `json:"tool_version"`
	Tar        Object    `json:"tar"`
	Recipients []string  `json:"recipients,omitempty"`
	SignedBy   string    `json:"signed_by,omitempty"`
}

// BaseOptions configure BaseBackup.
type BaseOptions struct {
	Source       string // DSN; the role needs REPLICATION and pg_hba a replication entry
	Store        Store
	PgBasebackup string // binary; default "pg_basebackup"
	Keys         *Keys
	ToolVersion  string
	// ArchiveFailTimeout: pg_basebackup -X none ends only once the WAL it needs is
	// archived. When archive_command has been failing for this long with no success
	// since, the base backup is abandoned with an error instead of waiting forever.
	// Default 60s.
	ArchiveFailTimeout time.Duration
	now                func() time.Time
}

// BaseBackup streams a physical base backup of the cluster behind o.Source into the
// store with pg_basebackup -Ft -D - -X none (a single tar on stdout, PostgreSQL's
// backup_manifest inside it; the WAL it needs comes from the archive), compressed,
// encrypted and signed like a snapshot. Memory stays bounded: the tar never touches the
// local disk.
func BaseBackup(ctx context.Context, o BaseOptions) (*BaseManifest, error) {
	if o.PgBasebackup == "" {
		o.PgBasebackup = "pg_basebackup"
	}
	if o.now == nil {
		o.now = time.Now
	}
	cfg, err := pgx.ParseConfig(o.Source)
	if err != nil {
		return nil, fmt.Errorf("parse DSN %s: %w", pgdsn.Strip(o.Source), redactErr(err))
	}
	m := &BaseManifest{Format: FormatVersion, Started: o.now().UTC(), Database: cfg.Database, Tool: o.ToolVersion}
	if err := readBaseServer(ctx, o.Source, m); err != nil {
		return nil, err
	}
	m.ID = m.Started.Format(IDFormat)
	prefix := BasePrefix + m.ID + "/"
	if k := o.Keys; k != nil {
		for _, r := range k.Recipients {
			m.Recipients = append(m.Recipients, r.Fingerprint)
		}
	}
	var stderr bytes.Buffer
	var info tarFacts
	ctx, stopWatch := watchArchiver(ctx, o.Source, o.ArchiveFailTimeout)
	defer stopWatch()
	m.Tar, err = putCompressed(ctx, o.Store, zstdEncoders(), o.Keys.recipients(), prefix+"base.tar.zst", 64<<20, func(w io.Writer) error {
		// The tar passes through a reader that picks up backup_label and
		// backup_manifest (the WAL range) on the way into the store.
		pr, pw := io.Pipe()
		done := make(chan error, 1)
		go func() { done <- info.read(pr) }()
		cmd := exec.CommandContext(ctx, o.PgBasebackup, "-d", pgdsn.Strip(o.Source), "-Ft", "-D", "-", "-X", "none",
			"-c", "fast", "--no-password")
		cmd.Env = os.Environ()
		if cfg.Password != "" {
			cmd.Env = append(cmd.Env, "PGPASSWORD="+cfg.Password)
		}
		cmd.Stdout, cmd.Stderr = io.MultiWriter(w, pw), &limitedBuffer{b: &stderr, max: 64 << 10}
		err := cmd.Run()
		pw.CloseWithError(err)
		if terr := <-done; err == nil && terr != nil {
			err = fmt.Errorf("read the base backup's tar: %w", terr)
		}
		if err != nil {
			return fmt.Errorf("pg_basebackup: %w: %s", err, strings.TrimSpace(stderr.String()))
		}
		return nil
	})
	if err != nil {
		if cause := context.Cause(ctx); errors.Is(cause, errArchiveFailing) {
			err = cause
		}
		removePartial(context.WithoutCancel(ctx), o.Store, prefix, discardLog())
		return nil, err
	}
	m.StartLSN, m.StopLSN, m.Timeline = info.start, info.stop, info.timeline
	if m.StartLSN == "" || m.StopLSN == "" {
		removePartial(context.WithoutCancel(ctx), o.Store, prefix, discardLog())
		return nil, fmt.Errorf("the base backup has no backup_label or backup_manifest WAL range (pg_basebackup 13 or newer writes them)")
	}
	m.Finished = o.now().UTC()
	if err := writeBaseManifest(ctx, o.Store, m, o.Keys.signer()); err != nil {
		removePartial(context.WithoutCancel(ctx), o.Store, prefix, discardLog())
		return nil, err
	}
	return m, nil
}

func readBaseServer(ctx context.Context, dsn string, m *BaseManifest) error {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return fmt.Errorf("connect to source %s: %w", pgdsn.Strip(dsn), err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var archiveMode string
	err = conn.QueryRow(ctx, `SELECT current_setting('server_version'), current_setting('server_version_num')::int,
		current_setting('archive_mode')`).Scan(&m.Server.Version, &m.Server.VersionNum, &archiveMode)
	if err != nil {
		return fmt.Errorf("read server info: %w", err)
	}
	if archiveMode == "off" {
		return fmt.Errorf("archive_mode is off on %s: a base backup without archived WAL cannot be recovered; "+
			"set archive_mode = on and archive_command to linkbackup wal-push", pgdsn.Strip(dsn))
	}
	if err := conn.QueryRow(ctx, `SELECT system_identifier::text FROM pg_control_system()`).Scan(&m.Server.SystemIdentifier); err != nil {
		return fmt.Errorf("read the system identifier: %w", err)
	}
	return nil
}

// writeBaseManifest stores m last, its signature before it.
func writeBaseManifest(ctx context.Context, st Store, m *BaseManifest, s *trust.Signer) error {
	if s != nil {
		m.SignedBy = s.Fingerprint
	}
	return putSignedJSON(ctx, st, BasePrefix+m.ID+"/", m, s, "write base backup manifest")
}

func discardLog() *slog.Logger { return slog.New(slog.DiscardHandler) }

// tarFacts are what BaseBackup reads from the tar as it streams past.
type tarFacts struct {
	start, stop string
	timeline    int
}

var labelStart = regexp.MustCompile(`START WAL LOCATION: ([0-9A-F]+/[0-9A-F]+)`)
var labelTimeline = regexp.MustCompile(`START TIMELINE: (\d+)`)

// read scans a tar stream to its end: backup_label gives the start LSN and timeline,
// backup_manifest's WAL-Ranges the end LSN. Other members are skipped unread.
func (f *tarFacts) read(r io.Reader) error {
	defer io.Copy(io.Discard, r) // never block the writer
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		switch h.Name {
		case "backup_label":
			b, err := io.ReadAll(io.LimitReader(tr, 64<<10))
			if err != nil {
				return err
			}
			if m := labelStart.FindSubmatch(b); m != nil {
				f.start = string(m[1])
			}
			if m := labelTimeline.FindSubmatch(b); m != nil {
				f.timeline, _ = strconv.Atoi(string(m[1]))
			}
		case "backup_manifest":
			var bm struct {
				Ranges []struct {
					Timeline int    `json:"Timeline"`
					End      string `json:"End-LSN"`
				} `json:"WAL-Ranges"`
			}
			if err := json.NewDecoder(io.LimitReader(tr, 256<<20)).Decode(&bm); err != nil {
				return fmt.Errorf("backup_manifest: %w", err)
			}
			if n := len(bm.Ranges); n > 0 {
				f.stop = bm.Ranges[n-1].End
			}
		}
	}
}

var errArchiveFailing = errors.New("archive_command keeps failing")

// watchArchiver cancels the returned context (cause: errArchiveFailing, with details)
// when the source's archiver has failed for longer than timeout with no success since
// (pg_stat_archiver): pg_basebackup would wait for that WAL forever. The watch ends
// with stop.
func watchArchiver(ctx context.Context, dsn string, timeout time.Duration) (context.Context, func()) {
	if timeout <= 0 {
		timeout = time.Minute
	}
	ctx, cancel := context.WithCancelCause(ctx)
	done := make(chan struct{})
	go func() {
		conn, err := pgx.Connect(ctx, dsn)
		if err != nil {
			return // the base backup reports the connection problem itself
		}
		defer conn.Close(context.WithoutCancel(ctx))
		var failingSince time.Time
		for {
			var lastFailed *string
			var failedAt, archivedAt *time.Time
			err := conn.QueryRow(ctx, `SELECT last_failed_wal, last_failed_time, last_archived_time FROM pg_stat_archiver`).
				Scan(&lastFailed, &failedAt, &archivedAt)
			switch {
			case err != nil:
			case failedAt != nil && (archivedAt == nil || failedAt.After(*archivedAt)):
				if failingSince.IsZero() {
					failingSince = time.Now()
				}
				if time.Since(failingSince) > timeout {
					cancel(fmt.Errorf("%w on the source (last failed %s at %s, nothing archived since, for %s): "+
						"pg_basebackup waits until the WAL it needs is archived; fix archiving first (the server log says why)",
						errArchiveFailing, deref(lastFailed), failedAt.UTC().Format(time.RFC3339), timeout))
					return
				}
			default:
				failingSince = time.Time{}
			}
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case <-time.After(time.Second):
			}
		}
	}()
	return ctx, func() { close(done); cancel(nil) }
}

func deref(s *string) string {
	if s == nil {
		return "?"
	}
	return *s
}
