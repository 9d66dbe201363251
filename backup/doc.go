// Package backup takes consistent logical snapshots of a PostgreSQL database into a
// Store, restores them into any database, proves every restore row by row, and keeps a
// standby copy that is only ever replaced by a proven one. It knows no member, no
// bookmark and no mail: any schema backs up and restores the same. One member's rows
// are restored by the subpackage member, which reads a snapshot through RowsWhere.
//
// # Snapshot layout
//
// A Store is a flat key space (Store in store.go; file and s3 in subpackages, one
// conformance suite in storetest). One snapshot is:
//
//	snapshots/<id>/manifest.json                          written last: a snapshot exists only with it
//	snapshots/<id>/manifest.sig                           Ed25519 signature of the manifest's bytes (if signed)
//	snapshots/<id>/schema/pre-data.sql.zst                pg_dump --schema-only --section=pre-data
//	snapshots/<id>/schema/post-data.sql.zst               pg_dump --schema-only --section=post-data
//	snapshots/<id>/data/<nnnn>-<table>.<cccc>.copy.zst    COPY text of table nnnn, chunk cccc
//	snapshots/<id>/data/<nnnn>-<table>.<cccc>.pgcopy.zst  the same in binary COPY format
//	snapshots/<id>/data/largeobjects.lo.zst               every large object: a JSON header line, then its bytes
//	standby/<database>.json                               the last standby refresh attempt
//	drills/<database>.json                                what the standby serves and keeps as previous
//	pins/<id>.json                                        a pin: retention keeps the snapshot
//	forget/<run>.json                                     a forget run's intent, until it finished
//
// The id is the UTC start time (IDFormat). The manifest (manifest.go) lists every object
// with its size and SHA-256, every table's row count and row digest (digest.go: an
// order-independent sum of per-row hashes, so chunks and parallel reads add up), the
// sequences, and the server and pg_dump versions.
//
// # Phases and files
//
// Backup (snapshot.go) runs, in order:
//   - connect.go: the coordinator session, the server's identity, the pg_dump check
//     (connect_bounds.go: connect timeout and keepalives on every session);
//   - lock.go: one advisory lock per store and database, so two runs never interleave;
//   - orphans.go: objects of snapshots that never got a manifest are removed;
//   - snapshot_plan.go: inside one exported snapshot, the catalog (catalog.go) becomes a
//     plan: tables locked, large tables split into ctid ranges (tasks); state_schema.go
//     leaves out linkbackup's own state schema, subscription.go records the
//     subscriptions no snapshot holds;
//   - snapshot_copy.go: pg_dump writes the schema, worker sessions COPY the tasks
//     (binary where portable, copybinary.go) through zstd into the store (object.go);
//   - largeobjects.go: the large objects, after the data, in the same snapshot;
//   - manifest.go: the manifest, written only when every object is stored.
//
// Restore (restore.go) runs:
//   - restore_rails.go: refusals before any change (own source, non-empty target, older
//     server; cluster_identity.go when identities cannot be compared; restore_outside.go
//     for objects outside schemas), ErrRefused;
//   - restore_schema.go: pre-data (sqlscript.go parses pg_dump's script), later post-data
//     split into indexes, constraints and foreign keys;
//   - restore_graph.go: a whole restore's data, post-data and proof as one graph of
//     steps (a table's keys, indexes, proof and ANALYZE once it is loaded, foreign keys
//     once both tables have their keys), run by restore_sched.go on Jobs sessions, never
//     two steps whose table locks conflict (restore_graph_sql.go reads the tables and
//     key forms out of pg_dump's statements); a table subset runs the steps below in turn;
//   - restore_data.go: COPY FROM of every chunk, each object's SHA-256 checked while it
//     streams (restore_reload.go: a forced table subset in one transaction);
//   - restore_proof.go: every table read back and its rows and digest compared with the
//     manifest (ErrMismatch names the tables), alongside the constraints;
//   - restore_finish.go: sequences, materialized views, ANALYZE.
//
// Verify (verify.go) re-reads a snapshot's objects without a database. Refresh
// (standby.go) restores into <db>__incoming on the standby server, proves it, runs the
// drill's invariants on it (invariant.go, drill.go), and swaps it in, keeping
// <db>__previous; a failure or a grown violation leaves the serving copy untouched.
//
// Trust (seal.go, keys in the subpackage trust): content objects are age-encrypted
// after compression when Keys have recipients, manifests signed with an Ed25519 key,
// and every reader of content (ReadTrustedManifest) checks the signature and its
// identities before any SQL runs. Retention (forget.go, forget_remove.go, pin.go,
// drillrecord.go; the pure decision in the subpackage retention) removes what the
// policy does not keep, never the newest, the last proven or a pinned snapshot.
// standby_guard.go drops a side copy only when it carries linkbackup's mark and nobody
// uses it; standby_open.go checks and reopens copies an interrupted swap left closed.
// resolve.go makes "latest" mean the newest snapshot of one database.
// RowsWhere (rowfilter.go) reads the rows of one table whose integer column equals a
// value, for the member restore in backup/member. GatherStatus and EvaluateStatus
// (status.go, status_eval.go) turn the store's and the standby's facts into one
// judgement; internal/statusview renders it.
//
// Point-in-time recovery: wal.go archives and fetches WAL files (wal/<timeline>/,
// signed records), walverify.go checks the archive's continuity and every segment,
// basebackup.go streams pg_basebackup's tar into base/<id>/, recover.go unpacks the
// newest base backup before a target and writes the recovery settings (walfeed.go feeds
// the WAL to a recovery this process watches), forget_physical.go removes old base
// backups and WAL. walpoint.go takes a snapshot from a temporary logical slot so that
// it has an exact WAL position (lsn.go), and pitr.go proves, every night, that a
// recovery to that position holds the snapshot's rows (pitr/<db>.json).
//
// Connections share SessionSettings, so that COPY prints values the same way on the
// source and on every restored copy, which is what makes the digests comparable.
package backup
