// Package s3 implements backup.Store on an S3-compatible object store (AWS S3,
// versitygw, MinIO, R2, B2, ...): s3://bucket/prefix?endpoint=...
//
// Put streams its reader (length unknown) with a multipart upload when it is larger than
// one part (feature/s3/transfermanager). S3 makes an object visible only when its upload
// completes; a failed or cancelled Put aborts the multipart upload, so no object appears.
// If the server is unreachable when the abort is sent, the unfinished upload stays on the
// server (invisible to List and Open, but billed): AbortIncompleteUploads removes such
// leftovers, as does a bucket lifecycle rule (AbortIncompleteMultipartUpload).
//
// Part size (S3 allows at most 10,000 parts, each ≥ 5 MiB but the last): the part size is
// max(Config.PartSize or 5 MiB, ceil(2 × SizeHint / 10,000) rounded up to a MiB), so
// 10,000 parts always hold twice the size the caller expects (backup.WithSizeHint).
// Without a hint 5 MiB parts allow objects up to 48 GiB. Memory per Put is at most
// (Concurrency + 2) × part size: Concurrency+1 pooled part buffers and the first part.
package s3

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"path"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/feature/s3/transfermanager"
	s3api "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/logging"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/linkagogo/linkbackup/backup"
)

const (
	// MinPartSize is the smallest part S3 accepts (but for the last).
	MinPartSize = 5 << 20
	// DefaultPartSize is the part size when neither Config.PartSize nor a size hint asks for more.
	DefaultPartSize = MinPartSize
	// MaxPartSize is the largest part S3 accepts.
	MaxPartSize = 5 << 30
	// MaxParts is the most parts one multipart upload may have.
	MaxParts = 10000
	// DefaultConcurrency is the default number of parts in flight per Put.
	DefaultConcurrency = 1
	// DefaultMaxAttempts is the default number of attempts per request (1 = no retry).
	DefaultMaxAttempts = 5
	// DefaultRegion is used when neither Config.Region nor the AWS environment names one.
	DefaultRegion = "us-east-1"
)

// Sentinel errors.
var (
	// ErrBucketNotFound is wrapped when the bucket does not exist.
	ErrBucketNotFound = errors.New("bucket does not exist")
	// ErrAccessDenied is wrapped when the server refuses the credentials or the request.
	ErrAccessDenied = errors.New("access denied")
)

// Config configures a Store. Zero values select the defaults documented per field.
type Config struct {
	// Bucket holds the snapshots. Required. It must exist unless CreateBucket is set.
	Bucket string
	// Prefix is prepended to every key ("backups" stores key k as "backups/k"); leading
	// and trailing slashes are ignored. Default "" (the bucket root).
	Prefix string
	// Endpoint is the server's base URL, e.g. http://127.0.0.1:7070 for versitygw or
	// https://<account>.r2.cloudflarestorage.com. Default "" (AWS, or $AWS_ENDPOINT_URL).
	Endpoint string
	// Region signs requests. Default: $AWS_REGION / the AWS profile, else "us-east-1"
	// (R2 wants "auto").
	Region string
	// PathStyle addresses buckets as endpoint/bucket instead of bucket.endpoint
	// (MinIO, versitygw and most self-hosted stores). Default false.
	PathStyle bool
	// AccessKey and SecretKey are static credentials. Default "": read
	// $AWS_ACCESS_KEY_ID_FILE and $AWS_SECRET_ACCESS_KEY_FILE if set, else the standard
	// AWS chain (environment, shared profile, SSO, instance role).
	AccessKey string
	SecretKey string
	// ChecksumWhenRequired sends and validates checksums only when an operation requires
	// them, for stores that reject the SDK's default CRC32 checksums (older MinIO, R2...).
	// Default false (checksums on every upload).
	ChecksumWhenRequired bool
	// PartSize is the minimum multipart part size in bytes (≥ 5 MiB); it grows with the
	// size hint so 10,000 parts suffice (see the package doc). Default 0: 5 MiB.
	PartSize int64
	// Concurrency is the number of parts uploaded at once per Put. Default 1: with the
	// part being filled, memory per Put stays ~3 × part size; parallelism comes from
	// the backup running several Puts at once.
	Concurrency int
	// MaxAttempts is the number of attempts per request; throttling, 5xx and network
	// errors are retried with exponential backoff, authentication and other 4xx errors
	// are not. Default 5.
	MaxAttempts int
	// CreateBucket creates the bucket in New when it is missing. Default false: New
	// fails with ErrBucketNotFound.
	CreateBucket bool
	// Logger receives retries and upload cleanup warnings. Default: discard.
	Logger *slog.Logger
	// HTTPClient overrides the SDK's HTTP client (tests). Default nil: the SDK's.
	HTTPClient *http.Client
}

