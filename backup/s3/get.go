package s3

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"net/http"

	"github.com/aws/aws-sdk-go-v2/aws"
	s3api "github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/linkagogo/linkbackup/backup"
)

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
	return &namedBody{ReadCloser: out.Body, what: fmt.Sprintf("s3: read %s from %s", key, s)}, nil
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
