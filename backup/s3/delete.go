package s3

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	s3api "github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/linkagogo/linkbackup/backup"
)

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
