package s3_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	s3api "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"

	"github.com/linkagogo/linkbackup/backup"
	"github.com/linkagogo/linkbackup/backup/s3"
	"github.com/linkagogo/linkbackup/backup/storetest"
	"github.com/linkagogo/linkbackup/internal/testenv"
)

// fakeS3 starts an in-process gofakes3 server.
func fakeS3(t *testing.T) testenv.S3 {
	t.Helper()
	h := gofakes3.New(s3mem.New()).Server()
	// gofakes3 stores request headers X-Amz-* as object metadata and merges the previous
	// object's metadata on overwrite, so a stale x-amz-checksum-crc32 would be served for
	// an object overwritten by a multipart upload. Real servers do not; drop them.
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for k := range r.Header {
			if strings.HasPrefix(k, "X-Amz-Checksum-") {
				r.Header.Del(k)
			}
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(ts.Close)
	return testenv.S3{Endpoint: ts.URL, AccessKey: "fake-key", SecretKey: "fake-secret-do-not-log"}
}

func config(srv testenv.S3, bucket string) s3.Config {
	return s3.Config{
		Bucket: bucket, Endpoint: srv.Endpoint, Region: "us-east-1", PathStyle: true,
		AccessKey: srv.AccessKey, SecretKey: srv.SecretKey,
	}
}

func newStore(t *testing.T, cfg s3.Config) *s3.Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, err := s3.New(ctx, cfg)
	if err != nil {
		t.Fatalf("s3.New(%s): %v", cfg, err)
	}
	return st
}

// conformance runs the suite on srv, each store in a new bucket under a prefix, beside
// decoy objects outside the prefix that the store must never list.
func conformance(t *testing.T, srv testenv.S3, tweak func(*s3.Config)) {
	storetest.RunOptions(t, storetest.Options{ManyKeys: 1100}, func(t *testing.T) backup.Store {
		bucket := testenv.NewBucket(t, srv)
		c := srv.Client()
		for _, k := range []string{"pre/fi", "pre/fix-other/x", "pre/fixed", "zzz", "a"} {
			if _, err := c.PutObject(context.Background(), &s3api.PutObjectInput{
				Bucket: &bucket, Key: aws.String(k), Body: strings.NewReader("decoy"),
			}); err != nil {
				t.Fatalf("put decoy %s: %v", k, err)
			}
		}
		cfg := config(srv, bucket)
		cfg.Prefix = "/pre/fix/"
		if tweak != nil {
			tweak(&cfg)
		}
		return newStore(t, cfg)
	})
}

func TestConformanceGoFakeS3(t *testing.T) {
	conformance(t, fakeS3(t), nil)
}

// TestConformanceVersityGW runs the suite against the real versitygw of `make test`.
func TestConformanceVersityGW(t *testing.T) {
	conformance(t, testenv.S3Server(t), nil)
}

// TestConformanceVersityGWChecksumWhenRequired: the same with checksums only when required
// (the setting for R2 and older MinIO).
func TestConformanceVersityGWChecksumWhenRequired(t *testing.T) {
	conformance(t, testenv.S3Server(t), func(c *s3.Config) { c.ChecksumWhenRequired = true })
}

func TestPartSize(t *testing.T) {
	const MiB = 1 << 20
	for _, c := range []struct {
		configured, hint, want int64
	}{
		{0, 0, 5 * MiB},
		{0, 1 * MiB, 5 * MiB},
		{0, 40_000 * MiB, 8 * MiB},       // 2×hint/10,000 = 8 MiB exactly
		{0, 40_000*MiB + 1, 9 * MiB},     // one byte more: next MiB
		{0, 500 << 30, 103 * MiB},        // 500 GiB: 102.4 MiB → 103
		{16 * MiB, 0, 16 * MiB},          // configured is a minimum
		{16 * MiB, 500 << 30, 103 * MiB}, // ... that grows with the hint
		{0, 100 << 40, 5 << 30},          // capped at 5 GiB
		{5 * MiB, 1, 5 * MiB},
	} {
		got := s3.PartSize(c.configured, c.hint)
		if got != c.want {
			t.Fatalf("PartSize(%d, %d) = %d, want %d", c.configured, c.hint, got, c.want)
		}
		if c.hint > 0 && got < s3.MaxPartSize && got*s3.MaxParts < 2*c.hint {
			t.Fatalf("PartSize(%d, %d) = %d: 10,000 parts hold %d < 2×hint", c.configured, c.hint, got, got*s3.MaxParts)
		}
	}
}

