package s3

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/s3/transfermanager"
	s3api "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/linkagogo/linkbackup/backup"
)

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
