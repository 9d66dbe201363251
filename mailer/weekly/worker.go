package weekly

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	"github.com/wneessen/go-mail"

	"github.com/linkagogo/linkbackup/export"
	"github.com/linkagogo/linkbackup/export/pgsource"
	"github.com/linkagogo/linkbackup/mailer"
)

// Kind is the River job kind; Queue the River queue the jobs run on.
const (
	Kind  = "linkbackup_weekly_mail"
	Queue = "linkbackup_weekly_mail"
)

// Args are one job: a member and a period. The address and the links are read when
// the job runs, so a member who changed address or unsubscribed meanwhile is honoured.
type Args struct {
	MemberID int64  `json:"member_id"`
	Period   string `json:"period"`
}

// Kind implements river.JobArgs.
func (Args) Kind() string { return Kind }

// worker runs one job.
type worker struct {
	river.WorkerDefaults[Args]
	cfg *Config

	once                                       sync.Once
	reader                                     *pgsource.MemberReader
	attemptSQL, sentSQL, completeSQL, replySQL string
}

// prepare builds the member read statements (source) and the ledger's (state).
func (w *worker) prepare() {
	c := w.cfg
	w.reader = pgsource.NewMemberReader(c.Queries)
	// Step 1: mark the row "sending" (attempts+1; a row already sent is left alone
	// and no row returned) and read the member's previous as_of and, of their last $4
	// periods (sent, failed or suppressed), the address of each that bounced or was
	// suppressed (NULL for the others).
	w.attemptSQL = `WITH up AS (
  INSERT INTO ` + c.table() + ` AS l (period, member_id, state, attempts, worker) VALUES ($1, $2, 'sending', 1, $3)
  ON CONFLICT (period, member_id) DO UPDATE
    SET state = 'sending', attempts = l.attempts + 1, worker = $3, updated_at = now()
    WHERE l.state <> 'sent'
  RETURNING 1)
SELECT (SELECT p.as_of FROM ` + c.table() + ` p
  WHERE p.member_id = $2 AND p.period < $1 AND p.state = 'sent' ORDER BY p.period DESC LIMIT 1),
  (SELECT coalesce(array_agg(CASE WHEN r.bounced OR r.state = 'suppressed' THEN coalesce(r.recipient, '') END), '{}')
   FROM (SELECT q.state, q.bounced, q.recipient FROM ` + c.table() + ` q
     WHERE q.member_id = $2 AND q.period < $1 AND q.state IN ('sent', 'failed', 'suppressed')
     ORDER BY q.period DESC LIMIT $4) r)
FROM up`
	w.sentSQL = `UPDATE ` + c.table() + `
SET state = 'sent', recipient = $3, message_id = $4, as_of = $5, download_key = $6, sent_at = now(), updated_at = now(), bounced = false
WHERE period = $1 AND member_id = $2 AND state <> 'sent'`
	// River's completion of the job, as river.JobCompleteTx does it for a job
	// without metadata updates (state completed, finalized_at set, only while
	// running). JobCompleteTx's statement handles every state change River knows
	// and is planned anew on each call (0.6 ms of server CPU per job, measured);
	// this one is a primary-key update with a cached plan. River's completer runs
	// its own (no-op) completion after Work returns, as it does after
	// JobCompleteTx. TestCompletionMatchesRiver pins it to River's statement.
	w.completeSQL = `UPDATE ` + pgx.Identifier{c.Schema, "river_job"}.Sanitize() + `
SET state = 'completed', finalized_at = now() WHERE id = $1 AND state = 'running'`
	w.replySQL = `UPDATE ` + c.table() + ` SET size = $3, last_reply = $4 WHERE period = $1 AND member_id = $2`
}

func (w *worker) Timeout(*river.Job[Args]) time.Duration { return w.cfg.JobTimeout }

