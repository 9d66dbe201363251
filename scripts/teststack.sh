#!/usr/bin/env bash
# teststack.sh starts the real servers that `make test` runs against, all on 127.0.0.1 on
# free ports, with state in a fresh /tmp/linkbackup-teststack.XXXXXX directory (outside the
# repository, so the postgres user can traverse it):
#
#   PostgreSQL 15 primary + standby   initdb'd clusters, superuser postgres, scram password
#   versitygw (S3, posix backend)     built from tools/go.mod, cached per version
#   mailpit (SMTP + JSON API)         built from tools/go.mod, cached per version
#   the primary archives its WAL      archive_mode = on, archive_command = this tree's
#                                     linkbackup (built into STATE/bin) wal-push into
#                                     file://STATE/wal-archive (LINKBACKUP_TEST_WAL_STORE)
#
# Usage:
#   scripts/teststack.sh run -- CMD...   start, run CMD with the env exported, stop by PID,
#                                        exit with CMD's status (what `make test` does)
#   scripts/teststack.sh start           start and keep running (`make stack`); prints
#                                        `source STATE/env`; .teststack/current -> STATE
#   scripts/teststack.sh stop [STATE]    stop by PID and delete STATE (default .teststack/current)
#   scripts/teststack.sh tools           build versitygw and mailpit if missing, print paths
#   scripts/teststack.sh deps            install missing system packages (PostgreSQL 15,
#                                        xmllint, zstd, chromium) via apt-get
#
# Overrides (environment):
#   LINKBACKUP_VERSITYGW_BIN, LINKBACKUP_MAILPIT_BIN   use this binary instead of the cache
#   LINKBACKUP_STACK_TIMEOUT                           readiness timeout per server (s, 60)
#   LINKBACKUP_STACK_ARCHIVE=0                         the primary does not archive WAL
#                                                      (make bench: archiving costs CPU)
#
# The env file exports what internal/testenv reads: LINKBACKUP_TEST_REQUIRE=1,
# LINKBACKUP_TEST_PG_PRIMARY, LINKBACKUP_TEST_PG_STANDBY, LINKBACKUP_TEST_S3,
# LINKBACKUP_TEST_S3_ACCESS_KEY, LINKBACKUP_TEST_S3_SECRET_KEY, LINKBACKUP_TEST_S3_ROOT,
# LINKBACKUP_TEST_SMTP, LINKBACKUP_TEST_MAILPIT, LINKBACKUP_TEST_BIN_DIR,
# LINKBACKUP_TEST_WAL_STORE (unset with LINKBACKUP_STACK_ARCHIVE=0), and PATH with the
# PostgreSQL 15 bin directory first.
set -euo pipefail

LB_NAME=teststack
# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

TIMEOUT=${LINKBACKUP_STACK_TIMEOUT:-60}
MARKER=.linkbackup-teststack
STATE=
KEEP=

usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2; exit 2; }

deps() {
	lb_ensure_postgres
	lb_need_cmd xmllint libxml2-utils
	lb_need_cmd zstd zstd
	lb_need_cmd chromium chromium   # the status page test drives it (chromedp)
}

