package s3

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// Sentinel errors.
var (
	// ErrBucketNotFound is wrapped when the bucket does not exist.
	ErrBucketNotFound = errors.New("bucket does not exist")
	// ErrAccessDenied is wrapped when the server refuses the credentials or the request.
	ErrAccessDenied = errors.New("access denied")
)

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