func TestParseURL(t *testing.T) {
	c, err := s3.ParseURL("s3://bucket/some/prefix/?endpoint=http://127.0.0.1:7070&path_style=true&region=us-east-1&checksum=when_required&part_size_mb=16&concurrency=3&max_attempts=4&create_bucket=true")
	if err != nil {
		t.Fatal(err)
	}
	want := s3.Config{Bucket: "bucket", Prefix: "some/prefix", Endpoint: "http://127.0.0.1:7070", Region: "us-east-1",
		PathStyle: true, ChecksumWhenRequired: true, PartSize: 16 << 20, Concurrency: 3, MaxAttempts: 4, CreateBucket: true}
	if c != want {
		t.Fatalf("ParseURL = %#v\nwant %#v", c, want)
	}
	if c, err := s3.ParseURL("s3://b"); err != nil || c != (s3.Config{Bucket: "b"}) {
		t.Fatalf("ParseURL(s3://b) = %#v, %v", c, err)
	}
	for raw, wantErr := range map[string]string{
		"s3://b?endpont=http://x":        `unknown parameter "endpont"`,
		"s3://b?endpoint=127.0.0.1:7070": "want http://host",
		"s3://b?path_style=yes":          "path_style",
		"s3://b?checksum=crc32":          "when_required",
		"s3://b?part_size_mb=4":          "from 5 to 5120",
		"s3://b?concurrency=0":           "concurrency",
		"s3://b?max_attempts=x":          "max_attempts",
		"s3://b?region=a&region=b":       "given 2 times",
		"s3:///prefix":                   "want s3://bucket",
		"s3:bucket":                      "want s3://bucket",
		"file:///tmp":                    "scheme must be s3",
		"s3://AKIA:topsecret@bucket/p":   "credentials do not belong",
		"s3://b#frag":                    "fragment",
		"s3://b?create_bucket=maybe&x=1": `unknown parameter "x"`,
	} {
		_, err := s3.ParseURL(raw)
		if err == nil || !strings.Contains(err.Error(), wantErr) {
			t.Fatalf("ParseURL(%q) = %v, want an error containing %q", raw, err, wantErr)
		}
		if strings.Contains(err.Error(), "topsecret") {
			t.Fatalf("ParseURL error leaks the secret: %v", err)
		}
	}
}

func TestStringAndLogValueHideSecrets(t *testing.T) {
	srv := fakeS3(t)
	cfg := config(srv, testenv.NewBucket(t, srv))
	cfg.Prefix = "p/"
	st := newStore(t, cfg)
	if want := "s3://" + cfg.Bucket + "/p (" + srv.Endpoint + ")"; st.String() != want {
		t.Fatalf("String() = %q, want %q", st.String(), want)
	}
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("cfg", "s3", cfg)
	if strings.Contains(buf.String()+cfg.String(), srv.SecretKey) || !strings.Contains(buf.String(), "**redacted**") {
		t.Fatalf("config leaks or does not redact its secret: %s / %s", buf.String(), cfg.String())
	}
}

// proxy is a counting reverse proxy in front of an S3 server; inject may answer a request
// itself (return true) to simulate failures.
type proxy struct {
	URL      string
	requests atomic.Int64
	mu       sync.Mutex
	seen     []*http.Request
	inject   func(w http.ResponseWriter, r *http.Request, n int64) bool
}

