#!/usr/bin/env bash
# demo.sh (`make demo`) is a newcomer's tour in one command:
#
#   1. builds bin/linkbackup
#   2. starts a throwaway PostgreSQL 15 on a free 127.0.0.1 port (cluster in .demo/pg, or in
#      /tmp/linkbackup-demo.XXXXXX when the postgres user cannot reach .demo/)
#   3. creates database "bookmarks" and fills it: linkbackup dev gen --schema
#   4. the night: creates keys once (keygen), backs up encrypted and signed to .demo/store,
#      lists the snapshots, verifies the latest,
#      refreshes the standby copy "bookmarks_standby" (restore, prove every table, swap),
#      asks `status` whether the standby is ready, and ends with `forget --dry-run`
#      (keep_last 1, keep_daily 7): the decision table and its reasons (rerun the demo and
#      the older snapshots of the day show up as "remove"); then an application bug files a
#      link into another member's folder, and night 2's copy is refused by the drill's
#      invariant (exit 6): status CRITICAL names it, the standby keeps serving night 1
#   5. any time: a member deletes links; restores that member's rows into a scratch
#      database (dry run first), then into the live one
#   6. point in time: the cluster archives its WAL (wal_level = logical, archive_command =
#      linkbackup wal-push, encrypted and signed) into the store; a base backup; a nightly
#      whose point-in-time proof recovers base backup + WAL to exactly its snapshot and
#      compares every table; member 12 files new links, deletes all of them and gets them
#      back as of the second before, the new ones too (restore --member --to-time, dry run
#      first)
#   7. weekly: exports every opted-in premium member's bookmarks to .demo/export, then
#      emails them (River jobs + ledger in the same database) into the .eml outbox
#      .demo/outbox, and reruns the same week to show nobody is mailed twice; then starts
#      `linkbackup serve` for a moment and fetches the status page and one message's
#      unsubscribe page (DEMO_KEEP=1 keeps it up)
#   8. stops that PostgreSQL by PID and deletes its cluster (also on failure or Ctrl-C)
#
# One cluster plays primary and standby (two databases, --force-same-cluster) so the demo
# stays fast; in production the standby is another server.
#
# Rerunning is safe: the old cluster is wiped at start, with its WAL archive, base backups
# and point-in-time proofs in the store; the store in .demo/store is kept otherwise, so
# snapshots accumulate across runs (`scripts/demo.sh clean` removes all of .demo/).
#
# Environment: DEMO_MEMBERS (200), DEMO_LINKS (50 per member), DEMO_KEEP=1 leaves
# PostgreSQL and serve running at the end and prints how to reach and stop them.
#
# To add a step, append a `step "what it shows" COMMAND...` line in main below.
set -euo pipefail

LB_NAME=demo
# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

DEMO=$LB_ROOT/.demo
STORE_DIR=$DEMO/store
STORE=file://$STORE_DIR
BIN=$LB_ROOT/bin/linkbackup
MEMBERS=${DEMO_MEMBERS:-200}
LINKS=${DEMO_LINKS:-50}
PGSTATE= # directory holding the cluster (data/, log, pwfile, archive/)
PITR_STORE= # where the cluster archives: the demo store, or PGSTATE/store when the postgres user cannot write it
PG_PID=
SERVE_PID= # linkbackup serve, started by serve_demo
SERVE_PORT=

BOLD= PLAIN=
if [ -t 1 ]; then BOLD=$'\033[1m' PLAIN=$'\033[0m'; fi

# step TITLE CMD... prints what it is about to do and runs it; a failing step ends the demo.
STEP=0
step() {
	local title=$1 t0
	shift
	STEP=$((STEP + 1))
	printf '\n%s== %d. %s%s\n$ %s\n' "$BOLD" "$STEP" "$title" "$PLAIN" "$(redact "$*")"
	t0=$(lb_now)
	CURRENT="$STEP ($title)"
	"$@" # set -e: a failure ends the demo; cleanup names the step
	CURRENT=
	printf '   (%s)\n' "$(lb_since "$t0")"
}
CURRENT=

# redact hides the password of postgres:// URLs in printed commands.
redact() { sed -E 's#(postgres://[^:/@]+:)[^@]*@#\1***@#g' <<<"$1"; }

