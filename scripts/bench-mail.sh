#!/usr/bin/env bash
# bench-mail.sh measures the weekly backup email end to end, in one run:
#
#   linkbackup  River jobs + ledger, per-member read, zip, pooled SMTP connections
#   naive       one streaming read of all members, zip, one new SMTP connection per message
#
# MEMBERS members (default 10000) x 200 links, all selected, into a mailpit that keeps
# every message (its database on /dev/shm), emptied before each run; ROUNDS rounds
# (default 3) alternate the two and the medians are reported (mailer/weekly
# BenchmarkWeeklyMailpit). Then the same pipeline into an in-process SMTP sink, to show
# the pipeline's own ceiling without mailpit. Heap peaks show memory does not grow with
# the number of members sent.
#
# Usage: scripts/bench-mail.sh            (MEMBERS=, ROUNDS=, CONCURRENCY=, CONNECTIONS=)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

if [ "${1:-}" != --inner ]; then
	exec bash scripts/teststack.sh run -- bash "$0" --inner
fi

LB_NAME=bench-mail
# shellcheck source=scripts/lib.sh
. scripts/lib.sh

MEMBERS=${MEMBERS:-10000}
ROUNDS=${ROUNDS:-3}
export LINKBACKUP_BENCH_MEMBERS=$MEMBERS LINKBACKUP_BENCH_ROUNDS=$ROUNDS
export LINKBACKUP_BENCH_CONCURRENCY=${CONCURRENCY:-8} LINKBACKUP_BENCH_CONNECTIONS=${CONNECTIONS:-4}

dir=$(mktemp -d /dev/shm/lbmail-bench.XXXXXX)
lb_free_port
http=$LB_PORT
lb_free_port
smtp=$LB_PORT
"$LINKBACKUP_TEST_BIN_DIR/mailpit" --listen "127.0.0.1:$http" --smtp "127.0.0.1:$smtp" \
	--database "$dir/mailpit.db" --max 0 --compression 0 --smtp-disable-rdns --disable-version-check \
	</dev/null >"$dir/mailpit.log" 2>&1 &
mp=$!
trap 'lb_stop_pid mailpit "$mp"; rm -rf "$dir"' EXIT
lb_wait_ready mailpit "$mp" "$dir/mailpit.log" 60 lb_http_ok "http://127.0.0.1:$http/readyz"

lb_log "machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
lb_log "to mailpit (127.0.0.1:$smtp, --max 0, database on /dev/shm): $MEMBERS members x 200 links, $ROUNDS rounds"
LINKBACKUP_BENCH_SMTP=127.0.0.1:$smtp LINKBACKUP_BENCH_MAILPIT=http://127.0.0.1:$http \
	go test ./mailer/weekly -run '^$' -bench '^BenchmarkWeeklyMailpit$' -benchtime 1x -timeout 60m -v 2>&1 |
	grep -E '^(Benchmark|    bench_test|ok|FAIL|---)'
lb_log "to an in-process SMTP sink (pipeline ceiling without mailpit)"
LINKBACKUP_BENCH_SINK=1 LINKBACKUP_BENCH_ROUNDS=1 \
	go test ./mailer/weekly -run '^$' -bench '^BenchmarkWeeklyMailpit$' -benchtime 1x -timeout 60m -v 2>&1 |
	grep -E '^(Benchmark|    bench_test|ok|FAIL|---)'
lb_log "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