// Work delivers one member's message (see the package doc for the steps).
func (w *worker) Work(ctx context.Context, job *river.Job[Args]) error {
	c := w.cfg
	a := job.Args
	log := c.Log.With("member", a.MemberID, "period", a.Period, "attempt", job.Attempt)
	if _, err := mailer.PeriodStart(a.Period); err != nil {
		return river.JobCancel(err)
	}
	w.once.Do(w.prepare)

	// 1. Record the attempt; learn the previous export's time for "links added since".
	prevAsOf, bounced, ld, err := w.claim(ctx, a)
	if errors.Is(err, pgx.ErrNoRows) {
		log.Debug("already sent")
		return nil
	}
	if err != nil {
		return fmt.Errorf("weekly: ledger: %w", err)
	}

	// 2. Render.
	rows, err := ld.rows, ld.err
	if err != nil {
		return w.failed(ctx, job, log, err, "")
	}
	if rows == nil {
		return w.skip(ctx, a, log)
	}
	if suppressed(bounced, c.SuppressAfter, rows.Member.Email) {
		return w.suppress(ctx, a, log, rows.Member.Email)
	}
	zip := newSpill(c.MaxAttachment)
	defer zip.release()
	r, err := w.render(ctx, a, log, rows, prevAsOf, zip)
	if err != nil {
		return w.failed(ctx, job, log, err, rows.Member.Email)
	}

	// 3. and 4. Send, and record it.
	return w.send(ctx, job, log, r)
}

// loaded is a member's rows as read from the source (nil: no longer selected).
type loaded struct {
	rows *pgsource.Rows
	err  error
}

// claim marks the ledger row "sending" and returns the member's previous as_of (nil for
// a first export) and the bounce record of their last periods (see suppressed), or
// pgx.ErrNoRows when the row was already sent. The member's rows are read meanwhile,
// from the source: the two round trips overlap.
func (w *worker) claim(ctx context.Context, a Args) (*time.Time, []*string, loaded, error) {
	c := w.cfg
	read := make(chan loaded, 1)
	go func() {
		r, err := w.load(ctx, a.MemberID)
		read <- loaded{r, err}
	}()
	var prevAsOf *time.Time
	var bounced []*string
	err := c.State.QueryRow(ctx, w.attemptSQL, a.Period, a.MemberID, c.WorkerName, max(c.SuppressAfter, 0)).Scan(&prevAsOf, &bounced)
	ld := <-read
	return prevAsOf, bounced, ld, err
}

// skip records that the member is no longer selected (opted out, downgraded or deleted).
func (w *worker) skip(ctx context.Context, a Args, log *slog.Logger) error {
	c := w.cfg
	_, err := c.State.Exec(context.WithoutCancel(ctx), `UPDATE `+c.table()+`
SET state = 'skipped', last_reply = 'no longer selected (opted out, downgraded or deleted)', updated_at = now()
WHERE period = $1 AND member_id = $2`, a.Period, a.MemberID)
	log.Info("member no longer selected: skipped")
	if err != nil {
		return err
	}
	return river.JobCancel(errNotSelected) // as errSuppressed: a rerun may enqueue the member again
}

var errNotSelected = errors.New("no longer selected")

// rendered is a composed message, ready to send.
type rendered struct {
	msg         *mail.Msg
	messageID   string
	recipient   string
	asOf        time.Time
	downloadKey *string // set when the zip is linked instead of attached
}

// render builds the member's tree, zips it into zip and composes the message, with the
// zip attached or, above MaxAttachment with a Linker, uploaded and linked.
func (w *worker) render(ctx context.Context, a Args, log *slog.Logger, rows *pgsource.Rows, prevAsOf *time.Time, zip *spill) (rendered, error) {
	c := w.cfg
	asOf := c.Now().UTC().Truncate(time.Second)
	tree, warns := export.BuildTree(rows.Member, rows.Folders, rows.Links)
	for _, wn := range warns {
		log.Warn(wn.Message(), "kind", wn.Kind, "ids", wn.IDs)
	}
	st, err := export.WriteZip(zip, tree, export.ZipOptions{Date: asOf, Level: c.ZipLevel})
	if err != nil {
		return rendered{}, err
	}
	msg := mailer.Weekly{Member: rows.Member, Period: a.Period, Date: asOf, Stats: st, NewLinks: newLinks(rows, prevAsOf)}
	var downloadKey *string
	zr, err := zip.reader()
	if err != nil {
		return rendered{}, err
	}
	if st.Bytes > c.MaxAttachment && c.Linker != nil {
		key := DownloadKey(c.Composer.Unsubscribe.Secret, a.MemberID, a.Period)
		url, expires, err := c.Linker.Link(ctx, key, zr, st.Bytes)
		if err != nil {
			return rendered{}, fmt.Errorf("weekly: upload %s: %w", key, err)
		}
		msg.Download = &mailer.Download{URL: url, Expires: expires, Size: st.Bytes}
		downloadKey = &key
	} else {
		msg.Attachment = &mailer.Attachment{Name: mailer.AttachmentName(a.Period), Data: zr, Size: st.Bytes}
	}
	m, err := c.Composer.Weekly(msg)
	if err != nil {
		return rendered{}, err
	}
	return rendered{msg: m, messageID: c.Composer.MessageID(a.MemberID, a.Period), recipient: rows.Member.Email,
		asOf: asOf, downloadKey: downloadKey}, nil
}

