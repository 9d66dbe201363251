package main

import (
	"context"
	"errors"
	"log/slog"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"

	"github.com/linkagogo/linkbackup/backup/file"
	"github.com/linkagogo/linkbackup/backup/s3"
	"github.com/linkagogo/linkbackup/internal/testenv"
)

func exitCodeOf(err error) int { return codeOf(context.Background(), err) }

func TestOpenStoreFile(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "snaps")
	st, err := openStore(context.Background(), "file://"+dir, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := st.(*file.Store); !ok || st.String() != "file://"+dir {
		t.Fatalf("openStore(file://%s) = %T %s", dir, st, st)
	}
	if _, err := openStore(context.Background(), "file://localhost"+dir, nil); err != nil {
		t.Fatalf("file://localhost/...: %v", err)
	}
}

func TestOpenStoreS3(t *testing.T) {
	ts := httptest.NewServer(gofakes3.New(s3mem.New()).Server())
	defer ts.Close()
	srv := testenv.S3{Endpoint: ts.URL, AccessKey: "k", SecretKey: "s"}
	bucket := testenv.NewBucket(t, srv)
	t.Setenv("AWS_ACCESS_KEY_ID", "k")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "s")
	t.Setenv("AWS_ACCESS_KEY_ID_FILE", "")
	t.Setenv("AWS_SECRET_ACCESS_KEY_FILE", "")
	ctx := context.Background()
	raw := "s3://" + bucket + "/nightly?endpoint=" + ts.URL + "&path_style=true&region=us-east-1"
	st, err := openStore(ctx, raw, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := st.(*s3.Store); !ok || st.String() != "s3://"+bucket+"/nightly ("+ts.URL+")" {
		t.Fatalf("openStore(%s) = %T %s", raw, st, st)
	}
	if _, err := st.Put(ctx, "k", strings.NewReader("v")); err != nil {
		t.Fatal(err)
	}

	// A missing bucket is a runtime error (exit 1) that names the bucket.
	_, err = openStore(ctx, "s3://nobucket?endpoint="+ts.URL+"&path_style=true", nil)
	if !errors.Is(err, s3.ErrBucketNotFound) || exitCodeOf(err) != exitError || !strings.Contains(err.Error(), `"nobucket"`) {
		t.Fatalf("missing bucket: %v (exit %d); want ErrBucketNotFound, exit 1", err, exitCodeOf(err))
	}
}

func TestOpenStoreUsageErrors(t *testing.T) {
	for raw, want := range map[string]string{
		"ftp://x":                       `store "ftp://x": want file:///abs/dir or s3://bucket/prefix?endpoint=...`,
		"/abs/dir":                      "want file:///abs/dir or s3://",
		"":                              "want file:///abs/dir or s3://",
		"file://relative/dir":           "must be absolute",
		"file:relative":                 "must be absolute",
		"file:///abs?x=1":               "takes no user, query or fragment",
		"s3://b?endpoint=localhost:1":   "want http://host",
		"s3://b?colour=blue":            `unknown parameter "colour"`,
		"s3://AKIA:hunter2@b/p":         "credentials do not belong",
		"%zz":                           "invalid URL escape",
		"s3://AKIA:hunter2@b/p?bogus=1": "credentials do not belong",
	} {
		_, err := openStore(context.Background(), raw, nil)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("openStore(%q) = %v; want an error containing %q", raw, err, want)
		}
		if code := exitCodeOf(err); code != exitUsage {
			t.Fatalf("openStore(%q): exit code %d, want %d (usage)", raw, code, exitUsage)
		}
		if strings.Contains(err.Error(), "hunter2") {
			t.Fatalf("openStore(%q) error leaks the password: %v", raw, err)
		}
	}
}
