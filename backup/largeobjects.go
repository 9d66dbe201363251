package backup

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"

	"github.com/jackc/pgx/v5"
)

// LargeObjects records the large objects of a snapshot: one object in the store holds
// them all, each as a JSON header line (LargeObjectHeader) followed by its bytes.
type LargeObjects struct {
	Object
	Count  int64  `json:"count"`
	Digest string `json:"digest"` // Digest over "oid sha256(data)" of every large object
}

// LargeObjectHeader precedes the bytes of one large object in the stream.
type LargeObjectHeader struct {
	OID    uint32   `json:"oid"`
	Size   int64    `json:"size"`
	Owner  string   `json:"owner"`            // quoted role name
	Grants []string `json:"grants,omitempty"` // GRANT statements of its ACL (others than the owner)
}

// maxLOHeader bounds one header line read back from a store.
const maxLOHeader = 1 << 20

// loDigestRow is what a large object adds to the snapshot's large-object digest.
func loDigestRow(oid uint32, sum []byte) []byte { return fmt.Appendf(nil, "%d %x", oid, sum) }

// dumpLargeObjects streams every large object (bytes, owner, grants) readable in the
// snapshot transaction tx into one object under prefix.
func dumpLargeObjects(ctx context.Context, tx pgx.Tx, opts Options, prefix string) (*LargeObjects, error) {
	rows, err := tx.Query(ctx, `SELECT m.oid::int8, quote_ident(pg_get_userbyid(m.lomowner)),
		ARRAY(SELECT format('GRANT %s ON LARGE OBJECT %s TO %s%s', a.privilege_type, m.oid,
			CASE a.grantee WHEN 0 THEN 'PUBLIC' ELSE quote_ident(pg_get_userbyid(a.grantee)) END,
			CASE WHEN a.is_grantable THEN ' WITH GRANT OPTION' ELSE '' END)
			FROM aclexplode(m.lomacl) a WHERE a.grantee <> m.lomowner)
		FROM pg_largeobject_metadata m ORDER BY m.oid`)
	if err != nil {
		return nil, fmt.Errorf("list large objects: %w", err)
	}
	var heads []LargeObjectHeader
	for rows.Next() {
		var h LargeObjectHeader
		var oid int64
		if err := rows.Scan(&oid, &h.Owner, &h.Grants); err != nil {
			rows.Close()
			return nil, fmt.Errorf("list large objects: %w", err)
		}
		h.OID = uint32(oid)
		heads = append(heads, h)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list large objects: %w", err)
	}
	lo := &LargeObjects{Count: int64(len(heads))}
	var d Digest
	encs, err := newEncoders(opts.Compression, opts.CompressionLevel)
	if err != nil {
		return nil, err
	}
	obj, err := putCompressed(ctx, opts.Store, encs, opts.Keys.recipients(), prefix+"data/largeobjects.lo"+encs.ext(), 1<<20, func(w io.Writer) error {
		for _, h := range heads {
			sum, err := writeLargeObject(ctx, tx, h, w)
			if err != nil {
				return err
			}
			d.Add(loDigestRow(h.OID, sum))
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("large objects: %w", err)
	}
	lo.Object, lo.Digest = obj, d.String()
	return lo, nil
}

// writeLargeObject writes h (with its size) and the bytes of large object h.OID to w and
// returns their SHA-256.
func writeLargeObject(ctx context.Context, tx pgx.Tx, h LargeObjectHeader, w io.Writer) ([]byte, error) {
	los := tx.LargeObjects()
	obj, err := los.Open(ctx, h.OID, pgx.LargeObjectModeRead)
	if err != nil {
		return nil, fmt.Errorf("open large object %d: %w", h.OID, err)
	}
	defer obj.Close()
	if h.Size, err = obj.Seek(0, io.SeekEnd); err == nil {
		_, err = obj.Seek(0, io.SeekStart)
	}
	if err != nil {
		return nil, fmt.Errorf("large object %d: %w", h.OID, err)
	}
	line, err := json.Marshal(h)
	if err != nil {
		return nil, err
	}
	if _, err := w.Write(append(line, '\n')); err != nil {
		return nil, err
	}
	sum := sha256.New()
	n, err := io.Copy(io.MultiWriter(w, sum), obj)
	if err == nil && n != h.Size {
		err = fmt.Errorf("read %d bytes, its size is %d", n, h.Size)
	}
	if err != nil {
		return nil, fmt.Errorf("read large object %d: %w", h.OID, err)
	}
	return sum.Sum(nil), nil
}

// loadLargeObjects recreates the snapshot's large objects in the target, in one
// transaction: each with its oid, bytes, owner (unless NoOwner) and grants.
func loadLargeObjects(ctx context.Context, conn *pgx.Conn, opts RestoreOptions, lo *LargeObjects) error {
	rc, err := OpenObject(ctx, opts.Store, lo.Object, opts.Keys)
	if err != nil {
		return err
	}
	defer rc.Close()
	tx, err := conn.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	br := bufio.NewReaderSize(rc, 64<<10)
	for n := int64(0); ; n++ {
		h, err := readLOHeader(br)
		if errors.Is(err, io.EOF) && n == lo.Count {
			break
		}
		if err != nil {
			return fmt.Errorf("%s: large object %d of %d: %w", lo.Key, n+1, lo.Count, err)
		}
		if err := createLargeObject(ctx, tx, opts, h, br); err != nil {
			return fmt.Errorf("restore large object %d from %s: %w", h.OID, lo.Key, err)
		}
	}
	return tx.Commit(ctx)
}

// readLOHeader reads one header line (bounded by maxLOHeader).
func readLOHeader(br *bufio.Reader) (LargeObjectHeader, error) {
	var h LargeObjectHeader
	line, err := br.ReadSlice('\n')
	if errors.Is(err, bufio.ErrBufferFull) {
		long := append([]byte{}, line...)
		for errors.Is(err, bufio.ErrBufferFull) && len(long) <= maxLOHeader {
			line, err = br.ReadSlice('\n')
			long = append(long, line...)
		}
		line = long
	}
	if err != nil {
		if errors.Is(err, io.EOF) && len(line) == 0 {
			return h, io.EOF
		}
		return h, fmt.Errorf("header: %w", err)
	}
	if len(line) > maxLOHeader {
		return h, errors.New("header line over 1 MiB")
	}
	if err := json.Unmarshal(line, &h); err != nil || h.Size < 0 {
		return h, fmt.Errorf("bad header %.80q", line)
	}
	return h, nil
}

func createLargeObject(ctx context.Context, tx pgx.Tx, opts RestoreOptions, h LargeObjectHeader, r io.Reader) error {
	los := tx.LargeObjects()
	if _, err := los.Create(ctx, h.OID); err != nil {
		return err
	}
	obj, err := los.Open(ctx, h.OID, pgx.LargeObjectModeWrite)
	if err != nil {
		return err
	}
	n, err := io.Copy(obj, io.LimitReader(r, h.Size))
	obj.Close()
	if err == nil && n != h.Size {
		err = fmt.Errorf("stream ends after %d of its %d bytes", n, h.Size)
	}
	if err != nil {
		return err
	}
	var stmts []string
	if !opts.NoOwner {
		stmts = append(stmts, "ALTER LARGE OBJECT "+strconv.FormatUint(uint64(h.OID), 10)+" OWNER TO "+h.Owner)
	}
	for _, s := range append(stmts, h.Grants...) {
		if _, err := tx.Exec(ctx, s); err != nil {
			return fmt.Errorf("%s: %w", s, err)
		}
	}
	return nil
}

// proveLargeObjects reads every large object of the target back and compares their
// count and digest with the manifest's.
func proveLargeObjects(ctx context.Context, conn *pgx.Conn, lo *LargeObjects) error {
	tx, err := conn.BeginTx(ctx, pgx.TxOptions{AccessMode: pgx.ReadOnly})
	if err != nil {
		return err
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	rows, err := tx.Query(ctx, `SELECT oid::int8 FROM pg_largeobject_metadata ORDER BY oid`)
	if err != nil {
		return err
	}
	oids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return err
	}
	var d Digest
	los := tx.LargeObjects()
	for _, oid := range oids {
		obj, err := los.Open(ctx, uint32(oid), pgx.LargeObjectModeRead)
		if err != nil {
			return fmt.Errorf("prove large object %d: %w", oid, err)
		}
		sum := sha256.New()
		_, err = io.Copy(sum, obj)
		obj.Close()
		if err != nil {
			return fmt.Errorf("prove large object %d: %w", oid, err)
		}
		d.Add(loDigestRow(uint32(oid), sum.Sum(nil)))
	}
	if int64(len(oids)) != lo.Count || d.String() != lo.Digest {
		return fmt.Errorf("%w: large objects (restored %d, digest %s; snapshot %d, digest %s)", ErrMismatch, len(oids), d, lo.Count, lo.Digest)
	}
	return nil
}

// largeObjects loads the snapshot's large objects in a whole restore (not with Tables).
func (r *restoreRun) largeObjects(ctx context.Context) error {
	lo := r.m.LargeObjectData
	if lo == nil || len(r.opts.Tables) > 0 {
		return nil
	}
	return loadLargeObjects(ctx, r.conn, r.opts, lo)
}
