package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/mail"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/spf13/cobra"

	"github.com/linkagogo/linkbackup/backup"
	"github.com/linkagogo/linkbackup/internal/pgdsn"
	"github.com/linkagogo/linkbackup/mailer"
	"github.com/linkagogo/linkbackup/mailer/weekly"
)

// mailFlags are the flags `export` takes for the weekly email (addMailFlags).
type mailFlags struct {
	mail, dryRun, enqueueOnly bool
	period                    string
}

const mailHelp = `
Weekly email (--mail): one message per selected member and period (ISO week), through
River jobs in the state database (--state; created by migrations on first use) and a
delivery ledger, so that a rerun, a crash or a flaky mail server neither skips a member
nor mails anyone twice. --mail enqueues the jobs (unique per member and period), works
them in this process until every job of the period is finished and prints a summary;
--enqueue-only leaves them to 'linkbackup worker' processes; --dry-run only counts.
The zip is attached; above mail.max_attachment_mb it is put in mail.store (--store; never
the snapshot store) under exports/<period>/ and the message links to it (S3: pre-signed;
a file store: 'linkbackup serve' at mail.link_base_url, signed; both expiring).
4xx replies, timeouts and dropped connections are retried with backoff; a 5xx reply or
an unusable address fails that member only. Exit codes with --mail: 0 every selected
member is sent (or was before); 3 some failed permanently (listed); 1 error.`

// addMailFlags registers the --mail flags on the export command.
func addMailFlags(cmd *cobra.Command, a *app) *mailFlags {
	mf := &mailFlags{}
	f := cmd.Flags()
	f.BoolVar(&mf.mail, "mail", false, "email each selected member their weekly backup instead of writing files")
	f.StringVar(&mf.period, "period", "", "with --mail: ISO week, e.g. 2026-W48 (default: the current week, UTC)")
	f.BoolVar(&mf.dryRun, "dry-run", false, "with --mail: count who would be mailed; change nothing")
	f.BoolVar(&mf.enqueueOnly, "enqueue-only", false, "with --mail: enqueue the jobs and exit; 'linkbackup worker' sends")
	addMailConnFlags(cmd, a)
	cmd.Long += mailHelp
	return mf
}

// addMailConnFlags registers the flags export --mail and worker share.
func addMailConnFlags(cmd *cobra.Command, a *app) {
	f := cmd.Flags()
	f.String("state", "", "DSN of the state database: River jobs + ledger (default: --source) ($LINKBACKUP_MAIL_STATE)")
	f.String("mailer", "", "smtp://[user@]host:port?tls=starttls|tls|none or file:///abs/dir ($LINKBACKUP_MAIL_MAILER; password: $LINKBACKUP_MAIL_PASSWORD)")
	f.String("from", "", `sender, e.g. "LinkaGoGo <backup@linkagogo.com>" ($LINKBACKUP_MAIL_FROM)`)
	if cmd.Flags().Lookup("store") == nil {
		f.String("store", "", "store for zips too large to attach: file:///abs/dir or s3://... ($LINKBACKUP_MAIL_STORE)")
	}
	f.Float64("rate", 0, "messages per second, over all workers sharing the state database (see --rate-scope), 0: unlimited ($LINKBACKUP_MAIL_RATE)")
	f.String("rate-scope", "", "what --rate limits: all (every process sharing the state database together) or process (each alone) ($LINKBACKUP_MAIL_RATE_SCOPE)")
	f.Int("concurrency", 0, "members rendered and sent at once per process ($LINKBACKUP_MAIL_CONCURRENCY)")
	a.bind(cmd, "state", "mail.state")
	a.bind(cmd, "mailer", "mail.mailer")
	a.bind(cmd, "from", "mail.from")
	a.bind(cmd, "store", "mail.store")
	a.bind(cmd, "rate", "mail.rate")
	a.bind(cmd, "rate-scope", "mail.rate_scope")
	a.bind(cmd, "concurrency", "mail.concurrency")
}

// mailEnv is an opened state database, source and transport.
type mailEnv struct {
	cfg     *weekly.Config
	mc      MailConfig
	closers []func()
}

func (e *mailEnv) close() {
	for i := len(e.closers) - 1; i >= 0; i-- {
		e.closers[i]()
	}
}