func newProxy(t *testing.T, target string, inject func(w http.ResponseWriter, r *http.Request, n int64) bool) *proxy {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{inject: inject}
	rp := httputil.NewSingleHostReverseProxy(u) // keeps the signed Host header
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := p.requests.Add(1)
		p.mu.Lock()
		p.seen = append(p.seen, r.Clone(context.Background()))
		p.mu.Unlock()
		if p.inject != nil && p.inject(w, r, n) {
			return
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(ts.Close)
	p.URL = ts.URL
	return p
}

func (p *proxy) requestsMatching(f func(r *http.Request) bool) []*http.Request {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []*http.Request
	for _, r := range p.seen {
		if f(r) {
			out = append(out, r)
		}
	}
	return out
}

// wrongCredentials checks that a bad secret fails New at once, with ErrAccessDenied, one
// request (no retries) and no secret in the message.
func wrongCredentials(t *testing.T, srv testenv.S3, bucket string) {
	p := newProxy(t, srv.Endpoint, nil)
	cfg := config(srv, bucket)
	cfg.Endpoint = p.URL
	cfg.SecretKey = "wrong-secret-must-not-appear"
	cfg.MaxAttempts = 5
	start := time.Now()
	_, err := s3.New(context.Background(), cfg)
	elapsed := time.Since(start)
	if err == nil {
		t.Fatal("New with a wrong secret succeeded")
	}
	if !errors.Is(err, s3.ErrAccessDenied) || !strings.Contains(err.Error(), "check the access key") {
		t.Fatalf("New with a wrong secret: %v; want ErrAccessDenied with a hint", err)
	}
	if strings.Contains(err.Error(), cfg.SecretKey) {
		t.Fatalf("error leaks the secret: %v", err)
	}
	if n := p.requests.Load(); n != 1 {
		t.Fatalf("New with a wrong secret sent %d requests; want 1 (auth errors are not retried)", n)
	}
	if elapsed > 2*time.Second {
		t.Fatalf("New with a wrong secret took %v; want a fast failure", elapsed)
	}
	t.Logf("wrong credentials: %d request, %v: %v", p.requests.Load(), elapsed.Round(time.Millisecond), err)
}

func TestWrongCredentialsVersityGW(t *testing.T) {
	srv := testenv.S3Server(t)
	wrongCredentials(t, srv, testenv.NewBucket(t, srv))
}

// TestWrongCredentialsFake answers 403 InvalidAccessKeyId like AWS does, without a real server.
func TestWrongCredentialsFake(t *testing.T) {
	srv := fakeS3(t)
	bucket := testenv.NewBucket(t, srv)
	srv.Endpoint = newProxy(t, srv.Endpoint, func(w http.ResponseWriter, r *http.Request, _ int64) bool {
		w.Header().Set("Content-Type", "application/xml")
		w.WriteHeader(http.StatusForbidden)
		io.WriteString(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>InvalidAccessKeyId</Code><Message>The AWS Access Key Id you provided does not exist in our records.</Message></Error>`)
		return true
	}).URL
	wrongCredentials(t, srv, bucket)
}

// TestRetriesServerErrors: 503 SlowDown and 500 are retried up to MaxAttempts.
func TestRetriesServerErrors(t *testing.T) {
	srv := fakeS3(t)
	bucket := testenv.NewBucket(t, srv)
	var failing atomic.Int64 // requests still to fail
	p := newProxy(t, srv.Endpoint, func(w http.ResponseWriter, r *http.Request, _ int64) bool {
		if failing.Add(-1) < 0 {
			return false
		}
		w.Header().Set("Content-Type", "application/xml")
		w.WriteHeader(http.StatusServiceUnavailable)
		io.WriteString(w, `<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>`)
		return true
	})
	cfg := config(srv, bucket)
	cfg.Endpoint = p.URL
	cfg.MaxAttempts = 3
	st := newStore(t, cfg)
	ctx := context.Background()

	failing.Store(2) // two 503s, then success on the third attempt
	before := p.requests.Load()
	if _, err := st.Put(ctx, "retried", strings.NewReader("data")); err != nil {
		t.Fatalf("Put after two 503s with MaxAttempts 3: %v", err)
	}
	if n := p.requests.Load() - before; n != 4 { // 3 PutObject attempts + HeadObject
		t.Fatalf("Put sent %d requests; want 4 (3 attempts + check)", n)
	}
	failing.Store(3)
	before = p.requests.Load()
	if _, err := st.Stat(ctx, "retried"); err == nil || !strings.Contains(err.Error(), "503") {
		t.Fatalf("Stat after three 503s with MaxAttempts 3: %v; want the 503", err)
	}
	if n := p.requests.Load() - before; n != 3 {
		t.Fatalf("Stat sent %d requests; want 3", n)
	}
}

func TestMissingBucket(t *testing.T) {
	for name, srv := range map[string]func(t *testing.T) testenv.S3{
		"gofakes3":  fakeS3,
		"versitygw": func(t *testing.T) testenv.S3 { return testenv.S3Server(t) },
	} {
		t.Run(name, func(t *testing.T) {
			srv := srv(t)
			bucket := testenv.UniqueName("missing")
			_, err := s3.New(context.Background(), config(srv, bucket))
			if !errors.Is(err, s3.ErrBucketNotFound) {
				t.Fatalf("New on a missing bucket: %v; want ErrBucketNotFound", err)
			}
			for _, want := range []string{bucket, "create it", "create_bucket"} {
				if !strings.Contains(err.Error(), want) {
					t.Fatalf("New on a missing bucket: %q does not mention %q", err, want)
				}
			}
			cfg := config(srv, bucket)
			cfg.CreateBucket = true
			st := newStore(t, cfg)
			if _, err := st.Put(context.Background(), "k", strings.NewReader("v")); err != nil {
				t.Fatalf("Put into the created bucket: %v", err)
			}
		})
	}
}

// TestBucketDeletedLater: a bucket that vanishes after New is reported as such, never as
// a missing object (which would look like "no snapshot yet").
func TestBucketDeletedLater(t *testing.T) {
	srv := fakeS3(t)
	bucket := testenv.NewBucket(t, srv)
	st := newStore(t, config(srv, bucket))
	ctx := context.Background()
	if _, err := srv.Client().DeleteBucket(ctx, &s3api.DeleteBucketInput{Bucket: &bucket}); err != nil {
		t.Fatal(err)
	}
	_, err := st.Open(ctx, "k")
	if !errors.Is(err, s3.ErrBucketNotFound) || errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Open in a deleted bucket: %v; want ErrBucketNotFound, not fs.ErrNotExist", err)
	}
	_, err = st.Stat(ctx, "k")
	if !errors.Is(err, s3.ErrBucketNotFound) || errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Stat in a deleted bucket: %v; want ErrBucketNotFound, not fs.ErrNotExist", err)
	}
	if _, err := st.List(ctx, ""); !errors.Is(err, s3.ErrBucketNotFound) {
		t.Fatalf("List in a deleted bucket: %v; want ErrBucketNotFound", err)
	}
	if _, err := st.Put(ctx, "k", strings.NewReader("v")); !errors.Is(err, s3.ErrBucketNotFound) {
		t.Fatalf("Put in a deleted bucket: %v; want ErrBucketNotFound", err)
	}
}

// TestSizeHintSetsPartSize counts UploadPart requests: 20 MiB in 5 MiB parts without a
// hint, one PutObject when the hint (200 GiB → 41 MiB parts) makes it fit in one part.
func TestSizeHintSetsPartSize(t *testing.T) {
	srv := fakeS3(t)
	bucket := testenv.NewBucket(t, srv)
	p := newProxy(t, srv.Endpoint, nil)
	cfg := config(srv, bucket)
	cfg.Endpoint = p.URL
	st := newStore(t, cfg)
	data := bytes.Repeat([]byte("0123456789abcdef"), 20<<20/16)
	isPart := func(r *http.Request) bool { return r.Method == http.MethodPut && r.URL.Query().Has("partNumber") }
	ctx := context.Background()
	if _, err := st.Put(ctx, "nohint", io.MultiReader(bytes.NewReader(data))); err != nil {
		t.Fatal(err)
	}
	if n := len(p.requestsMatching(isPart)); n != 4 {
		t.Fatalf("20 MiB without a hint: %d parts, want 4 (5 MiB parts)", n)
	}
	if _, err := st.Put(backup.WithSizeHint(ctx, 200<<30), "hint", io.MultiReader(bytes.NewReader(data))); err != nil {
		t.Fatal(err)
	}
	if n := len(p.requestsMatching(isPart)); n != 4 {
		t.Fatalf("20 MiB with a 200 GiB hint: %d more parts, want 0 (41 MiB parts)", n-4)
	}
}

// TestChecksumSetting: CRC32 checksums by default, none with ChecksumWhenRequired.
func TestChecksumSetting(t *testing.T) {
	for _, whenRequired := range []bool{false, true} {
		srv := fakeS3(t)
		bucket := testenv.NewBucket(t, srv)
		p := newProxy(t, srv.Endpoint, nil)
		cfg := config(srv, bucket)
		cfg.Endpoint, cfg.ChecksumWhenRequired = p.URL, whenRequired
		st := newStore(t, cfg)
		if _, err := st.Put(context.Background(), "k", strings.NewReader("checksummed?")); err != nil {
			t.Fatal(err)
		}
		puts := p.requestsMatching(func(r *http.Request) bool { return r.Method == http.MethodPut })
		if len(puts) != 1 {
			t.Fatalf("%d PUT requests, want 1", len(puts))
		}
		h := puts[0].Header
		has := h.Get("X-Amz-Checksum-Crc32") != "" || h.Get("X-Amz-Trailer") != "" || h.Get("X-Amz-Sdk-Checksum-Algorithm") != ""
		if has == whenRequired {
			t.Fatalf("ChecksumWhenRequired=%v: PutObject checksum headers present=%v (%v)", whenRequired, has, h)
		}
	}
}

// TestCredentialFiles: AWS_ACCESS_KEY_ID_FILE / AWS_SECRET_ACCESS_KEY_FILE are read when
// the config holds no keys; the request is signed with that access key.
func TestCredentialFiles(t *testing.T) {
	srv := fakeS3(t)
	bucket := testenv.NewBucket(t, srv)
	p := newProxy(t, srv.Endpoint, nil)
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "ak"), []byte("FILEKEY123\n"), 0o600)
	os.WriteFile(filepath.Join(dir, "sk"), []byte("filesecret\n"), 0o600)
	t.Setenv("AWS_ACCESS_KEY_ID_FILE", filepath.Join(dir, "ak"))
	t.Setenv("AWS_SECRET_ACCESS_KEY_FILE", filepath.Join(dir, "sk"))
	cfg := config(srv, bucket)
	cfg.Endpoint, cfg.AccessKey, cfg.SecretKey = p.URL, "", ""
	newStore(t, cfg)
	signed := p.requestsMatching(func(r *http.Request) bool {
		return strings.Contains(r.Header.Get("Authorization"), "Credential=FILEKEY123/")
	})
	if len(signed) == 0 {
		t.Fatal("no request signed with the access key from AWS_ACCESS_KEY_ID_FILE")
	}
	t.Setenv("AWS_SECRET_ACCESS_KEY_FILE", "")
	if _, err := s3.New(context.Background(), cfg); err == nil || !strings.Contains(err.Error(), "both") {
		t.Fatalf("New with only AWS_ACCESS_KEY_ID_FILE: %v; want an error asking for both", err)
	}
	t.Setenv("AWS_SECRET_ACCESS_KEY_FILE", filepath.Join(dir, "missing"))
	if _, err := s3.New(context.Background(), cfg); err == nil || !strings.Contains(err.Error(), "AWS_SECRET_ACCESS_KEY_FILE") {
		t.Fatalf("New with an unreadable secret file: %v; want an error naming the variable", err)
	}
}

func TestConfigValidate(t *testing.T) {
	for _, c := range []struct {
		cfg  s3.Config
		want string
	}{
		{s3.Config{}, "bucket is required"},
		{s3.Config{Bucket: "a/b"}, "slashes"},
		{s3.Config{Bucket: "b", PartSize: 1 << 20}, "5 MiB"},
		{s3.Config{Bucket: "b", AccessKey: "x"}, "together"},
		{s3.Config{Bucket: "b", Endpoint: "localhost:9000"}, "http://"},
		{s3.Config{Bucket: "b", Concurrency: -1}, "concurrency"},
	} {
		err := c.cfg.Validate()
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Fatalf("Validate(%#v) = %v, want an error containing %q", c.cfg, err, c.want)
		}
	}
}

// killingReader feeds size bytes and calls kill once after at bytes.
type killingReader struct {
	size, at, off int
	kill          func()
}

func (r *killingReader) Read(p []byte) (int, error) {
	if r.off >= r.size {
		return 0, io.EOF
	}
	if r.kill != nil && r.off >= r.at {
		r.kill()
		r.kill = nil
	}
	n := min(len(p), r.size-r.off, 64<<10)
	for i := range n {
		p[i] = byte(r.off + i)
	}
	r.off += n
	return n, nil
}

// TestServerKilledMidUpload kills a private versitygw during a large streamed Put: Put
// must fail, and once the server is back no object exists under the key; the leftover
// multipart upload is then removed by AbortIncompleteUploads.
func TestServerKilledMidUpload(t *testing.T) {
	gw := testenv.StartVersityGW(t)
	bucket := testenv.NewBucket(t, gw.S3)
	cfg := config(gw.S3, bucket)
	cfg.Prefix = "snaps"
	cfg.PartSize = 5 << 20
	cfg.MaxAttempts = 2
	var logs testenv.SyncBuffer
	cfg.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	st := newStore(t, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	r := &killingReader{size: 64 << 20, at: 22 << 20, kill: gw.Kill}
	start := time.Now()
	_, err := st.Put(ctx, "big.dump", r)
	if err == nil {
		t.Fatal("Put succeeded although the server was killed mid-upload")
	}
	t.Logf("Put failed after %v, %d MiB read: %v", time.Since(start).Round(time.Millisecond), r.off>>20, err)
	if !strings.Contains(err.Error(), "s3: put big.dump") {
		t.Fatalf("error lacks context: %v", err)
	}

	if !strings.Contains(logs.String(), "could not abort a failed upload") || !strings.Contains(logs.String(), "upload_id=") {
		t.Fatalf("no warning about the upload left on the server; logs:\n%s", logs.String())
	}

	gw.Restart()
	if _, err := st.Stat(ctx, "big.dump"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Stat after the failed Put: %v; want fs.ErrNotExist", err)
	}
	list, err := st.List(ctx, "")
	if err != nil || len(list) != 0 {
		t.Fatalf("List after the failed Put = %v, %v; want nothing", list, err)
	}
	ups, err := st.Client().ListMultipartUploads(ctx, &s3api.ListMultipartUploadsInput{Bucket: &bucket})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("incomplete uploads left on the server: %d", len(ups.Uploads))
	n, err := st.AbortIncompleteUploads(ctx, 0)
	if err != nil {
		t.Fatalf("AbortIncompleteUploads: %v", err)
	}
	if n != len(ups.Uploads) {
		t.Fatalf("AbortIncompleteUploads aborted %d, want %d", n, len(ups.Uploads))
	}
	ups, err = st.Client().ListMultipartUploads(ctx, &s3api.ListMultipartUploadsInput{Bucket: &bucket})
	if err != nil || len(ups.Uploads) != 0 {
		t.Fatalf("after AbortIncompleteUploads: %d uploads, %v", len(ups.Uploads), err)
	}
	// The store works again.
	want := bytes.Repeat([]byte{7}, 6<<20)
	if _, err := st.Put(ctx, "big.dump", bytes.NewReader(want)); err != nil {
		t.Fatalf("Put after restart: %v", err)
	}
	rc, err := st.Open(ctx, "big.dump")
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	got, err := io.ReadAll(rc)
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("read back after restart: %d bytes, %v", len(got), err)
	}
}

// TestAbortedUploadLeavesNoParts: a Put failing mid-stream aborts its multipart upload
// (nothing to clean up later) on the real server.
func TestAbortedUploadLeavesNoParts(t *testing.T) {
	srv := testenv.S3Server(t)
	bucket := testenv.NewBucket(t, srv)
	cfg := config(srv, bucket)
	cfg.PartSize = 5 << 20
	st := newStore(t, cfg)
	ctx := context.Background()
	errBoom := errors.New("boom")
	r := io.MultiReader(io.LimitReader(&killingReader{size: 1 << 30}, 17<<20), iotestErrReader{errBoom})
	if _, err := st.Put(ctx, "aborted", r); !errors.Is(err, errBoom) {
		t.Fatalf("Put: %v; want the reader's error", err)
	}
	ups, err := st.Client().ListMultipartUploads(ctx, &s3api.ListMultipartUploadsInput{Bucket: &bucket})
	if err != nil {
		t.Fatal(err)
	}
	if len(ups.Uploads) != 0 {
		t.Fatalf("%d multipart uploads left after a failed Put; want 0 (aborted)", len(ups.Uploads))
	}
}

type iotestErrReader struct{ err error }

func (r iotestErrReader) Read([]byte) (int, error) { return 0, r.err }
