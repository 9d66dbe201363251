package retention

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/linkagogo/linkbackup/internal/human"
)

// Totals counts one side of a plan.
type Totals struct {
	Snapshots int   `json:"snapshots"`
	Bytes     int64 `json:"bytes"`
}

// Totals returns what the plan keeps and removes.
func (p Plan) Totals() (keep, remove Totals) {
	for _, d := range p.Decisions {
		t := &remove
		if d.Keep {
			t = &keep
		}
		t.Snapshots++
		t.Bytes += d.Bytes
	}
	return keep, remove
}

// WriteTable writes the decision table for a terminal: one line per snapshot (database,
// id, start time in the policy's zone, keep or remove, every reason), then the totals and
// the warnings.
func WriteTable(w io.Writer, p Plan, pol Policy, loc *time.Location) error {
	if loc == nil {
		loc = time.UTC
	}
	tw := tabwriter.NewWriter(w, 2, 8, 2, ' ', 0)
	fmt.Fprintf(tw, "DATABASE\tID\tTIME (%s)\tSIZE\tACTION\tREASONS\n", loc)
	for _, d := range p.Decisions {
		action, reasons := "remove", "-"
		if d.Keep {
			action, reasons = "keep", strings.Join(d.Reasons, ", ")
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", d.Database, d.ID, d.Time.In(loc).Format("2006-01-02 15:04 MST"),
			human.Bytes(d.Bytes), action, reasons)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	keep, remove := p.Totals()
	fmt.Fprintf(w, "policy: %s\n", pol)
	fmt.Fprintf(w, "keep %s (%s), remove %d (%s)\n", snapshots(keep.Snapshots), human.Bytes(keep.Bytes),
		remove.Snapshots, human.Bytes(remove.Bytes))
	for _, warn := range p.Warnings {
		fmt.Fprintf(w, "warning: %s\n", warn)
	}
	return nil
}

func snapshots(n int) string {
	if n == 1 {
		return "1 snapshot"
	}
	return fmt.Sprintf("%d snapshots", n)
}