// openMail opens what the weekly email needs and migrates the state database. send:
// the transport, composer and link store are needed too (not for --dry-run/--enqueue-only).
func openMail(ctx context.Context, a *app, send bool) (*mailEnv, error) {
	c := a.cfg
	mc := c.Mail
	if err := mc.Validate(); err != nil {
		return nil, usageError(err)
	}
	if c.Source == "" {
		return nil, errNoSource
	}
	stateDSN := string(mc.State)
	if stateDSN == "" {
		stateDSN = string(c.Source)
	}
	e := &mailEnv{mc: mc}
	fail := func(err error) (*mailEnv, error) { e.close(); return nil, err }
	state, err := e.openPool(ctx, stateDSN, int32(mc.Concurrency)+6)
	if err != nil {
		return fail(err)
	}
	source, err := e.openPool(ctx, string(c.Source), int32(mc.Concurrency)+2)
	if err != nil {
		return fail(err)
	}
	cfg := &weekly.Config{
		State: state, Schema: mc.Schema, Source: source, Queries: c.Export.queries(),
		MaxAttachment: int64(mc.MaxAttachmentMB * 1e6), Concurrency: mc.Concurrency, MaxAttempts: mc.MaxAttempts,
		RetryBase: mc.RetryBase, RetryMax: mc.RetryMax, JobTimeout: mc.JobTimeout, RescueAfter: mc.RescueAfter,
		SuppressAfter: suppressAfter(mc.SuppressAfter),
		ZipLevel:      c.Export.ZipLevel, Log: a.log,
	}
	e.cfg = cfg
	if res, err := weekly.Migrate(ctx, state, mc.Schema, a.log); err != nil {
		return fail(err)
	} else if len(res.River)+len(res.Ledger) > 0 {
		a.log.Info("state database migrated", "schema", mc.Schema, "river", res.River, "ledger", res.Ledger)
	}
	if !send {
		return e, nil
	}
	if err := e.openSending(ctx, a); err != nil {
		return fail(err)
	}
	return e, nil
}

// suppressAfter maps mail.suppress_after (0: never) to weekly.Config's (negative: never).
func suppressAfter(n int) int {
	if n == 0 {
		return -1
	}
	return n
}

// openPool opens and pings a pool on dsn; e closes it.
func (e *mailEnv) openPool(ctx context.Context, dsn string, max int32) (*pgxpool.Pool, error) {
	pc, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, usageError(fmt.Errorf("dsn %s: %w", pgdsn.Redact(dsn), err))
	}
	pc.MaxConns = max
	backup.BoundWaits(pc.ConnConfig)
	p, err := pgxpool.NewWithConfig(ctx, pc)
	if err != nil {
		return nil, fmt.Errorf("connect %s: %w", pgdsn.Redact(dsn), err)
	}
	if err := p.Ping(ctx); err != nil {
		p.Close()
		return nil, fmt.Errorf("connect %s: %w", pgdsn.Redact(dsn), err)
	}
	e.closers = append(e.closers, p.Close)
	return p, nil
}

// openSending adds what sending needs to e.cfg: the composer, the transport (its
// password from the config's secret), the rate, and a Linker when a store is set for
// zips too large to attach.
func (e *mailEnv) openSending(ctx context.Context, a *app) error {
	c, mc, cfg := a.cfg, e.mc, e.cfg
	var err error
	if cfg.Composer, err = composer(mc); err != nil {
		return usageError(err)
	}
	if mc.Mailer == "" {
		return usageError(errors.New("no mailer: set --mailer smtp://host:port?tls=... or file:///dir, LINKBACKUP_MAIL_MAILER or mail.mailer"))
	}
	pw, err := mc.password()
	if err != nil {
		return usageError(err)
	}
	mailerURL := string(mc.Mailer)
	if strings.HasPrefix(mailerURL, "smtp://") && !strings.Contains(mailerURL, "timeout=") {
		sep := "?"
		if strings.Contains(mailerURL, "?") {
			sep = "&"
		}
		mailerURL += sep + "timeout=" + mc.SMTPTimeout.String()
	}
	warnPlaintextSMTP(a.log, mailerURL, pw != "")
	tr, err := mailer.Open(mailerURL, pw, mc.Connections)
	if err != nil {
		return usageError(err)
	}
	e.closers = append(e.closers, func() { tr.Close() })
	cfg.Transport, cfg.Rate, cfg.RatePerProcess = tr, mc.Rate, mc.RateScope == "process"
	if err := checkMailStore(mc.Store, c.Store); err != nil {
		return err
	}
	if mc.Store != "" {
		st, err := openStore(ctx, mc.Store, a.log)
		if err != nil {
			return err
		}
		if mc.LinkBaseURL != "" {
			cfg.Linker, err = weekly.NewServedLinker(st, mc.LinkExpiry, mc.LinkBaseURL, mailer.DeriveKey(cfg.Composer.Unsubscribe.Secret, "download"))
		} else {
			cfg.Linker, err = weekly.NewLinker(st, mc.LinkExpiry, "")
		}
		if err != nil {
			return usageError(err)
		}
	}
	a.log.Debug("mail ready", "transport", tr.String(), "state_schema", mc.Schema)
	return nil
}

