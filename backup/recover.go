package backup

import (
	"archive/tar"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

// RecoverOptions configure Recover: a physical recovery from a base backup and the WAL
// archive into an empty data directory.
type RecoverOptions struct {
	Store Store
	Keys  *Keys
	// PGData is the data directory to create; it must be empty or absent. Its owner
	// (the postgres user) owns the files; Recover run as root chowns them to it.
	PGData string
	// The target: ToTime, ToLSN, or Latest (replay everything archived).
	ToTime time.Time
	ToLSN  string
	Latest bool
	// Exclusive stops recovery just before ToLSN (recovery_target_inclusive = off): the
	// state a WALPoint describes. Default: just after the record at ToLSN.
	Exclusive bool
	// Timeline, if set, picks only base backups of that timeline.
	Timeline int
	// PrivateTrust lets local connections in without a password (an hba_file written
	// into PGData with "local all all trust"): for scratch recoveries whose socket lives in
	// a private directory (StartRecovered) and that have no TCP listener.
	PrivateTrust bool
	// Feed serves the WAL to the recovered server from a spool this process fills
	// (walfeed.go) instead of running RestoreCommand: for a recovery watched by
	// StartRecovered, whose server (running as the data directory's owner) then needs
	// neither the keys nor the store. The caller must Close the report.
	Feed bool
	// RestoreCommand is written as restore_command (linkbackup wal-fetch … %f %p).
	RestoreCommand string
	// PgVerifybackup checks the unpacked directory against its backup_manifest
	// ("" = "pg_verifybackup").
	PgVerifybackup string
	Log            *slog.Logger
}

// RecoverReport says what Recover prepared.
type RecoverReport struct {
	Base     *BaseManifest `json:"base_backup"`
	PGData   string        `json:"pgdata"`
	Target   string        `json:"target"`
	Verified bool          `json:"pg_verifybackup"`
	feed     *walFeed
}

// Close stops the WAL feed of a Feed recovery (call it once the server has promoted or
// given up) and removes its spool.
func (r *RecoverReport) Close() {
	if r != nil {
		r.feed.stop()
	}
}

// FeedErr is why the WAL feed stopped early (nil: it did not): a segment that could
// not be fetched, checked or decrypted, which ends replay there.
func (r *RecoverReport) FeedErr() error {
	if r == nil {
		return nil
	}
	return r.feed.Err()
}

// ListBaseBackups returns the manifests of complete base backups, oldest first.
func ListBaseBackups(ctx context.Context, st Store) ([]*BaseManifest, error) {
	objs, err := st.List(ctx, BasePrefix)
	if err != nil {
		return nil, fmt.Errorf("list base backups: %w", err)
	}
	var out []*BaseManifest
	for _, o := range objs {
		id, name, ok := strings.Cut(strings.TrimPrefix(o.Key, BasePrefix), "/")
		if !ok || name != ManifestName {
			continue
		}
		m, err := readBaseManifest(ctx, st, id, nil, nil)
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Started.Before(out[j].Started) })
	return out, nil
}

// readBaseManifest reads base backup id's manifest, checking its signature with k's
// verify keys (nil k: unchecked, for listing).
func readBaseManifest(ctx context.Context, st Store, id string, k *Keys, log *slog.Logger) (*BaseManifest, error) {
	key := BasePrefix + id + "/" + ManifestName
	rc, err := st.Open(ctx, key)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", key, err)
	}
	b, err := io.ReadAll(io.LimitReader(rc, 1<<20))
	rc.Close()
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", key, err)
	}
	if k != nil {
		if _, err := checkSignatureAt(ctx, st, BasePrefix+id+"/"+SignatureName, "base backup "+id, b, k, log); err != nil {
			return nil, err
		}
	}
	var m BaseManifest
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("%s is corrupt: %w", key, err)
	}
	return &m, nil
}