cleanup() {
	local rc=$?
	if [ "$rc" != 0 ] && [ -n "$CURRENT" ]; then
		lb_log "step $CURRENT failed (exit $rc); see the output above"
	fi
	if [ -n "$SERVE_PID" ] && [ -z "${DEMO_KEEP:-}" ]; then
		lb_stop_pid "linkbackup serve" "$SERVE_PID" TERM
	fi
	if [ -n "$PG_PID" ] && [ -z "${DEMO_KEEP:-}" ]; then
		lb_stop_pid postgres "$PG_PID" INT
		lb_log "stopped PostgreSQL (pid $PG_PID)"
	fi
	if [ -n "$PGSTATE" ] && [ -z "${DEMO_KEEP:-}" ]; then
		rm -rf "$PGSTATE"
	fi
	exit "$rc"
}

# stop_stale stops a postmaster left in DATADIR by an earlier demo that was killed, by the
# PID in its postmaster.pid, after checking that PID really is a postgres process.
stop_stale() {
	local pidfile=$1/postmaster.pid pid
	[ -f "$pidfile" ] || return 0
	pid=$(head -n1 "$pidfile")
	if [ -n "$pid" ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = postgres ]; then
		lb_log "stopping PostgreSQL left over from an earlier demo (pid $pid)"
		lb_stop_pid postgres "$pid" INT
	fi
}

# pick_pgstate sets PGSTATE to .demo/pg when the postgres user can reach it, else /tmp.
pick_pgstate() {
	stop_stale "$DEMO/pg/data"
	rm -rf "$DEMO/pg"
	mkdir -p "$DEMO/pg"
	chown postgres:postgres "$DEMO/pg" 2>/dev/null || true
	if lb_as_postgres test -w "$DEMO/pg" 2>/dev/null; then
		PGSTATE=$DEMO/pg
	else
		rm -rf "$DEMO/pg"
		PGSTATE=$(mktemp -d /tmp/linkbackup-demo.XXXXXX)
		chmod 755 "$PGSTATE"
		chown postgres:postgres "$PGSTATE"
		lb_log "the postgres user cannot reach $DEMO; the cluster goes to $PGSTATE"
	fi
	chmod 700 "$PGSTATE"
}

start_postgres() {
	local pw t0
	t0=$(lb_now)
	lb_ensure_postgres
	export PATH=$LB_PGBIN:$PATH
	pick_pgstate
	pw=$(lb_random_hex 12)
	printf '%s\n' "$pw" >"$PGSTATE/pwfile"
	chown postgres:postgres "$PGSTATE/pwfile"
	lb_pg_init "$PGSTATE/data" "$PGSTATE/pwfile" "$PGSTATE/initdb.log" ||
		{ sed 's/^/    /' "$PGSTATE/initdb.log" >&2; lb_die "initdb failed"; }
	setup_archiving
	lb_free_port
	PG_PORT=$LB_PORT
	# No Unix socket (-k ''): everything connects over TCP, and long paths do not matter.
	PG_PID=$(lb_pg_start "$PGSTATE/data" "$PG_PORT" "" "$PGSTATE/postgres.log") || lb_die "PostgreSQL did not start"
	ADMIN_DSN="postgres://postgres:$pw@127.0.0.1:$PG_PORT/postgres?sslmode=disable"
	DSN="postgres://postgres:$pw@127.0.0.1:$PG_PORT/bookmarks?sslmode=disable"
	lb_pg_check "$ADMIN_DSN" || lb_die "cannot log in to PostgreSQL on port $PG_PORT"
	lb_log "PostgreSQL $("$LB_PGBIN/postgres" --version | awk '{print $3}') on 127.0.0.1:$PG_PORT (pid $PG_PID, cluster $PGSTATE/data) in $(lb_since "$t0")"
}

# setup_archiving makes the cluster archive its WAL with linkbackup wal-push, encrypted to
# age.pub and signed with signing.key. archive_command runs as the postgres user, so it
# gets its own copies of the binary and those two keys (the backup host's files) where
# that user can read them, and archives into the demo store if it can write there, else
# into a store next to the cluster (deleted with it).
setup_archiving() {
	local arch=$PGSTATE/archive
	mkdir -m 700 "$arch"
	cp "$BIN" "$DEMO/keys/age.pub" "$DEMO/keys/signing.key" "$arch/"
	chown -R postgres:postgres "$arch"
	chmod 600 "$arch/signing.key"
	PITR_STORE=$STORE
	# This run's cluster is new (timeline 1 again, another system): the WAL, base backups
	# and proofs of an earlier run's cluster cannot serve it, and its segments would
	# collide with theirs (wal-push refuses a name archived with other content).
	rm -rf "$STORE_DIR/wal" "$STORE_DIR/base" "$STORE_DIR/pitr"
	chown postgres:postgres "$STORE_DIR" 2>/dev/null || true
	if ! lb_as_postgres test -w "$STORE_DIR" 2>/dev/null; then
		mkdir -m 700 "$PGSTATE/store"
		chown postgres:postgres "$PGSTATE/store"
		PITR_STORE=file://$PGSTATE/store
		lb_log "the postgres user cannot write $STORE_DIR; the WAL archive and the point-in-time steps use $PITR_STORE"
	fi
	cat >>"$PGSTATE/data/postgresql.conf" <<CONF
# scripts/demo.sh: archive WAL into the store; logical WAL gives snapshots an exact point
wal_level = logical
archive_mode = on
archive_command = '$arch/linkbackup wal-push %p --store $PITR_STORE --recipients-file $arch/age.pub --signing-key $arch/signing.key --log-level warn'
CONF
}

