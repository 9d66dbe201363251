package weekly

import (
	"context"
	"fmt"

	"github.com/linkagogo/linkbackup/export/pgsource"
)

// load reads one member's rows with export's one-member reader (one round trip); nil
// when the member query does not select them.
func (w *worker) load(ctx context.Context, id int64) (*pgsource.Rows, error) {
	w.once.Do(w.prepare)
	r, err := w.reader.ReadMember(ctx, w.cfg.Source, id)
	if err != nil {
		return nil, fmt.Errorf("weekly: %w", err)
	}
	return r, nil
}