// String describes the config without secrets.
func (c Config) String() string {
	s := "s3://" + c.Bucket + "/" + strings.Trim(c.Prefix, "/")
	if c.Endpoint != "" {
		s += " (" + c.Endpoint + ")"
	}
	return s
}

// LogValue logs the config with the secret key redacted.
func (c Config) LogValue() slog.Value {
	secret := ""
	if c.SecretKey != "" {
		secret = "**redacted**"
	}
	return slog.GroupValue(
		slog.String("bucket", c.Bucket), slog.String("prefix", c.Prefix),
		slog.String("endpoint", c.Endpoint), slog.String("region", c.Region),
		slog.Bool("path_style", c.PathStyle), slog.String("access_key", c.AccessKey),
		slog.String("secret_key", secret), slog.Int64("part_size", c.PartSize),
		slog.Int("concurrency", c.Concurrency), slog.Int("max_attempts", c.MaxAttempts))
}

// Validate checks the fields New relies on.
func (c Config) Validate() error {
	var errs []error
	if c.Bucket == "" {
		errs = append(errs, errors.New("bucket is required"))
	} else if strings.ContainsAny(c.Bucket, "/ \t\r\n") {
		errs = append(errs, fmt.Errorf("bucket %q: must not contain slashes or spaces", c.Bucket))
	}
	if c.PartSize != 0 && (c.PartSize < MinPartSize || c.PartSize > MaxPartSize) {
		errs = append(errs, fmt.Errorf("part size %d: want 0 (auto) or between 5 MiB and 5 GiB", c.PartSize))
	}
	if c.Concurrency < 0 {
		errs = append(errs, fmt.Errorf("concurrency %d: want ≥ 1 (0 = default %d)", c.Concurrency, DefaultConcurrency))
	}
	if c.MaxAttempts < 0 {
		errs = append(errs, fmt.Errorf("max attempts %d: want ≥ 1 (0 = default %d)", c.MaxAttempts, DefaultMaxAttempts))
	}
	if (c.AccessKey == "") != (c.SecretKey == "") {
		errs = append(errs, errors.New("access key and secret key must be set together"))
	}
	if c.Endpoint != "" && !strings.HasPrefix(c.Endpoint, "http://") && !strings.HasPrefix(c.Endpoint, "https://") {
		errs = append(errs, fmt.Errorf("endpoint %q: want http://host[:port] or https://host[:port]", c.Endpoint))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("s3: %w", err)
	}
	return nil
}

// Store is a backup.Store in an S3 bucket.
type Store struct {
	cfg    Config
	prefix string // "" or "dir/"
	client *s3api.Client
	tm     *transfermanager.Client
	log    *slog.Logger
}

var _ backup.Store = (*Store)(nil)

