package s3

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	s3api "github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/linkagogo/linkbackup/backup"
)

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
