package mailer

import (
	"context"

	"github.com/wneessen/go-mail"
	"golang.org/x/time/rate"
)

// Limited returns t with at most perSecond sends started per second (burst 1, so the
// sends are spread evenly). perSecond <= 0 returns t unchanged.
func Limited(t Transport, perSecond float64) Transport {
	if perSecond <= 0 {
		return t
	}
	return &limited{Transport: t, lim: rate.NewLimiter(rate.Limit(perSecond), 1)}
}

type limited struct {
	Transport
	lim *rate.Limiter
}

func (l *limited) Send(ctx context.Context, msg *mail.Msg) (Result, error) {
	if err := l.lim.Wait(ctx); err != nil {
		return Result{}, &SendError{Stage: StageConnect, Err: err, Reply: "rate limit: " + err.Error()}
	}
	return l.Transport.Send(ctx, msg)
}