// New connects to the bucket described by cfg and checks that it exists (creating it if
// cfg.CreateBucket) and that the credentials are accepted.
func New(ctx context.Context, cfg Config) (*Store, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Concurrency == 0 {
		cfg.Concurrency = DefaultConcurrency
	}
	if cfg.MaxAttempts == 0 {
		cfg.MaxAttempts = DefaultMaxAttempts
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Store{cfg: cfg, log: log}
	if p := strings.Trim(cfg.Prefix, "/"); p != "" {
		s.prefix = p + "/"
	}

	opts := []func(*config.LoadOptions) error{
		config.WithRetryer(func() aws.Retryer {
			return retry.NewStandard(func(o *retry.StandardOptions) { o.MaxAttempts = cfg.MaxAttempts })
		}),
		config.WithLogger(logging.LoggerFunc(func(c logging.Classification, format string, v ...any) {
			lvl := slog.LevelDebug
			if c == logging.Warn {
				lvl = slog.LevelWarn
			}
			log.Log(context.Background(), lvl, "s3: "+fmt.Sprintf(format, v...), "store", s.String())
		})),
		config.WithClientLogMode(aws.LogRetries),
	}
	if cfg.Region != "" {
		opts = append(opts, config.WithRegion(cfg.Region))
	}
	if cfg.HTTPClient != nil {
		opts = append(opts, config.WithHTTPClient(cfg.HTTPClient))
	}
	if cfg.ChecksumWhenRequired {
		opts = append(opts,
			config.WithRequestChecksumCalculation(aws.RequestChecksumCalculationWhenRequired),
			config.WithResponseChecksumValidation(aws.ResponseChecksumValidationWhenRequired))
	}
	ak, sk := cfg.AccessKey, cfg.SecretKey
	if ak == "" {
		var err error
		if ak, sk, err = credentialsFromFiles(); err != nil {
			return nil, err
		}
	}
	if ak != "" {
		opts = append(opts, config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider(ak, sk, "")))
	}
	awsCfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("s3: load AWS configuration: %w", err)
	}
	if awsCfg.Region == "" {
		awsCfg.Region = DefaultRegion
	}
	s.client = s3api.NewFromConfig(awsCfg, func(o *s3api.Options) {
		if cfg.Endpoint != "" {
			o.BaseEndpoint = aws.String(cfg.Endpoint)
		}
		o.UsePathStyle = cfg.PathStyle
	})
	s.tm = transfermanager.New(s.client, func(o *transfermanager.Options) {
		o.Concurrency = cfg.Concurrency
		// Abort a failed upload with a fresh context even when ctx was cancelled.
		o.FailTimeout = 30 * time.Second
		if cfg.ChecksumWhenRequired {
			o.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenRequired
		}
	})
	if err := s.checkBucket(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

// credentialsFromFiles reads $AWS_ACCESS_KEY_ID_FILE and $AWS_SECRET_ACCESS_KEY_FILE.
func credentialsFromFiles() (ak, sk string, err error) {
	akFile, skFile := os.Getenv("AWS_ACCESS_KEY_ID_FILE"), os.Getenv("AWS_SECRET_ACCESS_KEY_FILE")
	if akFile == "" && skFile == "" {
		return "", "", nil
	}
	if akFile == "" || skFile == "" {
		return "", "", errors.New("s3: set both AWS_ACCESS_KEY_ID_FILE and AWS_SECRET_ACCESS_KEY_FILE, or neither")
	}
	read := func(env, path string) (string, error) {
		b, err := os.ReadFile(path)
		if err != nil {
			return "", fmt.Errorf("s3: read %s: %w", env, err)
		}
		v := strings.TrimSpace(string(b))
		if v == "" {
			return "", fmt.Errorf("s3: %s (%s) is empty", env, path)
		}
		return v, nil
	}
	if ak, err = read("AWS_ACCESS_KEY_ID_FILE", akFile); err != nil {
		return "", "", err
	}
	if sk, err = read("AWS_SECRET_ACCESS_KEY_FILE", skFile); err != nil {
		return "", "", err
	}
	return ak, sk, nil
}

func (s *Store) checkBucket(ctx context.Context) error {
	_, err := s.client.HeadBucket(ctx, &s3api.HeadBucketInput{Bucket: &s.cfg.Bucket})
	if err == nil {
		return nil
	}
	if isBucketMissing(err) || httpStatus(err) == http.StatusNotFound {
		if !s.cfg.CreateBucket {
			return s.bucketMissing(err)
		}
		_, cerr := s.client.CreateBucket(ctx, &s3api.CreateBucketInput{Bucket: &s.cfg.Bucket})
		if cerr != nil {
			return fmt.Errorf("s3: create bucket %q at %s: %w", s.cfg.Bucket, s.endpoint(), s.classify(cerr))
		}
		s.log.Info("s3: created bucket", "bucket", s.cfg.Bucket, "store", s.String())
		return nil
	}
	return fmt.Errorf("s3: check bucket %q at %s: %w", s.cfg.Bucket, s.endpoint(), s.classify(err))
}

func (s *Store) bucketMissing(err error) error {
	return fmt.Errorf("s3: bucket %q at %s: %w: create it first (e.g. `aws s3 mb s3://%s`) or set create_bucket=true (%v)",
		s.cfg.Bucket, s.endpoint(), ErrBucketNotFound, s.cfg.Bucket, err)
}

func (s *Store) endpoint() string {
	if s.cfg.Endpoint != "" {
		return s.cfg.Endpoint
	}
	return "AWS"
}

// classify adds ErrAccessDenied (with a hint) or ErrBucketNotFound to err.
func (s *Store) classify(err error) error {
	if isBucketMissing(err) {
		return s.bucketMissing(err)
	}
	if st := httpStatus(err); st == http.StatusForbidden || st == http.StatusUnauthorized {
		return fmt.Errorf("%w (check the access key and secret: AWS_ACCESS_KEY_ID[_FILE], AWS_SECRET_ACCESS_KEY[_FILE] or the AWS profile, and the bucket policy): %w", ErrAccessDenied, err)
	}
	return err
}

func apiCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

func httpStatus(err error) int {
	var re *smithyhttp.ResponseError
	if errors.As(err, &re) {
		return re.HTTPStatusCode()
	}
	return 0
}

func isBucketMissing(err error) bool {
	var nb *types.NoSuchBucket
	return errors.As(err, &nb) || apiCode(err) == "NoSuchBucket"
}

// isKeyMissing reports a 404 for an object (HEAD answers 404 without a code).
func isKeyMissing(err error) bool {
	if isBucketMissing(err) {
		return false
	}
	var nk *types.NoSuchKey
	var nf *types.NotFound
	return errors.As(err, &nk) || errors.As(err, &nf) || apiCode(err) == "NoSuchKey" ||
		apiCode(err) == "NotFound" || httpStatus(err) == http.StatusNotFound
}

// String returns "s3://bucket/prefix (endpoint)".
func (s *Store) String() string { return s.cfg.String() }

// Client returns the underlying S3 client (tests, administration).
func (s *Store) Client() *s3api.Client { return s.client }

// objectKey returns the full S3 key of a store key.
func (s *Store) objectKey(key string) string { return s.prefix + key }

var _ backup.Linker = (*Store)(nil)

// MaxPresignTTL is the longest lifetime of a SigV4 pre-signed URL.
const MaxPresignTTL = 7 * 24 * time.Hour

// MaxLinkTTL returns MaxPresignTTL: SigV4 pre-signed URLs last at most 7 days.
func (s *Store) MaxLinkTTL() time.Duration { return MaxPresignTTL }

// Link returns a pre-signed GET URL for key valid for ttl; the download is served as an
// attachment named after the key's last element.
func (s *Store) Link(ctx context.Context, key string, ttl time.Duration) (string, error) {
	if err := backup.ValidateKey(key); err != nil {
		return "", fmt.Errorf("s3: link: %w", err)
	}
	if ttl <= 0 || ttl > MaxPresignTTL {
		return "", fmt.Errorf("s3: link %s: ttl %s: pre-signed URLs last at most 7 days", key, ttl)
	}
	if err := ctx.Err(); err != nil {
		return "", fmt.Errorf("s3: link %s: %w", key, err)
	}
	obj := s.objectKey(key)
	disp := "attachment; filename=\"" + path.Base(key) + "\""
	req, err := s3api.NewPresignClient(s.client).PresignGetObject(ctx,
		&s3api.GetObjectInput{Bucket: aws.String(s.cfg.Bucket), Key: &obj, ResponseContentDisposition: &disp},
		s3api.WithPresignExpires(ttl))
	if err != nil {
		return "", fmt.Errorf("presign: %w", err)
	}
	return req.URL, nil
}

// PartSize returns the part size Put uses for an object expected to be hint bytes
// (0 = unknown): max(configured or 5 MiB, ceil(2 × hint / 10,000) rounded up to a MiB),
// at most 5 GiB.
func PartSize(configured, hint int64) int64 {
	p := configured
	if p <= 0 {
		p = DefaultPartSize
	}
	if hint > 0 {
		need := (2*hint + MaxParts - 1) / MaxParts
		need = (need + 1<<20 - 1) &^ (1<<20 - 1)
		p = max(p, need)
	}
	return min(p, MaxPartSize)
}

// Put streams r into key. See the package doc for part sizes and memory.
func (s *Store) Put(ctx context.Context, key string, r io.Reader) (backup.ObjectInfo, error) {
	if err := backup.ValidateKey(key); err != nil {
		return backup.ObjectInfo{}, fmt.Errorf("s3: put: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return backup.ObjectInfo{}, fmt.Errorf("s3: put %s: %w", key, err)
	}
	part := PartSize(s.cfg.PartSize, backup.SizeHint(ctx))
	body := &countingReader{ctx: ctx, r: r}
	okey := s.objectKey(key)
	start := time.Now()
	_, err := s.tm.UploadObject(ctx, &transfermanager.UploadObjectInput{
		Bucket:      &s.cfg.Bucket,
		Key:         &okey,
		Body:        body,
		ContentType: aws.String("application/octet-stream"),
	}, func(o *transfermanager.Options) {
		o.PartSizeBytes = part
		// Buffer at most one part before deciding between PutObject and multipart.
		o.MultipartUploadThreshold = part
	})
	if err != nil {
		var mpe transfermanager.MultipartUploadError
		if errors.As(err, &mpe) {
			s.ensureAborted(ctx, okey, mpe.UploadID())
		}
		if ctx.Err() != nil && !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
			err = fmt.Errorf("%w: %w", ctx.Err(), err)
		}
		return backup.ObjectInfo{}, fmt.Errorf("s3: put %s: %w", key, s.classify(err))
	}
	n := body.n.Load()
	// The object is committed: check it even if ctx was cancelled meanwhile.
	hctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	info, err := s.stat(hctx, key)
	if err != nil {
		return backup.ObjectInfo{}, fmt.Errorf("s3: put %s: check the uploaded object: %w", key, err)
	}
	if info.Size != n {
		return backup.ObjectInfo{}, fmt.Errorf("s3: put %s: sent %d bytes but the store holds %d", key, n, info.Size)
	}
	s.log.Debug("s3: put", "key", okey, "bytes", n, "part_size", part, "duration", time.Since(start))
	return info, nil
}

// ensureAborted makes sure a failed multipart upload is aborted: transfermanager aborts
// it but does not report whether that worked. Aborting twice is harmless (NoSuchUpload).
func (s *Store) ensureAborted(ctx context.Context, key, uploadID string) {
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	_, err := s.client.AbortMultipartUpload(actx, &s3api.AbortMultipartUploadInput{
		Bucket: &s.cfg.Bucket, Key: &key, UploadId: &uploadID,
	})
	var nu *types.NoSuchUpload
	if err == nil || errors.As(err, &nu) || apiCode(err) == "NoSuchUpload" {
		return
	}
	s.log.Warn("s3: could not abort a failed upload; its parts stay on the server (invisible, but stored) until AbortIncompleteUploads or a bucket lifecycle rule removes them",
		"key", key, "upload_id", uploadID, "store", s.String(), "err", err)
}

// countingReader counts bytes and stops at ctx cancellation. It hides any Seek method,
// so the upload never relies on the reader's length.
type countingReader struct {
	ctx context.Context
	r   io.Reader
	n   atomic.Int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// Open returns the object's body.
func (s *Store) Open(ctx context.Context, key string) (io.ReadCloser, error) {
	if err := backup.ValidateKey(key); err != nil {
		return nil, fmt.Errorf("s3: open: %w", err)
	}
	out, err := s.client.GetObject(ctx, &s3api.GetObjectInput{Bucket: &s.cfg.Bucket, Key: aws.String(s.objectKey(key))})
	if err != nil {
		if isKeyMissing(err) {
			return nil, fmt.Errorf("s3: open %s: %w (%w)", key, fs.ErrNotExist, err)
		}
		return nil, fmt.Errorf("s3: open %s: %w", key, s.classify(err))
	}
	return out.Body, nil
}

// Stat returns the object's size and modification time.
func (s *Store) Stat(ctx context.Context, key string) (backup.ObjectInfo, error) {
	if err := backup.ValidateKey(key); err != nil {
		return backup.ObjectInfo{}, fmt.Errorf("s3: stat: %w", err)
	}
	return s.stat(ctx, key)
}

func (s *Store) stat(ctx context.Context, key string) (backup.ObjectInfo, error) {
	out, err := s.client.HeadObject(ctx, &s3api.HeadObjectInput{Bucket: &s.cfg.Bucket, Key: aws.String(s.objectKey(key))})
	if err != nil {
		if isKeyMissing(err) {
			// HEAD cannot tell a missing key from a missing bucket: ask.
			if _, berr := s.client.HeadBucket(ctx, &s3api.HeadBucketInput{Bucket: &s.cfg.Bucket}); berr != nil && (isBucketMissing(berr) || httpStatus(berr) == http.StatusNotFound) {
				return backup.ObjectInfo{}, fmt.Errorf("s3: stat %s: %w", key, s.bucketMissing(berr))
			}
			return backup.ObjectInfo{}, fmt.Errorf("s3: stat %s: %w (%w)", key, fs.ErrNotExist, err)
		}
		return backup.ObjectInfo{}, fmt.Errorf("s3: stat %s: %w", key, s.classify(err))
	}
	return backup.ObjectInfo{Key: key, Size: aws.ToInt64(out.ContentLength), ModTime: aws.ToTime(out.LastModified)}, nil
}

// List returns every object whose key starts with prefix, following all pages.
// Objects whose names are not valid store keys (directory markers "x/", keys written by
// other tools) are skipped.
func (s *Store) List(ctx context.Context, prefix string) ([]backup.ObjectInfo, error) {
	p := s3api.NewListObjectsV2Paginator(s.client, &s3api.ListObjectsV2Input{
		Bucket: &s.cfg.Bucket,
		Prefix: aws.String(s.prefix + prefix),
	})
	var out []backup.ObjectInfo
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("s3: list %q: %w", prefix, s.classify(err))
		}
		for _, o := range page.Contents {
			k, ok := strings.CutPrefix(aws.ToString(o.Key), s.prefix)
			if !ok || !strings.HasPrefix(k, prefix) {
				continue
			}
			if backup.ValidateKey(k) != nil {
				s.log.Debug("s3: list: skipping object with an invalid store key", "key", aws.ToString(o.Key))
				continue
			}
			out = append(out, backup.ObjectInfo{Key: k, Size: aws.ToInt64(o.Size), ModTime: aws.ToTime(o.LastModified)})
		}
	}
	// S3 lists in UTF-8 byte order already; some compatible stores do not.
	if !sort.SliceIsSorted(out, func(i, j int) bool { return out[i].Key < out[j].Key }) {
		sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	}
	return out, nil
}

