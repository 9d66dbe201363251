package weekly

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/linkagogo/linkbackup/backup/s3"
	"github.com/linkagogo/linkbackup/internal/testenv"
)

// TestS3LinkerPresigns: the zip goes to the S3 server and the pre-signed URL downloads
// it without credentials; a tampered signature is refused.
func TestS3LinkerPresigns(t *testing.T) {
	t.Parallel()
	srv := testenv.S3Server(t)
	bucket := testenv.NewBucket(t, srv)
	st, err := s3.New(context.Background(), s3.Config{Bucket: bucket, Prefix: "lb/", Endpoint: srv.Endpoint, Region: "us-east-1",
		PathStyle: true, AccessKey: srv.AccessKey, SecretKey: srv.SecretKey})
	if err != nil {
		t.Fatal(err)
	}
	l, err := NewLinker(st, time.Hour, "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := NewLinker(st, 8*24*time.Hour, ""); err == nil {
		t.Fatal("an 8-day S3 link accepted (SigV4 allows 7)")
	}
	data := bytes.Repeat([]byte("zip!"), 300_000)
	key := DownloadKey([]byte("secret-0123456789abcdef"), 42, "2026-W48")
	if !strings.HasPrefix(key, "exports/2026-W48/member-42-") {
		t.Fatalf("key %s", key)
	}
	url, expires, err := l.Link(context.Background(), key, bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	if time.Until(expires) < 59*time.Minute || !strings.Contains(url, "X-Amz-Signature=") {
		t.Fatalf("url %s expires %s", url, expires)
	}
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !bytes.Equal(got, data) {
		t.Fatalf("download: %d, %d bytes", resp.StatusCode, len(got))
	}
	bad, err := http.Get(strings.Replace(url, "X-Amz-Signature=", "X-Amz-Signature=00", 1))
	if err != nil {
		t.Fatal(err)
	}
	bad.Body.Close()
	if bad.StatusCode == 200 {
		t.Fatal("a tampered signature downloads")
	}
}
