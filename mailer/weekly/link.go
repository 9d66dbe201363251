package weekly

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/url"
	"path/filepath"
	"strings"
	"time"

	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/linkagogo/linkbackup/backup"
	"github.com/linkagogo/linkbackup/backup/file"
	"github.com/linkagogo/linkbackup/backup/s3"
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

// NewLinker returns a Linker over store:
//   - an s3 store: the object is put, then a pre-signed GET URL valid for expiry
//     (SigV4 allows at most 7 days) is returned;
//   - a file store: the file is written into the store directory; the URL is
//     publicBase + key when publicBase is set (a web server publishing the store
//     directory), otherwise a file:// URL, which only works on this machine (demos).
//
// Objects under exports/ are not removed here: expire them with a bucket lifecycle
// rule (S3) or a find -mtime job.
func NewLinker(store backup.Store, expiry time.Duration, publicBase string) (Linker, error) {
	if expiry <= 0 {
		expiry = 7 * 24 * time.Hour
	}
	switch st := store.(type) {
	case *s3.Store:
		if expiry > 7*24*time.Hour {
			return nil, fmt.Errorf("weekly: link expiry %s: S3 pre-signed URLs last at most 7 days", expiry)
		}
		return &s3Linker{st: st, expiry: expiry, presign: awss3.NewPresignClient(st.Client())}, nil
	case *file.Store:
		if publicBase != "" {
			if u, err := url.Parse(publicBase); err != nil || u.Scheme != "https" && u.Scheme != "http" {
				return nil, fmt.Errorf("weekly: link base url %q: want http(s)://", publicBase)
			}
		}
		return &fileLinker{st: st, expiry: expiry, base: strings.TrimRight(publicBase, "/")}, nil
	case nil:
		return nil, fmt.Errorf("weekly: no store for large attachments")
	}
	return nil, fmt.Errorf("weekly: store %s cannot make download links", store)
}

type s3Linker struct {
	st      *s3.Store
	expiry  time.Duration
	presign *awss3.PresignClient
}

func (l *s3Linker) Link(ctx context.Context, key string, r io.Reader, size int64) (string, time.Time, error) {
	if _, err := l.st.Put(backup.WithSizeHint(ctx, size), key, r); err != nil {
		return "", time.Time{}, err
	}
	bucket, obj := l.st.Bucket(), l.st.ObjectKey(key)
	disp := "attachment; filename=\"" + filepath.Base(key) + "\""
	req, err := l.presign.PresignGetObject(ctx, &awss3.GetObjectInput{Bucket: &bucket, Key: &obj, ResponseContentDisposition: &disp},
		awss3.WithPresignExpires(l.expiry))
	if err != nil {
		return "", time.Time{}, fmt.Errorf("presign: %w", err)
	}
	return req.URL, time.Now().Add(l.expiry), nil
}

type fileLinker struct {
	st     *file.Store
	expiry time.Duration
	base   string
}

func (l *fileLinker) Link(ctx context.Context, key string, r io.Reader, _ int64) (string, time.Time, error) {
	if _, err := l.st.Put(ctx, key, r); err != nil {
		return "", time.Time{}, err
	}
	if l.base != "" {
		return l.base + "/" + key, time.Now().Add(l.expiry), nil
	}
	u := url.URL{Scheme: "file", Path: filepath.ToSlash(filepath.Join(l.st.Dir(), filepath.FromSlash(key)))}
	return u.String(), time.Now().Add(l.expiry), nil
}
