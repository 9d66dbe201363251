package web

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"time"
)

// DownloadPath is where serve answers download links: /download/<key below exports/>.
const DownloadPath = "/download/"

// downloadKey is the only shape of key a link may name (mailer/weekly.DownloadKey
// below exports/): no other object, no listing, no traversal.
var downloadKey = regexp.MustCompile(`^\d{4}-W\d{2}/member-\d{1,19}-[0-9a-f]{32}\.zip$`)

// SignDownload returns the signed, expiring link to the store object
// "exports/"+rel: base + /download/rel?e=<unix expiry>&s=<HMAC>. key is the download
// key (mailer.DeriveKey(secret, "download")), never the unsubscribe key.
func SignDownload(key []byte, base, rel string, expires time.Time) string {
	e := strconv.FormatInt(expires.Unix(), 10)
	return base + DownloadPath + rel + "?" + url.Values{"e": {e}, "s": {downloadMAC(key, rel, e)}}.Encode()
}

func downloadMAC(key []byte, rel, e string) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte("linkbackup/download-link/v1\n" + rel + "\n" + e))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil)[:16])
}

// Downloads serves GET /download/{rel...}: a link made by SignDownload, unexpired,
// streams the zip from Open("exports/"+rel). Anything else is 404 (bad signature,
// expired, unknown shape or missing object alike), so links cannot be probed.
type Downloads struct {
	Key  []byte
	Open func(ctx context.Context, key string) (io.ReadCloser, error)
	Now  func() time.Time
	Log  *slog.Logger
	// WriteTimeout bounds one download. Default 30m.
	WriteTimeout time.Duration
}

func (d *Downloads) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rel := r.PathValue("rel")
	e := r.URL.Query().Get("e")
	exp, err := strconv.ParseInt(e, 10, 64)
	now := time.Now
	if d.Now != nil {
		now = d.Now
	}
	if err != nil || !downloadKey.MatchString(rel) || now().Unix() >= exp ||
		!hmac.Equal([]byte(r.URL.Query().Get("s")), []byte(downloadMAC(d.Key, rel, e))) {
		http.NotFound(w, r)
		return
	}
	rc, err := d.Open(r.Context(), "exports/"+rel)
	if errors.Is(err, fs.ErrNotExist) {
		http.NotFound(w, r)
		return
	}
	if err != nil {
		if d.Log != nil {
			d.Log.Error("download: open", "err", err)
		}
		http.Error(w, "store unavailable", http.StatusServiceUnavailable)
		return
	}
	defer rc.Close()
	timeout := d.WriteTimeout
	if timeout <= 0 {
		timeout = 30 * time.Minute
	}
	http.NewResponseController(w).SetWriteDeadline(time.Now().Add(timeout)) //nolint:errcheck
	w.Header().Set("Content-Type", "application/zip")
	w.Header().Set("Content-Disposition", `attachment; filename="bookmarks.zip"`)
	w.Header().Set("Cache-Control", "private, no-store")
	io.Copy(w, rc) //nolint:errcheck // the client went away
}
