package web

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"
)

// MaxBody bounds every request body (an unsubscribe POST is 26 bytes).
const MaxBody = 16 << 10

// Route is one handler of the server, logged by its Name (never by its URL: URLs
// carry tokens).
type Route struct {
	Name    string
	Pattern string // net/http ServeMux pattern, e.g. "GET /healthz"
	Handler http.Handler
}

// Handler returns routes behind the hygiene middleware: request bodies limited to
// MaxBody, one JSON log line per request (route name, method, status, bytes, time,
// remote address; no URL, query or header), and a recovered panic answered 500.
func Handler(log *slog.Logger, routes ...Route) http.Handler {
	mux := http.NewServeMux()
	for _, rt := range routes {
		mux.Handle(rt.Pattern, logged(log, rt.Name, rt.Handler))
	}
	mux.Handle("/", logged(log, "not_found", http.NotFoundHandler()))
	return mux
}

// recorder keeps the status and size of a response.
type recorder struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (r *recorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	n, err := r.ResponseWriter.Write(b)
	r.bytes += int64(n)
	return n, err
}

// Unwrap lets http.ResponseController reach the connection (deadlines, flush).
func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

func logged(log *slog.Logger, name string, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &recorder{ResponseWriter: w}
		r.Body = http.MaxBytesReader(rec, r.Body, MaxBody)
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				log.Error("handler panicked", "route", name, "panic", fmt.Sprint(p))
				if rec.status == 0 {
					http.Error(rec, "internal error", http.StatusInternalServerError)
				}
			}
			log.Info("request", "route", name, "method", r.Method, "status", rec.status, "bytes", rec.bytes,
				"ms", float64(time.Since(start).Microseconds())/1000, "remote", r.RemoteAddr)
		}()
		h.ServeHTTP(rec, r)
	})
}

// Server timeouts: headers must arrive within ReadHeaderTimeout (slowloris), a whole
// request within ReadTimeout; idle keep-alive connections close after IdleTimeout.
// Writes have no overall deadline (a large download may take long); the download
// handler sets its own.
const (
	ReadHeaderTimeout = 5 * time.Second
	ReadTimeout       = 30 * time.Second
	IdleTimeout       = 60 * time.Second
	// ShutdownTimeout: on stop, requests in flight get this long to finish.
	ShutdownTimeout = 10 * time.Second
)

// Serve serves h on ln until ctx is cancelled, then stops gracefully: no new
// connections, requests in flight get ShutdownTimeout. It returns nil after a
// graceful stop.
func Serve(ctx context.Context, ln net.Listener, h http.Handler, log *slog.Logger) error {
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: ReadHeaderTimeout,
		ReadTimeout:       ReadTimeout,
		IdleTimeout:       IdleTimeout,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	select {
	case err := <-done:
		return fmt.Errorf("web: serve: %w", err)
	case <-ctx.Done():
	}
	log.Info("stopping: finishing requests in flight", "timeout", ShutdownTimeout)
	sctx, cancel := context.WithTimeout(context.Background(), ShutdownTimeout)
	defer cancel()
	err := srv.Shutdown(sctx)
	if e := <-done; !errors.Is(e, http.ErrServerClosed) && err == nil {
		err = e
	}
	if err != nil {
		return fmt.Errorf("web: stop: %w", err)
	}
	return nil
}
