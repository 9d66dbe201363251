package weekly

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/url"
	"strings"
	"time"

	"github.com/linkagogo/linkbackup/backup"
	"github.com/linkagogo/linkbackup/mailer/web"
)

// Linker stores a zip too large to attach and returns a URL to download it.
type Linker interface {
	Link(ctx context.Context, key string, r io.Reader, size int64) (url string, expires time.Time, err error)
}

// DownloadKey is the store key of a member's large zip for period:
// exports/<period>/member-<id>-<32 hex>.zip. The hex part is an HMAC of member and
// period, so keys cannot be guessed from member ids (file stores published by a web
// server rely on that) and a retry overwrites the same object.
func DownloadKey(secret []byte, memberID int64, period string) string {
	m := hmac.New(sha256.New, secret)
	fmt.Fprintf(m, "linkbackup/download/v1:%d:%s", memberID, period)
	return fmt.Sprintf("exports/%s/member-%d-%s.zip", period, memberID, hex.EncodeToString(m.Sum(nil)[:16]))
}

// NewLinker returns a Linker over store, which must implement backup.Linker (seen
// through wrappers by backup.AsLinker): the object is put, then the store's link for
// it, valid for expiry, is returned:
//   - an s3 store: a pre-signed GET URL (SigV4 allows at most 7 days);
//   - a file store: the URL is publicBase + key when publicBase is set (a web server
//     publishing the store directory), otherwise a file:// URL, which only works on this
//     machine (demos).
//
// Objects under exports/ are not removed here: expire them with a bucket lifecycle
// rule (S3) or a find -mtime job.
func NewLinker(store backup.Store, expiry time.Duration, publicBase string) (Linker, error) {
	if expiry <= 0 {
		expiry = 7 * 24 * time.Hour
	}
	if store == nil {
		return nil, fmt.Errorf("weekly: no store for large attachments")
	}
	bl, ok := backup.AsLinker(store)
	if !ok {
		return nil, fmt.Errorf("weekly: store %s cannot make download links", store)
	}
	if max := bl.MaxLinkTTL(); max > 0 && expiry > max {
		return nil, fmt.Errorf("weekly: link expiry %s: %s links last at most %s", expiry, store, max)
	}
	if publicBase != "" {
		if u, err := url.Parse(publicBase); err != nil || u.Scheme != "https" && u.Scheme != "http" {
			return nil, fmt.Errorf("weekly: link base url %q: want http(s)://", publicBase)
		}
	}
	return &storeLinker{st: store, bl: bl, expiry: expiry, base: strings.TrimRight(publicBase, "/")}, nil
}

type storeLinker struct {
	st     backup.Store
	bl     backup.Linker
	expiry time.Duration
	base   string // replaces the store's file:// links when set
	sign   []byte // with base: links are `linkbackup serve` download links signed with it
}

// NewServedLinker is NewLinker for a store that `linkbackup serve` publishes at base:
// a file store's links are base/download/<key below exports/>?e=<expiry>&s=<HMAC
// with signKey> (web.SignDownload), which serve checks before it streams the zip.
func NewServedLinker(store backup.Store, expiry time.Duration, base string, signKey []byte) (Linker, error) {
	if base == "" || len(signKey) < 16 {
		return nil, fmt.Errorf("weekly: served links need a base URL and a key")
	}
	l, err := NewLinker(store, expiry, base)
	if err != nil {
		return nil, err
	}
	sl := l.(*storeLinker)
	sl.sign = signKey
	return sl, nil
}

func (l *storeLinker) Link(ctx context.Context, key string, r io.Reader, size int64) (string, time.Time, error) {
	if _, err := l.st.Put(backup.WithSizeHint(ctx, size), key, r); err != nil {
		return "", time.Time{}, err
	}
	u, err := l.bl.Link(ctx, key, l.expiry)
	if err != nil {
		return "", time.Time{}, err
	}
	expires := time.Now().Add(l.expiry)
	switch {
	case l.base != "" && l.sign != nil && strings.HasPrefix(u, "file:"):
		u = web.SignDownload(l.sign, l.base, strings.TrimPrefix(key, "exports/"), expires)
	case l.base != "" && strings.HasPrefix(u, "file:"):
		u = l.base + "/" + key
	}
	return u, expires, nil
}
