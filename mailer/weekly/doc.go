// Package weekly delivers the weekly backup email to every selected member exactly
// once per period (an ISO week, "2026-W48"), as River jobs (github.com/riverqueue/river,
// PostgreSQL-backed) with a delivery ledger beside them in the state database.
//
// # Flow
//
// Enqueue reads the selected members from the source (the export member query, keyset
// batches) and, per batch and in one state-database transaction, creates the ledger
// rows ("queued"), leaves out members whose row is already "sent", and inserts one
// River job per remaining member (InsertManyTx, unique by member and period, so a
// second enqueue while jobs are pending adds nothing). Any number of worker processes
// (linkbackup worker, or export --mail in-process) then run the jobs:
//
//  1. the ledger row goes to "sending" and attempts+1 (committed before any SMTP);
//     a row already "sent" ends the job at once ("already sent"). Jobs of one process
//     that start while such a statement is running share the next one (one INSERT
//     ... ON CONFLICT over several rows, in key order; see batcher);
//  2. the member's folders and links are read (export/pgsource, one member; while
//     step 1's statement runs, so the two round trips overlap) and rendered into the
//     zip (export.WriteZip); above MaxAttachment the zip is put in the store under
//     exports/<period>/ and the message carries a pre-signed link;
//  3. a transaction on the state database marks the row "sent" (an UPDATE that waits
//     for, then skips, a row another worker already marked) and completes the River
//     job (river.JobCompleteTx); with this transaction open, the message is sent;
//  4. on the server's 250 the transaction commits; on any failure it rolls back and
//     the failure is recorded: 5xx or an unusable address -> "failed" for that
//     member only (river.JobCancel, no retry); anything else -> back to "queued" and
//     River retries with backoff, "failed" once attempts are exhausted. After the
//     commit the server's reply and the message size are written to the row: one
//     statement for every job that finished meanwhile, run by one of them, the others
//     do not wait (best effort: a crash between the commit and this write leaves the
//     row "sent" without its reply).
//
// Per message the state database sees River's fetch (shared by the jobs fetched
// together) and the job's completion, and from the ledger at most the attempt mark,
// the "sent" UPDATE with BEGIN/COMMIT, and the reply; the source database one
// pipelined round trip of three statements.
//
// # The at-least-once window
//
// SMTP has no two-phase commit, so one window remains where a member can get the
// message twice: the server has answered 250 to the final "." and the process dies
// (or the state database fails) before the COMMIT of step 4 is acknowledged. The
// transaction is prepared before the message is sent, so the window is a single
// COMMIT round trip to the state database. The same holds, unavoidably, when the
// connection breaks after the final "." and before the reply arrives (RFC 1047):
// the job is retried. A retried message carries the same Message-ID, so mail
// clients and providers that deduplicate by Message-ID show it once.
//
// Nothing else doubles: two workers never run the same job (River locks it), a job
// rescued from a crashed worker finds the row "sent" or waits on the row lock of a
// worker still sending, and a rerun of the period skips "sent" rows.
package weekly