// Delete removes key; a missing key is not an error.
func (s *Store) Delete(ctx context.Context, key string) error {
	if err := backup.ValidateKey(key); err != nil {
		return fmt.Errorf("s3: delete: %w", err)
	}
	_, err := s.client.DeleteObject(ctx, &s3api.DeleteObjectInput{Bucket: &s.cfg.Bucket, Key: aws.String(s.objectKey(key))})
	if err != nil && !isKeyMissing(err) {
		return fmt.Errorf("s3: delete %s: %w", key, s.classify(err))
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("s3: delete %s: %w", key, err)
	}
	return nil
}

// AbortIncompleteUploads aborts the unfinished multipart uploads under the store's prefix
// that started more than olderThan ago (left behind when the server was unreachable while
// a failed Put tried to abort), and returns how many it aborted.
func (s *Store) AbortIncompleteUploads(ctx context.Context, olderThan time.Duration) (int, error) {
	cutoff := time.Now().Add(-olderThan)
	in := &s3api.ListMultipartUploadsInput{Bucket: &s.cfg.Bucket, Prefix: aws.String(s.prefix)}
	n := 0
	for {
		page, err := s.client.ListMultipartUploads(ctx, in)
		if err != nil {
			return n, fmt.Errorf("s3: list incomplete uploads: %w", s.classify(err))
		}
		for _, u := range page.Uploads {
			if u.Initiated != nil && u.Initiated.After(cutoff) {
				continue
			}
			if _, err := s.client.AbortMultipartUpload(ctx, &s3api.AbortMultipartUploadInput{
				Bucket: &s.cfg.Bucket, Key: u.Key, UploadId: u.UploadId,
			}); err != nil && apiCode(err) != "NoSuchUpload" {
				return n, fmt.Errorf("s3: abort upload %s of %s: %w", aws.ToString(u.UploadId), aws.ToString(u.Key), s.classify(err))
			}
			n++
			s.log.Info("s3: aborted incomplete upload", "key", aws.ToString(u.Key), "upload_id", aws.ToString(u.UploadId))
		}
		if !aws.ToBool(page.IsTruncated) {
			return n, nil
		}
		in.KeyMarker, in.UploadIdMarker = page.NextKeyMarker, page.NextUploadIdMarker
	}
}
