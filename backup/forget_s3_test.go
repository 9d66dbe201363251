package backup_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	s3api "github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/linkagogo/linkbackup/backup"
	"github.com/linkagogo/linkbackup/backup/retention"
	"github.com/linkagogo/linkbackup/backup/s3"
	"github.com/linkagogo/linkbackup/internal/testenv"
)

// bucketKeys lists every object in bucket straight from the S3 server.
func bucketKeys(t *testing.T, c *s3api.Client, bucket string) []string {
	t.Helper()
	var keys []string
	p := s3api.NewListObjectsV2Paginator(c, &s3api.ListObjectsV2Input{Bucket: &bucket})
	for p.HasMorePages() {
		page, err := p.NextPage(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range page.Contents {
			keys = append(keys, aws.ToString(o.Key))
		}
	}
	slices.Sort(keys)
	return keys
}

// TestForgetOnVersityGW: real backups into versitygw, a real drill, then a forget killed
// after its first manifest delete (only complete snapshots stay listed), a forget refused
// while another holds the lock, and the forget that finishes: the bucket loses exactly
// the removed snapshots' objects, the kept ones verify and the newest still restores on
// the standby; an abandoned multipart upload is aborted.
func TestForgetOnVersityGW(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srv := testenv.S3Server(t)
	bucket := testenv.NewBucket(t, srv)
	st, err := s3.New(ctx, s3.Config{Bucket: bucket, Prefix: "lb/", Endpoint: srv.Endpoint, Region: "us-east-1",
		PathStyle: true, AccessKey: srv.AccessKey, SecretKey: srv.SecretKey})
	if err != nil {
		t.Fatal(err)
	}
	src := bookmarkDB(t, 5, 5)
	ms := make([]*backup.Manifest, 4)
	for i := range ms {
		if ms[i], err = backup.Backup(ctx, opts(t, src, st)); err != nil {
			t.Fatal(err)
		}
	}
	server := testenv.StandbyDSN(t)
	name := strings.ReplaceAll(testenv.UniqueName("fg"), "-", "_")
	t.Cleanup(func() {
		c := connect(t, server)
		for _, n := range []string{name, name + "__previous", name + "__incoming"} {
			c.Exec(context.Background(), `DROP DATABASE IF EXISTS "`+n+`" WITH (FORCE)`)
		}
	})
	if _, err := backup.RefreshStandby(ctx, standbyOpts(t, st, ms[2].ID, server, name)); err != nil {
		t.Fatal(err)
	}
	client := srv.Client()
	before := bucketKeys(t, client, bucket)
	locker := &backup.PGLocker{Source: src, Standby: server, Store: st}
	o := backup.ForgetOptions{Store: st, Policy: retention.Policy{Last: 1}, Lock: locker, OrphanAge: time.Nanosecond, Log: testLog(t)}

	// Killed after the first manifest delete: ms[0] is gone for every command, the rest complete.
	crashed := o
	crashed.Store = &crashStore{Store: st}
	if _, err := backup.Forget(ctx, crashed); err == nil {
		t.Fatal("forget through a crashing store reported success")
	}
	// Removals run in parallel: the one whose manifest went first (and maybe the other one)
	// is gone for every command, the rest complete.
	if got := assertOnlyCompleteListed(t, st); len(got) > 3 || !slices.Contains(got, ms[2].ID) || !slices.Contains(got, ms[3].ID) {
		t.Fatalf("after the crash: %v", got)
	}

	// Another forget (or a backup: the same lock) holds the lock: refused, naming the holder.
	release, err := (&backup.PGLocker{Source: src, Store: st}).Lock(ctx, ms[0].Database)
	if err != nil {
		t.Fatal(err)
	}
	_, err = backup.Forget(ctx, o)
	release()
	if !errors.Is(err, backup.ErrLocked) || !strings.Contains(err.Error(), "since") {
		t.Fatalf("forget beside a lock holder: %v", err)
	}

	// An abandoned multipart upload (a backup killed mid-object).
	upKey := "lb/snapshots/20000101T000000.000Z/data/abandoned.copy.zst"
	if _, err := client.CreateMultipartUpload(ctx, &s3api.CreateMultipartUploadInput{Bucket: &bucket, Key: &upKey}); err != nil {
		t.Fatal(err)
	}

	r, err := backup.Forget(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	// What the crash made invisible is finished; the rest of ms[0], ms[1] removed now.
	if len(r.Finished) == 0 || len(r.Finished)+r.Removed.Snapshots != 2 || r.UploadsAborted != 1 {
		t.Fatalf("finished %v, removed %+v, uploads aborted %d", r.Finished, r.Removed, r.UploadsAborted)
	}
	var want []string
	for _, k := range before {
		if !strings.HasPrefix(k, "lb/"+backup.SnapshotPrefix(ms[0].ID)) && !strings.HasPrefix(k, "lb/"+backup.SnapshotPrefix(ms[1].ID)) {
			want = append(want, k)
		}
	}
	if after := bucketKeys(t, client, bucket); !slices.Equal(after, want) {
		t.Fatalf("bucket after forget:\n%v\nwant the bucket before without ms[0], ms[1]:\n%v", after, want)
	}
	ups, err := client.ListMultipartUploads(ctx, &s3api.ListMultipartUploadsInput{Bucket: &bucket})
	if err != nil || len(ups.Uploads) != 0 {
		t.Fatalf("incomplete uploads left: %v, %v", ups, err)
	}
	for _, m := range ms[2:] {
		rep, err := backup.Verify(ctx, st, m.ID, backup.VerifyOptions{Jobs: 2, Log: testLog(t)})
		if err != nil || len(rep.Problems) != 0 {
			t.Fatalf("kept %s does not verify: %v %v", m.ID, err, rep)
		}
	}
	if _, err := backup.RefreshStandby(ctx, standbyOpts(t, st, ms[3].ID, server, name)); err != nil {
		t.Fatalf("the kept newest snapshot does not restore: %v", err)
	}
}