# archived_now switches to a new WAL segment and waits until the one it closed is archived.
archived_now() {
	local seg last i
	seg=$("$LB_PGBIN/psql" "$ADMIN_DSN" -XAtqc "SELECT pg_walfile_name(pg_switch_wal())")
	for i in $(seq 1 300); do
		last=$("$LB_PGBIN/psql" "$ADMIN_DSN" -XAtqc "SELECT coalesce(last_archived_wal, '') FROM pg_stat_archiver")
		if [[ "$last" > "$seg" || "$last" == "$seg" ]]; then
			printf '   segment %s archived\n' "$seg"
			return 0
		fi
		sleep 0.1
	done
	lb_log "segment $seg was not archived in 30 s; see $PGSTATE/postgres.log"
	return 1
}

# delete_member_links N: member N files 3 new links (after the night's snapshot: only the
# WAL has them), then, a second later, deletes all their links; AS_OF is the time between.
delete_member_links() {
	sql "$DSN" "INSERT INTO links (member_id, url, title) SELECT $1, 'https://new.example/' || g, 'filed today ' || g FROM generate_series(1, 3) g"
	AS_OF=$("$LB_PGBIN/psql" "$ADMIN_DSN" -XAtqc "SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')")
	printf '   %s links of member %s, as of %s\n' "$("$LB_PGBIN/psql" "$DSN" -XAtqc "SELECT count(*) FROM links WHERE member_id = $1")" "$1" "$AS_OF"
	sleep 1.1
	sql "$DSN" "DELETE FROM links WHERE member_id = $1"
	printf '   now %s\n' "$("$LB_PGBIN/psql" "$DSN" -XAtqc "SELECT count(*) FROM links WHERE member_id = $1")"
}

build() {
	(cd "$LB_ROOT" && go build -ldflags "-X main.version=$(git describe --always --dirty 2>/dev/null)" -o bin/linkbackup ./cmd/linkbackup)
}

createdb() { "$LB_PGBIN/psql" "$ADMIN_DSN" -XAqc "CREATE DATABASE $1"; }
# expect CODE CMD... runs CMD and fails unless it exits with CODE (a refusal the demo shows).
expect() {
	local want=$1 rc=0
	shift
	"$@" || rc=$?
	if [ "$rc" != "$want" ]; then
		lb_log "exit $rc, the demo expected $want"
		return 1
	fi
	printf '   (exit %s, as expected)\n' "$rc"
}
sql() { "$LB_PGBIN/psql" "$1" -XAq -v ON_ERROR_STOP=1 -c "$2"; }
scratch() {
	createdb bookmarks_scratch
	"$LB_PGBIN/psql" "${DSN/\/bookmarks\?/\/bookmarks_scratch?}" -XAq -v ON_ERROR_STOP=1 -f "$LB_ROOT/testdata/schema.sql"
}

