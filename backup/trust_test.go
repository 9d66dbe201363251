package backup_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"

	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/klauspost/compress/zstd"

	"github.com/linkagogo/linkbackup/backup"
	"github.com/linkagogo/linkbackup/backup/member"
	"github.com/linkagogo/linkbackup/backup/s3"
	"github.com/linkagogo/linkbackup/backup/trust"
	"github.com/linkagogo/linkbackup/internal/testenv"
)

// testKeys generates an encryption pair and a signing pair in a temp dir.
func testKeys(t testing.TB) (write, read *backup.Keys, g *trust.Generated) {
	t.Helper()
	g, err := trust.Generate(filepath.Join(t.TempDir(), "keys"))
	if err != nil {
		t.Fatal(err)
	}
	rs, err := trust.ReadRecipientsFile(g.AgePub)
	if err != nil {
		t.Fatal(err)
	}
	s, err := trust.ReadSigningKey(g.SigningKey)
	if err != nil {
		t.Fatal(err)
	}
	ids, err := trust.ReadIdentityFile(g.AgeKey)
	if err != nil {
		t.Fatal(err)
	}
	v, err := trust.ParseVerifyKey(g.SigningPub)
	if err != nil {
		t.Fatal(err)
	}
	return &backup.Keys{Recipients: rs, Signer: s}, &backup.Keys{Identities: ids, Verifiers: []trust.Verifier{v}}, g
}

// storeHolds reports whether any stored object contains needle (grep of the store).
func storeHolds(t *testing.T, st backup.Store, needle string) bool {
	t.Helper()
	ctx := context.Background()
	objs, err := st.List(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range objs {
		rc, err := st.Open(ctx, o.Key)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(rc)
		rc.Close()
		if bytes.Contains(b, []byte(needle)) {
			return true
		}
	}
	return false
}

// TestEncryptedSignedRoundTrip, on the file store and on versitygw: an encrypted and
// signed snapshot holds no member email or URL in any object; verify without an
// identity checks the stored bytes only, with one every row digest; restore, the standby
// drill (which records the identity) and a member restore work with the keys; a reader
// without the identity or with another one is refused naming the fingerprints.
func TestEncryptedSignedRoundTrip(t *testing.T) {
	t.Parallel()
	for _, kind := range []string{"file", "s3"} {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			var st backup.Store = fileStore(t)
			if kind == "s3" {
				st = s3Store(t)
			}
			testEncryptedRoundTrip(t, st)
		})
	}
}

