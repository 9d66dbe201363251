package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/linkagogo/linkbackup/backup"
)

// showProgress prints a one-line progress report to w every second while ctx lives, when
// w is a terminal (otherwise the JSON log lines are the record). It returns a stop func
// that prints the final line.
func showProgress(ctx context.Context, w io.Writer, verb string, p *backup.Progress) (stop func()) {
	if !isTerminal(w) {
		return func() {}
	}
	start := time.Now()
	line := func() {
		secs := time.Since(start).Seconds()
		raw := p.RawBytes.Load()
		fmt.Fprintf(w, "\r%s: tables %d/%d  objects %d/%d  %s rows  %s read  %s stored  %s/s   ", verb,
			p.TablesDone.Load(), p.TablesTotal.Load(), p.ChunksDone.Load(), p.ChunksTotal.Load(),
			humanCount(p.Rows.Load()), backup.HumanBytes(raw), backup.HumanBytes(p.StoredBytes.Load()),
			backup.HumanBytes(int64(float64(max(raw, p.StoredBytes.Load()))/max(secs, 0.001))))
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				line()
			}
		}
	}()
	return func() {
		cancel()
		<-done
		line()
		fmt.Fprintln(w)
	}
}

func humanCount(n int64) string {
	switch {
	case n >= 1e6:
		return fmt.Sprintf("%.1fM", float64(n)/1e6)
	case n >= 1e4:
		return fmt.Sprintf("%.0fk", float64(n)/1e3)
	}
	return fmt.Sprint(n)
}