// Recover picks the newest base backup that finished before the target, unpacks it into
// o.PGData (checking every stored byte, decrypting), writes recovery.signal and the
// recovery settings, and runs pg_verifybackup on the directory. Starting the server is
// the caller's (StartRecovered).
func Recover(ctx context.Context, o RecoverOptions) (*RecoverReport, error) {
	if o.Log == nil {
		o.Log = discardLog()
	}
	if err := emptyDir(o.PGData); err != nil {
		return nil, err
	}
	bases, err := ListBaseBackups(ctx, o.Store)
	if err != nil {
		return nil, err
	}
	base, err := o.pickBase(bases)
	if err != nil {
		return nil, err
	}
	base, err = readBaseManifest(ctx, o.Store, base.ID, o.Keys, o.Log)
	if err != nil {
		return nil, err
	}
	archive, err := checkContinuity(ctx, o, base)
	if err != nil {
		return nil, err
	}
	if base.Tar.Enc != "" {
		if err := checkIdentities(&Manifest{ID: "base " + base.ID, Recipients: base.Recipients}, o.Keys); err != nil {
			return nil, err
		}
	}
	uid, gid := ownerOf(o.PGData)
	if err := unpackBase(ctx, o.Store, base.Tar, o.Keys, o.PGData, uid, gid); err != nil {
		return nil, err
	}
	rep := &RecoverReport{Base: base, PGData: o.PGData}
	restoreCommand := o.RestoreCommand
	if o.Feed {
		last, err := o.lastSegment(archive)
		if err != nil {
			return nil, err
		}
		if rep.feed, err = newWALFeed(ctx, o.Store, archive.First, last, uid, gid, o.Log); err != nil {
			return nil, err
		}
		restoreCommand = rep.feed.restoreCommand()
		defer func() {
			if rep.feed.cancel == nil { // not started: Recover failed
				rep.feed.stop()
			}
		}()
	}
	settings := []string{"restore_command = " + quoteLit(restoreCommand)}
	switch {
	case o.ToLSN != "":
		settings = append(settings, "recovery_target_lsn = "+quoteLit(o.ToLSN))
		rep.Target = "lsn " + o.ToLSN
		if o.Exclusive {
			settings = append(settings, "recovery_target_inclusive = off")
			rep.Target = "just before lsn " + o.ToLSN
		}
	case !o.Latest:
		settings = append(settings, "recovery_target_time = "+quoteLit(o.ToTime.UTC().Format("2006-01-02 15:04:05.999999")+"+00"))
		rep.Target = "time " + o.ToTime.UTC().Format(time.RFC3339Nano)
	default:
		rep.Target = "latest"
	}
	settings = append(settings, "recovery_target_action = 'promote'", "archive_mode = off")
	if err := appendFile(filepath.Join(o.PGData, "postgresql.auto.conf"),
		"\n# linkbackup restore: recovery from base backup "+base.ID+"\n"+strings.Join(settings, "\n")+"\n", uid, gid); err != nil {
		return nil, err
	}
	if err := appendFile(filepath.Join(o.PGData, "recovery.signal"), "", uid, gid); err != nil {
		return nil, err
	}
	bin := o.PgVerifybackup
	if bin == "" {
		bin = "pg_verifybackup"
	}
	// -n: the WAL is in the archive, not in pg_wal.
	if out, err := exec.CommandContext(ctx, bin, "-n", o.PGData).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("pg_verifybackup %s: %w: %s", o.PGData, err, strings.TrimSpace(string(out)))
	}
	rep.Verified = true
	if o.PrivateTrust { // after pg_verifybackup, which would count it as a stray file
		hba := filepath.Join(o.PGData, "linkbackup_hba.conf")
		if err := appendFile(hba, "# linkbackup: a scratch recovery on a private socket directory, no TCP\nlocal all all trust\n", uid, gid); err != nil {
			return nil, err
		}
		if err := appendFile(filepath.Join(o.PGData, "postgresql.auto.conf"), "hba_file = "+quoteLit(hba)+"\n", uid, gid); err != nil {
			return nil, err
		}
	}
	if rep.feed != nil {
		rep.feed.start(ctx, o.Store, o.Keys)
	}
	return rep, nil
}

// lastSegment is the last segment a recovery to o's target replays: the target's (and
// the next, which the record at the target may run into), or the newest archived.
func (o RecoverOptions) lastSegment(a *WALArchive) (string, error) {
	if o.ToLSN == "" {
		return a.Newest, nil
	}
	target, err := ParseLSN(o.ToLSN)
	if err != nil {
		return "", err
	}
	tl, newest, _ := segmentNumber(a.Newest)
	return segmentName(tl, min(target.segment()+1, newest)), nil
}