func testEncryptedRoundTrip(t *testing.T, st backup.Store) {
	ctx := context.Background()
	src := bookmarkDB(t, 6, 20)
	c := connect(t, src)
	var email, url string
	if err := c.QueryRow(ctx, `SELECT m.email, l.url FROM members m JOIN links l ON l.member_id = m.id LIMIT 1`).Scan(&email, &url); err != nil {
		t.Fatal(err)
	}
	write, read, g := testKeys(t)
	o := opts(t, src, st)
	o.Keys = write
	m, err := backup.Backup(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	if m.Encryption != backup.EncryptionAge || len(m.Recipients) != 1 || m.Recipients[0] != g.RecipientFingerprint || m.SignedBy != g.SignerFingerprint {
		t.Fatalf("manifest: encryption %q recipients %v signed by %q", m.Encryption, m.Recipients, m.SignedBy)
	}
	if storeHolds(t, st, email) || storeHolds(t, st, url) || storeHolds(t, st, "CREATE TABLE") {
		t.Fatal("the store holds plaintext member data or schema SQL")
	}

	// verify: without an identity the stored bytes only, with one the rows too.
	rep, err := backup.Verify(ctx, st, m.ID, backup.VerifyOptions{Jobs: 2, Keys: &backup.Keys{Verifiers: read.Verifiers}})
	if err != nil || rep.ContentChecked || !rep.Authenticated || rep.Rows != 0 {
		t.Fatalf("verify without identity: %+v, %v", rep, err)
	}
	rep, err = backup.Verify(ctx, st, m.ID, backup.VerifyOptions{Jobs: 2, Keys: read})
	if err != nil || !rep.ContentChecked || rep.Rows != m.Totals.Rows {
		t.Fatalf("verify with identity: %+v, %v", rep, err)
	}

	// Restore with the keys; refused without the identity or with another one.
	target := testenv.NewDatabase(t, testenv.StandbyDSN(t))
	if _, err := backup.Restore(ctx, backup.RestoreOptions{Store: st, ID: m.ID, Target: target, Jobs: 2, Keys: read, Log: testLog(t)}); err != nil {
		t.Fatal(err)
	}
	_, other, _ := testKeys(t)
	for name, k := range map[string]*backup.Keys{"no identity": {Verifiers: read.Verifiers},
		"other identity": {Identities: other.Identities, Verifiers: read.Verifiers}} {
		empty := testenv.NewDatabase(t, testenv.StandbyDSN(t))
		_, err := backup.Restore(ctx, backup.RestoreOptions{Store: st, ID: m.ID, Target: empty, Jobs: 2, Keys: k, Log: testLog(t)})
		if !errors.Is(err, backup.ErrRefused) || !strings.Contains(err.Error(), g.RecipientFingerprint) {
			t.Fatalf("%s: %v", name, err)
		}
		if name == "other identity" && !strings.Contains(err.Error(), other.Identities[0].Fingerprint) {
			t.Fatalf("%s: the error does not name the identity it has: %v", name, err)
		}
	}

	// The standby drill decrypts and records which identity proved it.
	server, sbName := drillServer(t)
	so := standbyOpts(t, st, m.ID, server, sbName)
	so.Keys = read
	rec, err := backup.RefreshStandby(ctx, so)
	if err != nil || rec.Identity != g.RecipientFingerprint {
		t.Fatalf("standby: %+v, %v", rec, err)
	}

	// A member restore reads the encrypted rows.
	mustExec(t, c, "DELETE FROM links WHERE member_id = 2")
	mr, err := member.Restore(ctx, member.Options{Store: st, ID: m.ID, Target: src, MemberID: 2, Keys: read})
	if err != nil || mr.Tables[2].Inserted == 0 {
		t.Fatalf("member restore: %+v, %v", mr, err)
	}
}

// TestForgedSnapshotIsRefused: whoever can write to the store replaces the pre-data SQL
// with their own and rewrites the manifest's sha256 and size to match. With a verify
// key, restore and the standby drill refuse before any SQL runs (the forged SQL's table
// does not exist afterwards); an unsigned snapshot is refused too unless allowed.
func TestForgedSnapshotIsRefused(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	src := bookmarkDB(t, 3, 5)
	st := fileStore(t)
	write, read, _ := testKeys(t)
	write.Recipients = nil // plaintext, signed: the forgery needs no key at all
	o := opts(t, src, st)
	o.Keys = write
	m, err := backup.Backup(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	forgeObject(t, st, m, "CREATE TABLE public.forged_by_attacker (x int);\n")
	target := testenv.NewDatabase(t, testenv.StandbyDSN(t))
	_, err = backup.Restore(ctx, backup.RestoreOptions{Store: st, ID: m.ID, Target: target, Jobs: 2, Keys: read, Log: testLog(t)})
	if !errors.Is(err, backup.ErrRefused) || !errors.Is(err, backup.ErrUnauthenticated) {
		t.Fatalf("forged snapshot: %v", err)
	}
	if tableExists(t, target, "forged_by_attacker") {
		t.Fatal("the forged SQL ran")
	}
	server, name := drillServer(t)
	so := standbyOpts(t, st, m.ID, server, name)
	so.Keys = read
	if _, err := backup.RefreshStandby(ctx, so); !errors.Is(err, backup.ErrUnauthenticated) {
		t.Fatalf("standby of the forged snapshot: %v", err)
	}
	if databaseExists(t, server, name+backup.IncomingSuffix) || databaseExists(t, server, name) {
		t.Fatal("the standby created a copy of a forged snapshot")
	}
	// Without a verify key the same forgery runs: that is what signing is for.
	backup.Restore(ctx, backup.RestoreOptions{Store: st, ID: m.ID, Target: target, Jobs: 2, Log: testLog(t)})
	if !tableExists(t, target, "forged_by_attacker") {
		t.Fatal("without a verify key the forged pre-data did not run: the test no longer shows the threat")
	}

	// An unsigned snapshot (the signature object deleted) with a verify key: refused,
	// unless allowed; a bad signature is refused even then.
	m2, err := backup.Backup(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Delete(ctx, backup.SnapshotPrefix(m2.ID)+backup.SignatureName); err != nil {
		t.Fatal(err)
	}
	fresh := testenv.NewDatabase(t, testenv.StandbyDSN(t))
	if _, err := backup.Restore(ctx, backup.RestoreOptions{Store: st, ID: m2.ID, Target: fresh, Jobs: 2, Keys: read, Log: testLog(t)}); !errors.Is(err, backup.ErrUnauthenticated) {
		t.Fatalf("unsigned: %v", err)
	}
	allow := *read
	allow.AllowUnsigned = true
	if _, err := backup.Restore(ctx, backup.RestoreOptions{Store: st, ID: m2.ID, Target: fresh, Jobs: 2, Keys: &allow, Log: testLog(t)}); err != nil {
		t.Fatalf("unsigned, allowed: %v", err)
	}
	other := testenv.NewDatabase(t, testenv.StandbyDSN(t))
	if _, err := backup.Restore(ctx, backup.RestoreOptions{Store: st, ID: m.ID, Target: other, Jobs: 2, Keys: &allow, Log: testLog(t)}); !errors.Is(err, backup.ErrUnauthenticated) {
		t.Fatalf("bad signature with allow-unsigned: %v", err)
	}
}

// forgeObject replaces the pre-data object with sql (zstd, as linkbackup writes it) and
// rewrites the manifest's size and sha256 so that integrity checks pass.
func forgeObject(t *testing.T, st backup.Store, m *backup.Manifest, sql string) {
	t.Helper()
	ctx := context.Background()
	var buf bytes.Buffer
	zw := zstdWriter(t, &buf)
	io.WriteString(zw, sql)
	zw.Close()
	info, err := st.Put(ctx, m.PreData.Key, bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	forged := *m
	forged.PreData.Size, forged.PreData.SHA256, forged.PreData.RawSize = info.Size, sha256hex(buf.Bytes()), int64(len(sql))
	forged.PreData.Comp = "" // the forger records the codec they used (zstd)
	if err := backup.WriteManifest(ctx, st, &forged); err != nil {
		t.Fatal(err)
	}
}

func tableExists(t *testing.T, dsn, name string) bool {
	t.Helper()
	c, err := pgx.Connect(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(context.Background())
	var ok bool
	c.QueryRow(context.Background(), "SELECT to_regclass('public.'||$1) IS NOT NULL", name).Scan(&ok)
	return ok
}

// s3Store is a fresh bucket on the test versitygw.
func s3Store(t *testing.T) backup.Store {
	t.Helper()
	srv := testenv.S3Server(t)
	bucket := testenv.NewBucket(t, srv)
	st, err := s3.New(context.Background(), s3.Config{Bucket: bucket, Prefix: "lb/", Endpoint: srv.Endpoint, Region: "us-east-1",
		PathStyle: true, AccessKey: srv.AccessKey, SecretKey: srv.SecretKey})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func zstdWriter(t *testing.T, w io.Writer) io.WriteCloser {
	zw, err := zstd.NewWriter(w)
	if err != nil {
		t.Fatal(err)
	}
	return zw
}

func sha256hex(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }

// TestKeyRotationAndOldSnapshots: snapshot 1 is encrypted to key 1, snapshot 2 (after
// the new recipient was added and the old one dropped) to key 2: a reader holding both
// identities restores both, one holding only key 2 only the second. A format-2 snapshot
// (written before encryption and signing existed) still restores without verify keys.
func TestKeyRotationAndOldSnapshots(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	src := bookmarkDB(t, 3, 5)
	st := fileStore(t)
	w1, r1, _ := testKeys(t)
	w2, r2, _ := testKeys(t)
	o := opts(t, src, st)
	o.Keys = &backup.Keys{Recipients: w1.Recipients}
	m1, err := backup.Backup(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	o.Keys = &backup.Keys{Recipients: w2.Recipients}
	m2, err := backup.Backup(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	both := &backup.Keys{Identities: append(append([]trust.Identity{}, r1.Identities...), r2.Identities...)}
	for _, m := range []*backup.Manifest{m1, m2} {
		if _, err := backup.Restore(ctx, backup.RestoreOptions{Store: st, ID: m.ID, Target: testenv.NewDatabase(t, testenv.StandbyDSN(t)),
			Jobs: 2, Keys: both, Log: testLog(t)}); err != nil {
			t.Fatalf("%s with both identities: %v", m.ID, err)
		}
	}
	only2 := &backup.Keys{Identities: r2.Identities}
	if _, err := backup.Restore(ctx, backup.RestoreOptions{Store: st, ID: m1.ID, Target: testenv.NewDatabase(t, testenv.StandbyDSN(t)),
		Jobs: 2, Keys: only2, Log: testLog(t)}); !errors.Is(err, backup.ErrRefused) {
		t.Fatalf("snapshot 1 with key 2 only: %v", err)
	}

	// A format-2 manifest: plaintext, no signature, no encryption fields.
	o.Keys = nil
	m3, err := backup.Backup(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	old := *m3
	old.Format = 2
	if err := backup.WriteManifest(ctx, st, &old); err != nil {
		t.Fatal(err)
	}
	if _, err := backup.Restore(ctx, backup.RestoreOptions{Store: st, ID: m3.ID, Target: testenv.NewDatabase(t, testenv.StandbyDSN(t)),
		Jobs: 2, Log: testLog(t)}); err != nil {
		t.Fatalf("format-2 snapshot: %v", err)
	}
}