// checkMailStore refuses mail.store when it is the snapshot store: the directory of
// large zips may be published, and publishing it must never publish snapshots.
func checkMailStore(mailStore, store string) error {
	norm := func(s string) string { return strings.TrimRight(strings.TrimSpace(s), "/") }
	if mailStore != "" && store != "" && (norm(mailStore) == norm(store) ||
		strings.HasPrefix(norm(mailStore)+"/", norm(store)+"/") || strings.HasPrefix(norm(store)+"/", norm(mailStore)+"/")) {
		return usageError(fmt.Errorf("mail.store %s is (or overlaps) the snapshot store: give the large zips a store of their own", showURL(mailStore)))
	}
	return nil
}

// composer builds the message settings from the config.
func composer(mc MailConfig) (*mailer.Composer, error) {
	if mc.From == "" {
		return nil, errors.New("no sender: set --from, LINKBACKUP_MAIL_FROM or mail.from")
	}
	from, err := mailer.ParseAddress(mc.From)
	if err != nil {
		return nil, err
	}
	var replyTo *mail.Address
	if mc.ReplyTo != "" {
		if replyTo, err = mailer.ParseAddress(mc.ReplyTo); err != nil {
			return nil, err
		}
	}
	secret, err := mc.unsubscribeSecret()
	if err != nil {
		return nil, err
	}
	if mc.UnsubscribeURL == "" || secret == "" {
		return nil, errors.New("one-click unsubscribe needs mail.unsubscribe_url (https://...{token}) and mail.unsubscribe_secret (or _file, or LINKBACKUP_MAIL_UNSUBSCRIBE_SECRET)")
	}
	keys, err := mc.unsubscribeKeys(secret)
	if err != nil {
		return nil, err
	}
	c := &mailer.Composer{From: from, ReplyTo: replyTo, Product: mc.Product, MessageIDDomain: mc.MessageIDDomain,
		Unsubscribe: keys}
	if mc.DKIMKeyFile != "" {
		domain := mc.DKIMDomain
		if domain == "" {
			_, domain, _ = strings.Cut(from.Address, "@")
		}
		if c.DKIM, err = mailer.LoadDKIM(domain, mc.DKIMSelector, mc.DKIMKeyFile); err != nil {
			return nil, err
		}
	}
	return c, c.Validate()
}

