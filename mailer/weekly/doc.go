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
//     a row already "sent" ends the job at once ("already sent");
//  2. the member's folders and links are read (export/pgsource, one member; while
//     step 1's statement runs, so the two round trips overlap) and rendered into the
//     zip (export.WriteZip); above MaxAttachment the zip is put in the store under
//     exports/<period>/ and the message carries a pre-signed link;
//  3. a transaction on the state database marks the row "sent" (an UPDATE that waits
//     for, then skips, a row another worker already marked) and completes the River
//     job (the UPDATE river.JobCompleteTx makes for it, as one primary-key statement;
//     TestCompletionMatchesRiver pins the two together); BEGIN and both UPDATEs go in
//     one pipelined round trip (sent.go). With this transaction open, the message is
//     sent;
//  4. on the server's 250 the transaction commits, with the server's reply and the
//     message size written right after the COMMIT in the same round trip; on any
//     failure it rolls back and the failure is recorded: 5xx or an unusable address
//     -> "failed" for that member only (river.JobCancel, no retry); anything else ->
//     back to "queued" and River retries with backoff, "failed" once attempts are
//     exhausted. A member whose address failed permanently in each of their last
//     SuppressAfter periods is not sent to: their row becomes "suppressed" (suppress.go)
//     until the address changes.
//
// Per message the state database sees River's fetch (shared by the jobs fetched
// together) and three round trips: the attempt mark, BEGIN with the two UPDATEs,
// COMMIT with the reply; the source database one pipelined round trip of three
// statements. Every statement but River's fetch has a cached plan (the previous
// version's array statements and River's JobCompleteTx were planned on every call:
// 0.6 ms of server CPU per message in planning alone, pg_stat_statements showed).
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
//
// # Crash recovery
//
// Every working process holds a session advisory lock named by its River client id
// (Liveness, rescue.go) and hands back, every RescueInterval, the running jobs whose
// client's lock is free: a killed process's jobs run again within seconds instead of
// after RescueAfter, which stays as River's backstop.
package weekly