// pickBase is the newest base backup that ends before the target (and is on o.Timeline,
// if set): for a time, finished before it; for an LSN, stopped at or before it.
func (o RecoverOptions) pickBase(bases []*BaseManifest) (*BaseManifest, error) {
	var target LSN
	if o.ToLSN != "" {
		var err error
		if target, err = ParseLSN(o.ToLSN); err != nil {
			return nil, fmt.Errorf("%w: recovery target: %w", ErrRefused, err)
		}
	}
	var base *BaseManifest
	for _, b := range bases {
		if o.Timeline != 0 && b.Timeline != o.Timeline {
			continue
		}
		switch {
		case o.Latest:
			base = b
		case o.ToLSN != "":
			if stop, err := ParseLSN(b.StopLSN); err == nil && stop <= target {
				base = b
			}
		case !b.Finished.After(o.ToTime):
			base = b
		}
	}
	if base == nil {
		return nil, fmt.Errorf("%w: no base backup ends before %s in %s (list them under base/; take one with linkbackup basebackup)",
			ErrNoSnapshot, targetText(o), o.Store)
	}
	return base, nil
}

// emptyDir creates dir (0700) or checks that it is empty.
func emptyDir(dir string) error {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return os.MkdirAll(dir, 0o700)
	}
	if err != nil {
		return err
	}
	if len(ents) > 0 {
		return fmt.Errorf("%w: %s is not empty: recover into an empty or new directory", ErrRefused, dir)
	}
	return os.Chmod(dir, 0o700)
}

func ownerOf(dir string) (int, int) {
	fi, err := os.Stat(dir)
	if err != nil {
		return -1, -1
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return int(st.Uid), int(st.Gid)
	}
	return -1, -1
}

// unpackBase streams the base backup's tar into dir, refusing names that leave it.
func unpackBase(ctx context.Context, st Store, obj Object, k *Keys, dir string, uid, gid int) error {
	rc, err := OpenObject(ctx, st, obj, k)
	if err != nil {
		return err
	}
	defer rc.Close()
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			// Drain to EOF so that the object's size and SHA-256 are checked.
			if _, err := io.Copy(io.Discard, rc); err != nil {
				return err
			}
			return nil
		}
		if err != nil {
			return fmt.Errorf("base backup tar: %w", err)
		}
		name := filepath.Clean(h.Name)
		if filepath.IsAbs(name) || name == ".." || strings.HasPrefix(name, "../") {
			return fmt.Errorf("base backup tar: entry %q leaves the data directory", h.Name)
		}
		p := filepath.Join(dir, name)
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(p, 0o700); err != nil {
				return err
			}
		case tar.TypeReg:
			f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
			if err != nil {
				return err
			}
			_, err = io.Copy(f, tr)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return err
			}
		case tar.TypeSymlink:
			return fmt.Errorf("base backup tar: symlink %q (tablespaces are not supported)", h.Name)
		default:
			continue
		}
		if uid >= 0 {
			os.Lchown(p, uid, gid)
		}
	}
}

func appendFile(path, text string, uid, gid int) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	_, err = f.WriteString(text)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if uid >= 0 {
		os.Chown(path, uid, gid)
	}
	return err
}

// Recovered is a server started on a recovered data directory.
type Recovered struct {
	PGData, SocketDir string
	Port              int
	// Reached: the last replayed commit's time and the WAL position after promotion.
	LastCommit *time.Time `json:"last_commit,omitempty"`
	LSN        string     `json:"lsn"`
	cred       *syscall.Credential
}