// runMailExport is `export --mail`: enqueue the period, work it here unless
// --enqueue-only, print the summary. Exit 3 when some member failed permanently.
func runMailExport(cmd *cobra.Command, a *app, mf *mailFlags, member int64) error {
	ctx := cmd.Context()
	period := mf.period
	if period == "" {
		period = mailer.PeriodOf(time.Now())
	}
	if _, err := mailer.PeriodStart(period); err != nil {
		return usageError(fmt.Errorf("--period: %w", err))
	}
	if member < 0 {
		return usageError(fmt.Errorf("--member %d: want a member id > 0", member))
	}
	send := !mf.dryRun && !mf.enqueueOnly
	e, err := openMail(ctx, a, send)
	if err != nil {
		return err
	}
	defer e.close()
	opts := weekly.EnqueueOptions{Period: period, MemberID: member, DryRun: mf.dryRun}
	if mf.dryRun {
		er, err := weekly.Enqueue(ctx, e.cfg, nil, opts)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(a.stdout, "mail %s (dry run): selected %d, already sent %d, would send %d\n",
			period, er.Selected, er.AlreadySent, er.Selected-er.AlreadySent)
		return err
	}
	since, err := weekly.Now(ctx, e.cfg)
	if err != nil {
		return err
	}
	client, err := weekly.NewClient(e.cfg, send)
	if err != nil {
		return err
	}
	if send {
		stop, err := startWorking(ctx, e, client, a.log)
		if err != nil {
			return err
		}
		defer stop()
	}
	er, err := weekly.Enqueue(ctx, e.cfg, client, opts)
	if err != nil {
		return err
	}
	a.log.Info("enqueued", "period", period, "selected", er.Selected, "already_sent", er.AlreadySent, "enqueued", er.Enqueued, "pending", er.Pending)
	if mf.enqueueOnly {
		_, err := fmt.Fprintf(a.stdout, "mail %s: selected %d, already sent %d, enqueued %d, already pending %d (workers send)\n",
			period, er.Selected, er.AlreadySent, er.Enqueued, er.Pending)
		return err
	}
	last := time.Now()
	if err := weekly.Wait(ctx, e.cfg, period, member, 200*time.Millisecond, func(n, running int) {
		if time.Since(last) >= 10*time.Second && n > 0 {
			last = time.Now()
			a.log.Info("waiting for jobs", "period", period, "unfinished", n, "running", running)
		}
	}); err != nil {
		return err
	}
	sum, err := weekly.Summarize(context.WithoutCancel(ctx), e.cfg, period, member, since)
	if err != nil {
		return err
	}
	if err := printMailSummary(ctx, a.stdout, e.cfg, period, member, er, sum); err != nil {
		return err
	}
	if sum.Failed > 0 {
		return silentExit(exitPartial)
	}
	return nil
}

func printMailSummary(ctx context.Context, w io.Writer, cfg *weekly.Config, period string, member int64, er weekly.EnqueueResult, sum weekly.Summary) error {
	fmt.Fprintf(w, "mail %s: selected %d, sent %d, already sent %d, retried %d, skipped %d, failed permanently %d, suppressed %d\n",
		period, er.Selected, sum.SentNow, er.AlreadySent, sum.Retried, sum.Skipped, sum.Failed, sum.Suppressed)
	if err := weekly.Failures(ctx, cfg, period, member, func(f weekly.Failure) error {
		_, err := fmt.Fprintf(w, "  failed: member %d <%s> after %d attempt(s): %s\n", f.MemberID, f.Recipient, f.Attempts, f.Reply)
		return err
	}); err != nil {
		return err
	}
	return weekly.Suppressions(ctx, cfg, period, member, func(f weekly.Failure) error {
		_, err := fmt.Fprintf(w, "  suppressed: member %d <%s>: %s\n", f.MemberID, f.Recipient, f.Reply)
		return err
	})
}

// startWorking takes the client's liveness lock (and starts rescuing the jobs of dead
// workers), then starts the client. Its context outlives a cancelled command so that
// stopping stays graceful; stop stops the client (stopRiver), then releases the lock.
func startWorking(ctx context.Context, e *mailEnv, client *weekly.Client, log *slog.Logger) (stop func(), err error) {
	live, err := weekly.Live(ctx, e.cfg, client.ID())
	if err != nil {
		return nil, err
	}
	if err := client.Start(context.WithoutCancel(ctx)); err != nil {
		live.Close()
		return nil, fmt.Errorf("mail: start workers: %w", err)
	}
	return func() {
		stopRiver(client, e.mc.ShutdownTimeout, log)
		live.Close()
	}, nil
}

// stopRiver stops a working client: in-flight jobs get timeout to finish, then they are
// cancelled (their ledger rows go back to queued and River retries them later).
func stopRiver(client *weekly.Client, timeout time.Duration, log *slog.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := client.Stop(ctx); err != nil {
		log.Warn("in-flight jobs did not finish in time: cancelling them", "timeout", timeout, "err", err)
		hard, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		client.StopAndCancel(hard)
	}
}