tools() {
	VERSITYGW=${LINKBACKUP_VERSITYGW_BIN:-}
	MAILPIT=${LINKBACKUP_MAILPIT_BIN:-}
	local want=()
	[ -n "$VERSITYGW" ] || want+=(versitygw:github.com/versity/versitygw:github.com/versity/versitygw/cmd/versitygw)
	[ -n "$MAILPIT" ] || want+=(mailpit:github.com/axllent/mailpit:github.com/axllent/mailpit)
	[ ${#want[@]} -eq 0 ] || lb_tools "${want[@]}"
	VERSITYGW=${VERSITYGW:-$LB_TOOL_versitygw}
	MAILPIT=${MAILPIT:-$LB_TOOL_mailpit}
}

# record NAME PID SIGNAL appends a started process to STATE/pids (stopped in reverse order).
record() { echo "$1 $2 $3" >>"$STATE/pids"; }

# stop_state DIR stops every recorded PID, newest first, and deletes DIR.
stop_state() {
	local dir=$1 name pid sig
	[ -f "$dir/$MARKER" ] || lb_die "$dir is not a test stack directory (no $MARKER)"
	if [ -f "$dir/pids" ]; then
		while read -r name pid sig; do
			# Every server has DIR in its argv; a PID that does not is a reused one: skip it.
			if tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF "$dir/"; then
				lb_stop_pid "$name" "$pid" "$sig"
			else
				wait "$pid" 2>/dev/null || true
			fi
		done < <(tac "$dir/pids")
	fi
	rm -rf "$dir"
}

on_exit() {
	local rc=$?
	if [ -n "$STATE" ] && [ -z "$KEEP" ] && [ -d "$STATE" ]; then
		local t0
		t0=$(lb_now)
		stop_state "$STATE"
		lb_log "stopped the stack and removed $STATE ($(lb_since "$t0"))"
	fi
	exit "$rc"
}

CMD_PID=
# on_signal SIG RC passes SIG on to the process group of the command under `run`, gives it
# 15 s to exit, then exits with RC (the EXIT trap stops the servers).
on_signal() {
	local sig=$1 rc=$2 i
	if [ -n "$CMD_PID" ] && kill -0 -- "-$CMD_PID" 2>/dev/null; then
		lb_log "got SIG$sig: passing it to the command (process group $CMD_PID)"
		kill "-$sig" -- "-$CMD_PID" 2>/dev/null || true
		for i in $(seq 1 150); do
			kill -0 -- "-$CMD_PID" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL -- "-$CMD_PID" 2>/dev/null || true
		wait "$CMD_PID" 2>/dev/null || true
	fi
	exit "$rc"
}

start_pg() { # NAME DATADIR LOG -> sets PORT, PID
	local name=$1 dir=$2 log=$3 try
	for try in 1 2 3; do
		lb_free_port
		PORT=$LB_PORT
		if PID=$(lb_pg_start "$dir" "$PORT" "$STATE/pg/sock" "$log"); then
			record "postgres-$name" "$PID" INT
			return 0
		fi
		lb_port_busy "$PORT" || break # not a port race: do not retry
	done
	lb_die "PostgreSQL $name did not start"
}

# setup_archiving DATADIR STORE builds this tree's linkbackup into STATE/bin and makes the
# cluster in DATADIR archive its WAL with it (plaintext, unsigned: a test store) into
# STORE, a directory the postgres user owns.
setup_archiving() {
	local dir=$1 store=$2 t
	t=$(lb_now)
	(cd "$LB_ROOT" && go build -o "$STATE/bin/linkbackup" ./cmd/linkbackup) || lb_die "go build ./cmd/linkbackup failed"
	mkdir -m 700 "$STATE/wal-archive"
	chown postgres:postgres "$STATE/wal-archive"
	cat >>"$dir/postgresql.conf" <<CONF
# scripts/teststack.sh: the primary archives through linkbackup
archive_mode = on
archive_command = '$STATE/bin/linkbackup wal-push %p --store $store --log-level warn'
CONF
	lb_log "primary archives WAL to $store ($(lb_since "$t"))"
}

start_versitygw() { # -> sets S3_PORT
	local log=$STATE/versitygw.log pid try
	mkdir -p "$STATE/s3"
	for try in 1 2 3; do
		lb_free_port
		S3_PORT=$LB_PORT
		ROOT_ACCESS_KEY=$S3_KEY ROOT_SECRET_KEY=$S3_SECRET \
			"$STATE/bin/versitygw" --port "127.0.0.1:$S3_PORT" -q posix "$STATE/s3" </dev/null >"$log" 2>&1 &
		pid=$!
		record versitygw "$pid" TERM
		if lb_wait_ready versitygw "$pid" "$log" "$TIMEOUT" lb_port_busy "$S3_PORT"; then
			return 0
		fi
		lb_stop_pid versitygw "$pid"
		grep -qi 'address already in use' "$log" || break
	done
	lb_die "versitygw did not start"
}

start_mailpit() { # -> sets SMTP_PORT, HTTP_PORT
	local log=$STATE/mailpit.log pid try
	for try in 1 2 3; do
		lb_free_port
		HTTP_PORT=$LB_PORT
		lb_free_port
		SMTP_PORT=$LB_PORT
		"$STATE/bin/mailpit" --listen "127.0.0.1:$HTTP_PORT" --smtp "127.0.0.1:$SMTP_PORT" \
			--database "$STATE/mailpit.db" --smtp-disable-rdns --disable-version-check \
			--smtp-auth-accept-any --smtp-auth-allow-insecure </dev/null >"$log" 2>&1 &
		pid=$!
		record mailpit "$pid" TERM
		if lb_wait_ready mailpit "$pid" "$log" "$TIMEOUT" lb_http_ok "http://127.0.0.1:$HTTP_PORT/readyz" &&
			lb_wait_ready mailpit-smtp "$pid" "$log" "$TIMEOUT" lb_port_busy "$SMTP_PORT"; then
			return 0
		fi
		lb_stop_pid mailpit "$pid"
		grep -qi 'address already in use' "$log" || break
	done
	lb_die "mailpit did not start"
}

start_stack() {
	local t0 t1
	t0=$(lb_now)
	deps
	tools
	STATE=$(mktemp -d /tmp/linkbackup-teststack.XXXXXX)
	chmod 755 "$STATE"
	touch "$STATE/$MARKER"
	: >"$STATE/pids"
	mkdir "$STATE/bin"
	ln -s "$VERSITYGW" "$STATE/bin/versitygw"
	ln -s "$MAILPIT" "$STATE/bin/mailpit"

	t1=$(lb_now)
	local pw
	pw=$(lb_random_hex 16)
	mkdir -p "$STATE/pg/sock"
	printf '%s\n' "$pw" >"$STATE/pg/pwfile"
	chown -R postgres:postgres "$STATE/pg"
	chmod 700 "$STATE/pg"
	# initdb both clusters at once (~1-2 s each).
	lb_pg_init "$STATE/pg/primary" "$STATE/pg/pwfile" "$STATE/pg/initdb-primary.log" &
	local ip=$!
	lb_pg_init "$STATE/pg/standby" "$STATE/pg/pwfile" "$STATE/pg/initdb-standby.log" &
	local is=$!
	wait "$ip" || { sed 's/^/    /' "$STATE/pg/initdb-primary.log" >&2; lb_die "initdb primary failed"; }
	wait "$is" || { sed 's/^/    /' "$STATE/pg/initdb-standby.log" >&2; lb_die "initdb standby failed"; }
	local walstore=
	if [ "${LINKBACKUP_STACK_ARCHIVE:-1}" != 0 ]; then
		walstore="file://$STATE/wal-archive"
		setup_archiving "$STATE/pg/primary" "$walstore"
	fi
	start_pg primary "$STATE/pg/primary" "$STATE/pg/primary.log"
	local pg1=$PORT
	start_pg standby "$STATE/pg/standby" "$STATE/pg/standby.log"
	local pg2=$PORT
	local dsn1="postgres://postgres:$pw@127.0.0.1:$pg1/postgres?sslmode=disable"
	local dsn2="postgres://postgres:$pw@127.0.0.1:$pg2/postgres?sslmode=disable"
	lb_pg_check "$dsn1" || lb_die "cannot log in to the primary with its password"
	lb_pg_check "$dsn2" || lb_die "cannot log in to the standby with its password"
	lb_log "PostgreSQL 15 primary :$pg1, standby :$pg2 ($(lb_since "$t1"))"

	t1=$(lb_now)
	S3_KEY=lbtest$(lb_random_hex 4)
	S3_SECRET=$(lb_random_hex 20)
	start_versitygw
	lb_log "versitygw :$S3_PORT ($(lb_since "$t1"))"
	t1=$(lb_now)
	start_mailpit
	lb_log "mailpit http :$HTTP_PORT smtp :$SMTP_PORT ($(lb_since "$t1"))"

	cat >"$STATE/env.tmp" <<EOF
# Test stack in $STATE (scripts/teststack.sh). Stop: scripts/teststack.sh stop $STATE
export LINKBACKUP_TEST_REQUIRE=1
export LINKBACKUP_TEST_PG_PRIMARY='$dsn1'
export LINKBACKUP_TEST_PG_STANDBY='$dsn2'
export LINKBACKUP_TEST_S3='http://127.0.0.1:$S3_PORT'
export LINKBACKUP_TEST_S3_ACCESS_KEY='$S3_KEY'
export LINKBACKUP_TEST_S3_SECRET_KEY='$S3_SECRET'
export LINKBACKUP_TEST_S3_ROOT='$STATE/s3'
export LINKBACKUP_TEST_SMTP='127.0.0.1:$SMTP_PORT'
export LINKBACKUP_TEST_MAILPIT='http://127.0.0.1:$HTTP_PORT'
export LINKBACKUP_TEST_BIN_DIR='$STATE/bin'
export LINKBACKUP_TEST_STACK_DIR='$STATE'
${walstore:+export LINKBACKUP_TEST_WAL_STORE='$walstore'}
export PATH='$LB_PGBIN':"\$PATH"
EOF
	mv "$STATE/env.tmp" "$STATE/env"
	lb_log "stack ready in $(lb_since "$t0"); env file $STATE/env"
}

cmd=${1:-}
[ $# -gt 0 ] && shift
case "$cmd" in
run)
	[ "${1:-}" = -- ] && shift
	[ $# -gt 0 ] || usage
	trap on_exit EXIT
	trap 'on_signal INT 130' INT
	trap 'on_signal TERM 143' TERM
	start_stack
	# shellcheck disable=SC1091
	. "$STATE/env"
	# CMD runs as its own process group (set -m) so a signal to this script can be passed
	# on to all of it (go test and its test binaries), and its stdin stays ours.
	set -m
	"$@" <&0 &
	CMD_PID=$!
	set +m
	set +e
	wait "$CMD_PID"
	rc=$?
	set -e
	CMD_PID=
	exit "$rc"
	;;
start)
	link=$LB_ROOT/.teststack/current
	if [ -L "$link" ] && [ -f "$link/$MARKER" ]; then
		lb_die "a stack is already running in $(readlink "$link"); run: make stack-stop"
	fi
	trap on_exit EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
	start_stack
	mkdir -p "$LB_ROOT/.teststack"
	ln -sfn "$STATE" "$link"
	KEEP=1
	echo "source $STATE/env"
	;;
stop)
	link=$LB_ROOT/.teststack/current
	dir=${1:-}
	if [ -z "$dir" ]; then
		[ -L "$link" ] || { lb_log "no stack recorded in $link"; exit 0; }
		dir=$(readlink "$link")
	fi
	if [ -d "$dir" ]; then
		stop_state "$dir"
		lb_log "stopped the stack in $dir"
	else
		lb_log "$dir is gone already"
	fi
	if [ -L "$link" ] && [ "$(readlink "$link")" = "$dir" ]; then rm -f "$link"; fi
	;;
tools)
	tools
	echo "$VERSITYGW"
	echo "$MAILPIT"
	;;
deps)
	deps
	lb_log "PostgreSQL 15 in $LB_PGBIN; xmllint and zstd present"
	;;
*) usage ;;
esac