# serve_demo starts `linkbackup serve` on the demo's store and database (by PID, in
# SERVE_PID; cleanup stops it unless DEMO_KEEP), fetches the status page and the
# unsubscribe page of the first message in the outbox (GET: it changes nothing).
serve_demo() {
	local i url
	lb_free_port
	SERVE_PORT=$LB_PORT
	"$BIN" serve --source "$DSN" --store "$STORE" --listen "127.0.0.1:$SERVE_PORT" --log-format json \
		>"$DEMO/serve.out" 2>"$DEMO/serve.log" &
	SERVE_PID=$!
	for i in $(seq 1 100); do
		curl -fsS "http://127.0.0.1:$SERVE_PORT/healthz" >/dev/null 2>&1 && break
		sleep 0.1
	done
	curl -fsS "http://127.0.0.1:$SERVE_PORT/" -o "$DEMO/status.html"
	printf '   GET /            %s bytes: %s\n' "$(wc -c <"$DEMO/status.html")" \
		"$(grep -o '<span class="state [A-Z]*"' "$DEMO/status.html" | head -n1 | sed 's/.*state //; s/"//')"
	url=$(grep -h -m1 '^List-Unsubscribe: <' "$DEMO"/outbox/*.eml | head -n1 | sed 's/^List-Unsubscribe: <https:\/\/[^/]*//; s/>.*//' | tr -d '\r')
	curl -fsS "http://127.0.0.1:$SERVE_PORT$url" -o "$DEMO/unsubscribe.html"
	printf '   GET %s  the page with the "Stop these emails" button (nothing changed)\n' "${url%%\?*}?t=…"
}

main() {
	cd "$LB_ROOT"
	trap cleanup EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
	mkdir -p "$DEMO" "$STORE_DIR"

	step "Build bin/linkbackup" build
	if [ ! -f "$DEMO/keys/age.key" ]; then
		step "Create the keys: an encryption pair and a signing pair (kept in $DEMO/keys across runs)" \
			"$BIN" keygen --out "$DEMO/keys"
	fi
	step "Start a throwaway PostgreSQL 15 (wal_level = logical, archiving its WAL with linkbackup wal-push)" start_postgres
	step "Create database bookmarks" createdb bookmarks
	step "Load testdata/schema.sql and generate $MEMBERS members x $LINKS links" \
		"$BIN" dev gen --dsn "$DSN" --schema --members "$MEMBERS" --links "$LINKS" --deleted-percent 0
	# Every command below reads its keys from the environment (config keys
	# encryption.* and signing.*): the backup encrypts and signs, readers decrypt and verify.
	export LINKBACKUP_ENCRYPTION_RECIPIENTS_FILE=$DEMO/keys/age.pub LINKBACKUP_SIGNING_KEY_FILE=$DEMO/keys/signing.key
	export LINKBACKUP_ENCRYPTION_IDENTITY_FILES=$DEMO/keys/age.key LINKBACKUP_SIGNING_VERIFY_KEYS=$DEMO/keys/signing.pub
	step "Back it up to $STORE (encrypted to age.pub, manifest signed with signing.key)" "$BIN" backup --source "$DSN" --store "$STORE"
	step "List the complete snapshots in the store" "$BIN" snapshots --store "$STORE"
	step "Verify the latest snapshot (re-read every object, check digests)" \
		"$BIN" verify --store "$STORE" latest
	step "Refresh the standby: restore into bookmarks_standby__incoming, prove every table, swap" \
		"$BIN" standby latest --store "$STORE" --standby "$ADMIN_DSN" --database bookmarks_standby --force-same-cluster --grace 2s
	step "Morning check: is the standby ready? (exit 0 OK, 1 WARNING, 2 CRITICAL)" \
		"$BIN" status --store "$STORE" --standby "$ADMIN_DSN" --database bookmarks_standby
	step "Retention: what would forget remove? (dry run; every decision with its reasons)" \
		"$BIN" forget --store "$STORE" --dry-run --keep-last 1 --keep-daily 7
	step "An application bug files a link into another member's folder" \
		sql "$DSN" "UPDATE links SET folder_id = (SELECT min(f.id) FROM folders f WHERE f.member_id <> links.member_id) WHERE id = (SELECT min(id) FROM links WHERE folder_id IS NOT NULL)"
	step "Night 2: back it up again" "$BIN" backup --source "$DSN" --store "$STORE"
	step "Night 2: the standby restores and proves the copy, the invariant link_in_foreign_folder refuses it (exit 6); bookmarks_standby keeps serving night 1" \
		expect 6 "$BIN" standby latest --store "$STORE" --standby "$ADMIN_DSN" --database bookmarks_standby --force-same-cluster --grace 2s
	step "Morning check: CRITICAL, naming the invariant and the link's id (never its content)" \
		expect 2 "$BIN" status --store "$STORE" --standby "$ADMIN_DSN" --database bookmarks_standby
	step "The operator runs the same checks on production" \
		expect 6 "$BIN" check --target "$DSN" --store "$STORE" --database bookmarks_standby
	step "The bug is fixed and the row repaired" \
		sql "$DSN" "UPDATE links l SET folder_id = NULL FROM folders f WHERE f.id = l.folder_id AND f.member_id <> l.member_id"
	step "Member 7 deletes their links (on the live database)" \
		sql "$DSN" "DELETE FROM links WHERE member_id = 7"
	step "Create a scratch database with the bookmark schema" scratch
	step "What would restoring member 7 into the scratch database do? (dry run)" \
		"$BIN" restore latest --store "$STORE" --target "${DSN/\/bookmarks\?/\/bookmarks_scratch?}" --member 7 --dry-run
	step "Restore member 7 into the scratch database" \
		"$BIN" restore latest --store "$STORE" --target "${DSN/\/bookmarks\?/\/bookmarks_scratch?}" --member 7
	step "Restore member 7's links into the live database (nobody else's rows are touched)" \
		"$BIN" restore latest --store "$STORE" --target "$DSN" --member 7
	step "Point in time: a physical base backup of the cluster into $PITR_STORE (encrypted, signed)" \
		"$BIN" basebackup --source "$DSN" --store "$PITR_STORE"
	step "A night with the point-in-time proof: backup, then base backup + WAL recovered to exactly that snapshot's WAL point and every table compared" \
		env LINKBACKUP_SOURCE="$DSN" LINKBACKUP_STORE="$PITR_STORE" "$BIN" nightly
	step "Morning check of that store: point-in-time recovery proven to …" \
		"$BIN" status --store "$PITR_STORE"
	step "Member 12 files 3 new links (in no snapshot, only in the WAL), then deletes all their links" delete_member_links 12
	step "The WAL of the deletion reaches the archive (pg_switch_wal; archive_timeout does it in production)" archived_now
	step "What would restoring member 12 as of the second before the deletion do? (dry run; a scratch cluster recovered to that time)" \
		"$BIN" restore --member 12 --to-time "$AS_OF" --target "$DSN" --store "$PITR_STORE" --dry-run
	step "Restore member 12's links as of that second into the live database" \
		"$BIN" restore --member 12 --to-time "$AS_OF" --target "$DSN" --store "$PITR_STORE"
	step "Weekly: export every opted-in premium member's bookmarks (HTML + XBEL, zipped)" \
		"$BIN" export --source "$DSN" --out "$DEMO/export"
	rm -rf "$DEMO/outbox"
	export LINKBACKUP_MAIL_UNSUBSCRIBE_URL='https://linkagogo.example/unsubscribe?t={token}'
	export LINKBACKUP_MAIL_UNSUBSCRIBE_SECRET=demo-secret-not-for-production
	step "Weekly: email each of them their backup (file:// outbox: one .eml per member)" \
		"$BIN" export --mail --source "$DSN" --mailer "file://$DEMO/outbox" --from "LinkaGoGo <backup@linkagogo.example>"
	step "Rerun the same week: everyone is already sent, nobody is mailed twice" \
		"$BIN" export --mail --source "$DSN" --mailer "file://$DEMO/outbox" --from "LinkaGoGo <backup@linkagogo.example>"
	step "linkbackup serve: the operator status page and a message's one-click unsubscribe page" serve_demo

	local manifest
	manifest=$(find "$STORE_DIR" -name manifest.json -printf '%T@ %p\n' 2>/dev/null | sort -n | tail -n1 | cut -d' ' -f2-)
	printf '\n%s== Done.%s Where to look:\n' "$BOLD" "$PLAIN"
	printf '  store           %s  (kept across runs; scripts/demo.sh clean removes it)\n' "$STORE_DIR"
	printf '  latest manifest %s\n' "${manifest:-(none found)}"
	printf '  member exports  %s  (unzip one: unzip -l %s)\n' "$DEMO/export" "$(ls "$DEMO"/export/*.zip 2>/dev/null | head -n1)"
	printf '  mail outbox     %s  (%s .eml files; open one in a mail client, or: less %s)\n' "$DEMO/outbox" \
		"$(ls "$DEMO"/outbox/*.eml 2>/dev/null | wc -l)" "$(ls "$DEMO"/outbox/*.eml 2>/dev/null | head -n1)"
	printf '  binary          %s --help\n' "$BIN"
	printf '  serve           %s serve --source DSN --store %s   then open http://127.0.0.1:8080/\n' "$BIN" "$STORE"
	if [ -n "${DEMO_KEEP:-}" ]; then
		printf '  serve (running) http://127.0.0.1:%s/  (stop it with kill -TERM %s)\n' "$SERVE_PORT" "$SERVE_PID"
		printf '  PostgreSQL      %s\n' "$(redact "$DSN")  (password in $PGSTATE/pwfile)"
		printf '  stop it with    kill -INT %s && rm -rf %s\n' "$PG_PID" "$PGSTATE"
	else
		printf '  PostgreSQL      stopped and its cluster deleted (DEMO_KEEP=1 keeps it running)\n'
	fi
}

case "${1:-}" in
"") main ;;
clean)
	stop_stale "$DEMO/pg/data"
	rm -rf "$DEMO"
	lb_log "removed $DEMO"
	;;
*) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2; exit 2 ;;
esac
