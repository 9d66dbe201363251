package weekly

import (
	"context"
	"errors"
	"log/slog"
	"strings"

	"github.com/riverqueue/river"
)

// SuppressedReply is the ledger's last_reply of a suppressed row.
const SuppressedReply = "suppressed: address bounced"

// suppressed reports whether a member is to be skipped: each of their last n periods
// (sent, failed or suppressed; newest first in record, an address for a period that
// bounced or was suppressed, nil for one that did not) bounced at, or was suppressed
// for, the address they have now. A changed address, a period sent, or fewer than n
// periods so far: not suppressed.
func suppressed(record []*string, n int, address string) bool {
	if n <= 0 || len(record) < n {
		return false
	}
	for _, r := range record[:n] {
		if r == nil || !strings.EqualFold(strings.TrimSpace(*r), strings.TrimSpace(address)) {
			return false
		}
	}
	return true
}

// suppress records the member's row as suppressed; the attempt claim made is undone
// (no delivery was attempted). A rerun queues the row again, so a changed address is
// mailed.
func (w *worker) suppress(ctx context.Context, a Args, log *slog.Logger, address string) error {
	c := w.cfg
	_, err := c.State.Exec(context.WithoutCancel(ctx), `UPDATE `+c.table()+`
SET state = 'suppressed', last_reply = $3, recipient = $4, attempts = greatest(attempts - 1, 0), bounced = false, updated_at = now()
WHERE period = $1 AND member_id = $2 AND state = 'sending'`, a.Period, a.MemberID, SuppressedReply, address)
	log.Info("address bounced in the last periods: suppressed", "periods", c.SuppressAfter)
	if err != nil {
		return err
	}
	return river.JobCancel(errSuppressed)
}

// errSuppressed ends a suppressed member's job as cancelled, not completed: River's
// unique jobs count completed ones, so a completed job would keep the rerun after an
// address change from enqueueing the member again.
var errSuppressed = errors.New(SuppressedReply)