// newLinks counts the links created after prevAsOf; -1 without a previous export.
func newLinks(rows *pgsource.Rows, prevAsOf *time.Time) int {
	if prevAsOf == nil {
		return -1
	}
	n := 0
	for i := range rows.Links {
		if rows.Links[i].CreatedAt.After(*prevAsOf) {
			n++
		}
	}
	return n
}

// send prepares "sent" and the job's completion in one transaction, sends r, then
// commits.
func (w *worker) send(ctx context.Context, job *river.Job[Args], log *slog.Logger, r rendered) error {
	c := w.cfg
	if c.limiter != nil {
		if err := c.limiter.Wait(ctx); err != nil {
			return w.failed(ctx, job, log, fmt.Errorf("weekly: rate limit: %w", err), r.recipient)
		}
	}
	tx, ours, err := w.beginSent(ctx, job, r.recipient, r.messageID, r.asOf, r.downloadKey)
	if err != nil {
		return w.failed(ctx, job, log, err, r.recipient)
	}
	if !ours { // another worker sent it while we rendered
		log.Info("sent by another worker meanwhile")
		return nil
	}
	res, err := c.Transport.Send(ctx, r.msg)
	if err != nil {
		tx.rollback(ctx)
		return w.failed(ctx, job, log, err, r.recipient)
	}
	// 4. The at-least-once window: the server accepted; only this COMMIT remains.
	if err := tx.commit(ctx, res.Size, res.Reply); err != nil {
		log.Error("message accepted by the server but the ledger commit failed: it may be sent again", "err", err)
		return fmt.Errorf("weekly: commit after delivery: %w", err)
	}
	log.Debug("sent", "bytes", res.Size, "reply", res.Reply)
	return nil
}

// failed records a failed attempt and tells River what to do: permanent failures end
// the job (JobCancel), others are retried until MaxAttempts.
func (w *worker) failed(ctx context.Context, job *river.Job[Args], log *slog.Logger, err error, recipient string) error {
	c := w.cfg
	a := job.Args
	state, reply := "queued", mailer.ReplyOf(err)
	permanent := mailer.IsPermanent(err)
	switch {
	case permanent:
		state = "failed"
	case job.Attempt >= job.MaxAttempts:
		state = "failed"
		reply = fmt.Sprintf("gave up after %d attempts: %s", job.Attempt, reply)
	}
	var se *mailer.SendError
	if errors.As(err, &se) && se.Uncertain() {
		log.Warn("connection lost after the message data: the server may have accepted it; retrying can deliver it twice")
	}
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if _, dberr := c.State.Exec(rctx, `UPDATE `+c.table()+` SET state = $3, last_reply = $4, updated_at = now(),
  recipient = coalesce(nullif($5, ''), recipient), bounced = $6
WHERE period = $1 AND member_id = $2 AND state <> 'sent'`, a.Period, a.MemberID, state, cleanReply(reply, 500), recipient, permanent); dberr != nil {
		log.Error("recording the failure", "err", dberr)
	}
	if permanent {
		log.Warn("permanent failure", "reply", reply)
		return river.JobCancel(err)
	}
	log.Info("temporary failure: will retry", "reply", reply, "final", state == "failed")
	return err
}
