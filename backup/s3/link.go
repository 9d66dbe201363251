package s3

import (
	"context"
	"fmt"
	"path"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	s3api "github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/linkagogo/linkbackup/backup"
)

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