// StartRecovered starts PostgreSQL on a directory Recover prepared, as the directory's
// owner (a server never runs as root), on port with its socket in a private directory
// and no TCP listener, waits until recovery has ended and the server is promoted, and
// reads the point it reached. dsnUser is the role to connect as over the socket (local
// connections must be trusted for it, as initdb sets them up).
func StartRecovered(ctx context.Context, pgdata string, port int, dsnUser string) (*Recovered, error) {
	uid, gid := ownerOf(pgdata)
	r := &Recovered{PGData: pgdata, Port: port}
	if os.Geteuid() == 0 && uid == 0 {
		return nil, fmt.Errorf("%w: %s belongs to root and PostgreSQL refuses to run as root: chown -R postgres %s first", ErrRefused, pgdata, pgdata)
	}
	r.cred = ownerCredential(pgdata)
	sock, err := os.MkdirTemp("", "lbrecover-")
	if err != nil {
		return nil, err
	}
	os.Chmod(sock, 0o700)
	if uid >= 0 {
		os.Chown(sock, uid, gid)
	}
	r.SocketDir = sock
	cmd := exec.CommandContext(ctx, "pg_ctl", "-D", pgdata, "-w", "-t", "600", "-l", filepath.Join(pgdata, "recovery.log"),
		"-o", fmt.Sprintf("-p %d -k %s -c listen_addresses=''", port, sock), "start")
	if r.cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: r.cred}
	}
	if out, err := cmd.CombinedOutput(); err != nil {
		log, _ := os.ReadFile(filepath.Join(pgdata, "recovery.log"))
		return nil, fmt.Errorf("start the recovered server: %w: %s\n%s", err, strings.TrimSpace(string(out)), tail(string(log), 2000))
	}
	dsn := fmt.Sprintf("host=%s port=%d user=%s dbname=postgres", sock, port, dsnUser)
	deadline := time.Now().Add(10 * time.Minute)
	for {
		c, err := pgx.Connect(ctx, dsn)
		if err == nil {
			var inRecovery bool
			err = c.QueryRow(ctx, "SELECT pg_is_in_recovery()").Scan(&inRecovery)
			if err == nil && !inRecovery {
				err = c.QueryRow(ctx, "SELECT pg_current_wal_lsn()::text, pg_last_xact_replay_timestamp()").Scan(&r.LSN, &r.LastCommit)
				c.Close(ctx)
				return r, err
			}
			c.Close(ctx)
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			log, _ := os.ReadFile(filepath.Join(pgdata, "recovery.log"))
			return r, fmt.Errorf("recovery did not end: %v\n%s", err, tail(string(log), 2000))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// StopRecovered stops a server started on pgdata (as the directory's owner).
func StopRecovered(pgdata string) error {
	cmd := exec.Command("pg_ctl", "-D", pgdata, "-w", "-m", "fast", "stop")
	if cred := ownerCredential(pgdata); cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	}
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("stop %s: %w: %s", pgdata, err, out)
	}
	return nil
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// checkContinuity refuses a recovery whose target needs a segment the archive lacks,
// naming the segments, before anything is unpacked: replay would otherwise stop at the
// gap (PostgreSQL 13+ then refuses to promote short of the target, far into the run).
func checkContinuity(ctx context.Context, o RecoverOptions, base *BaseManifest) (*WALArchive, error) {
	start, err := StartSegment(base.Timeline, base.StartLSN)
	if err != nil {
		return nil, err
	}
	a, err := CheckWAL(ctx, o.Store, start)
	if err != nil {
		return nil, err
	}
	if a.Newest == "" {
		return nil, fmt.Errorf("%w: the WAL archive holds no segment from %s on (base backup %s): is archive_command linkbackup wal-push?",
			ErrRefused, start, base.ID)
	}
	var need []string
	for _, m := range a.Missing {
		if o.needs(m) {
			need = append(need, m.Name)
		}
	}
	if len(need) > 0 {
		return nil, fmt.Errorf("%w: recovery to %s needs WAL the archive lacks: %s (archive from %s to %s); "+
			"recover to an earlier point, or find the missing segments", ErrRefused, targetText(o), strings.Join(need, ", "), start, a.Newest)
	}
	return a, nil
}

func targetText(o RecoverOptions) string {
	switch {
	case o.ToLSN != "":
		return "lsn " + o.ToLSN
	case o.Latest:
		return "the end of the archive"
	}
	return o.ToTime.UTC().Format(time.RFC3339)
}

// ownerCredential is the credential to run PostgreSQL on dir with: its owner's, when this
// process is root and the owner is not (nil otherwise: run as this process).
func ownerCredential(dir string) *syscall.Credential {
	uid, gid := ownerOf(dir)
	if os.Geteuid() != 0 || uid <= 0 {
		return nil
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
}
