package weekly

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
)

// sentTx is the transaction of steps 3 and 4 (package doc): it marks the member's row
// "sent" and completes the River job, and stays open on its own connection while the
// message is sent. It costs two round trips: BEGIN with both UPDATEs pipelined before
// the message, COMMIT with the reply's UPDATE pipelined after it.
type sentTx struct {
	w    *worker
	conn *pgxpool.Conn
	key  Args
}

// beginSent opens the transaction. ours is false (and nothing is held) when the row
// is "sent" already: another worker sent the message while this one rendered it.
func (w *worker) beginSent(ctx context.Context, job *river.Job[Args], recipient, messageID string, asOf time.Time, downloadKey *string) (_ *sentTx, ours bool, err error) {
	conn, err := w.cfg.State.Acquire(ctx)
	if err != nil {
		return nil, false, fmt.Errorf("weekly: ledger connection: %w", err)
	}
	t := &sentTx{w: w, conn: conn, key: job.Args}
	b := &pgx.Batch{}
	b.Queue("BEGIN")
	b.Queue(w.sentSQL, job.Args.Period, job.Args.MemberID, recipient, messageID, asOf, downloadKey)
	b.Queue(w.completeSQL, job.ID)
	br := conn.SendBatch(ctx, b)
	_, err = br.Exec()
	var sent, done int64
	if err == nil {
		var tag pgconn.CommandTag
		tag, err = br.Exec()
		sent = tag.RowsAffected()
		if err == nil {
			tag, err = br.Exec()
			done = tag.RowsAffected()
		}
	}
	err = errors.Join(err, br.Close())
	if err != nil {
		t.rollback(ctx)
		return nil, false, fmt.Errorf("weekly: ledger: %w", err)
	}
	if sent == 0 {
		t.rollback(ctx)
		return nil, false, nil
	}
	if done == 0 {
		// The job is no longer running (cancelled, or rescued as a stuck job). The
		// row lock taken above still makes any other run of it wait for this
		// transaction and then find the row "sent"; River's JobCompleteTx, too,
		// leaves a job that is not running alone and lets the work go on.
		w.cfg.Log.Warn("the River job is no longer running; sending anyway", "member", job.Args.MemberID, "job", job.ID)
	}
	return t, true, nil
}

// commit commits after the server's 250: the COMMIT, then the reply's UPDATE, in one
// round trip. The reply is informative and runs after the COMMIT (its own implicit
// transaction), so its failure cannot undo the "sent" mark; it is logged.
func (t *sentTx) commit(ctx context.Context, size int64, reply string) error {
	defer t.release()
	// The message is out: the mark must land even if the job's context ends. A
	// server that does not answer within commitTimeout gets the connection closed
	// (pgx), and the transaction is then rolled back unless the COMMIT had run.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), commitTimeout)
	defer cancel()
	b := &pgx.Batch{}
	b.Queue("COMMIT")
	b.Queue(t.w.replySQL, t.key.Period, t.key.MemberID, size, cleanReply(reply, 500))
	br := t.conn.SendBatch(ctx, b)
	tag, err := br.Exec()
	if err == nil && tag.String() != "COMMIT" { // the server answers ROLLBACK to COMMIT in a failed transaction
		err = fmt.Errorf("the server rolled the transaction back (%s)", tag)
	}
	if err != nil {
		br.Close()
		return err
	}
	if _, rerr := br.Exec(); rerr != nil {
		t.w.cfg.Log.Warn("recording the server reply", "member", t.key.MemberID, "err", rerr)
	}
	br.Close() //nolint:errcheck // the reply's error, if any, was logged above
	return nil
}

// commitTimeout bounds the COMMIT after a delivered message.
const commitTimeout = time.Minute

// rollback ends the transaction without the mark.
func (t *sentTx) rollback(ctx context.Context) {
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if t.conn.Conn().PgConn().TxStatus() != 'I' {
		if _, err := t.conn.Exec(rctx, "ROLLBACK"); err != nil {
			t.w.cfg.Log.Warn("rollback", "member", t.key.MemberID, "err", err)
		}
	}
	t.release()
}

// release returns the connection; the pool closes one left in a transaction.
func (t *sentTx) release() {
	if t.conn != nil {
		t.conn.Release()
		t.conn = nil
	}
}

// cleanReply makes an SMTP reply storable as text: valid UTF-8 without NUL, at most
// max bytes, cut on a character boundary.
func cleanReply(s string, max int) string {
	s = strings.ToValidUTF8(strings.ReplaceAll(s, "\x00", ""), "\uFFFD")
	if len(s) <= max {
		return s
	}
	for max > 0 && !utf8.RuneStart(s[max]) {
		max--
	}
	return s[:max]
}
