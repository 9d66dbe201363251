package backup

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"golang.org/x/sync/errgroup"
)

// eachOnSessions runs do for every item, in order of the slice, on up to workers
// sessions; each session is opened once by open and closed at the end. The first error
// cancels the rest and is returned.
func eachOnSessions[T any](ctx context.Context, items []T, workers int,
	open func(context.Context) (*pgx.Conn, error), do func(context.Context, *pgx.Conn, T) error) error {
	if len(items) == 0 {
		return nil
	}
	g, ctx := errgroup.WithContext(ctx)
	queue := make(chan T)
	g.Go(func() error {
		defer close(queue)
		for _, it := range items {
			select {
			case queue <- it:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		return nil
	})
	for w := 0; w < min(max(workers, 1), len(items)); w++ {
		g.Go(func() error {
			conn, err := open(ctx)
			if err != nil {
				return err
			}
			defer conn.Close(context.WithoutCancel(ctx))
			for it := range queue {
				if err := do(ctx, conn, it); err != nil {
					return err
				}
			}
			return nil
		})
	}
	return g.Wait()
}

// connector opens sessions with cfg; what names them in errors.
func connector(cfg *pgx.ConnConfig, what string) func(context.Context) (*pgx.Conn, error) {
	return func(ctx context.Context) (*pgx.Conn, error) {
		conn, err := pgx.ConnectConfig(ctx, cfg)
		if err != nil {
			return nil, fmt.Errorf("%s: connect: %w", what, err)
		}
		return conn, nil
	}
}
