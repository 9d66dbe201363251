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
	"log/slog"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/feature/s3/transfermanager"
	s3api "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go/logging"

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
	// Timeout is the no-progress timeout: a request whose connection moves no byte for
	// this long (no response headers, a stalled body either way) fails, and is retried
	// like a network error (MaxAttempts, with backoff); a stalled download fails the read
	// with an error naming the store and the object. Default 60s.
	Timeout time.Duration
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
	if cfg.Timeout == 0 {
		cfg.Timeout = DefaultTimeout
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Store{cfg: cfg, log: log}
	if p := strings.Trim(cfg.Prefix, "/"); p != "" {
		s.prefix = p + "/"
	}

	opts, err := s.loadOptions()
	if err != nil {
		return nil, err
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

// loadOptions are the AWS SDK options of s's configuration: retries, logging through
// s.log, region, the stall-proof HTTP client, checksums and credentials.
func (s *Store) loadOptions() ([]func(*config.LoadOptions) error, error) {
	cfg, log := s.cfg, s.log
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
	} else {
		opts = append(opts, config.WithHTTPClient(stallProofClient(cfg.Timeout)))
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
	return opts, nil
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

// String returns "s3://bucket/prefix (endpoint)".
func (s *Store) String() string { return s.cfg.String() }

// Client returns the underlying S3 client (tests, administration).
func (s *Store) Client() *s3api.Client { return s.client }

// objectKey returns the full S3 key of a store key.
func (s *Store) objectKey(key string) string { return s.prefix + key }
