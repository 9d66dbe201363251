#!/usr/bin/env bash
# scripts/bench-wal.sh: the point-in-time recovery benchmarks of issue 15, side by side with
# what an operator would do by hand, in one run on one private PostgreSQL 15 cluster. Prints
# the BENCHMARKS.md section "Point-in-time recovery (issue 15)" on stdout (only when every
# step succeeded); progress on stderr. make bench runs it (BENCH_WAL=0 skips it); it needs
# no test stack and can run alone: `bash scripts/bench-wal.sh > /tmp/wal-section.md`.
#
#   archive: BENCH_WAL_SEGMENTS (default 32) 16 MiB segments of real WAL (bookmark-like
#            INSERTs), pushed by an emulated archiver: the segments, copied out of pg_wal with
#            their archive_status/*.ready files, are handed one at a time in PostgreSQL's order
#            to the archive_command, which gets %p = pg_wal/X from the data directory, and a
#            .ready becomes .done after exit 0, exactly as the archiver does (run outside the
#            server so that every mode pushes the same bytes). Modes, alternating each round:
#              linkbackup wal-push --parallel 1 | 2 | 4 (age-encrypted + signed, file store)
#              anchor: zstd -1 -q %p -o DIR/%f.zst && sync DIR/%f.zst (compressed, durable)
#            and, under the test stack (make bench: LINKBACKUP_TEST_S3 set), wal-push --parallel
#            1 | 2 | 4 into versitygw
#   base:    linkbackup basebackup (encrypted + signed, file store)  vs  pg_basebackup -c fast -Ft
#            -D DIR (uncompressed tar + streamed WAL)  vs  pg_basebackup -c fast -Ft -X none -D - |
#            zstd -1 (-c fast everywhere: linkbackup asks for a fast checkpoint too)
#            of a generated bookmark database (BENCH_WAL_MEMBERS x 200 links, default 1500)
#   recover: to an LSN after the archive benchmark's WAL (BENCH_WAL_SEGMENTS segments and more
#            to replay): linkbackup restore --to-lsn L --pgdata DIR --start --port N (fetch,
#            decrypt, pg_verifybackup, replay through wal-fetch, promote)  vs  by hand: untar
#            the pg_basebackup -Ft tar (+ pg_wal.tar), recovery.signal, restore_command =
#            'cp ARCHIVE/%f %p', recovery_target_lsn, recovery_target_action = promote,
#            pg_ctl start, wait until pg_is_in_recovery() is false
# BENCH_WAL_ROUNDS rounds (default 3), medians; load average recorded before and after.
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${BENCH_WAL_ROUNDS:-3}
SEGS=${BENCH_WAL_SEGMENTS:-32}
MEMBERS=${BENCH_WAL_MEMBERS:-1500}
PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
export PATH=$PGBIN:$PATH
log() { printf 'bench-wal: %s\n' "$*" >&2; }

WORK=$(mktemp -d /tmp/linkbackup-benchwal.XXXXXX)
chmod 755 "$WORK"
PGPID=""
RECPIDS=()
cleanup() {
	for d in "${RECPIDS[@]}"; do asowner pg_ctl -D "$d" -m immediate stop >/dev/null 2>&1 || true; done
	[ -n "$PGPID" ] && asowner pg_ctl -D "$WORK/data" -m immediate stop >/dev/null 2>&1 || true
	rm -rf "$WORK"
}
trap cleanup EXIT
# PostgreSQL refuses to run as root: its commands run as the postgres user then.
asowner() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
own() { if [ "$(id -u)" = 0 ]; then chown -R postgres:postgres "$@"; fi; }
freeport() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN {printf "%.2f", b - a}'; }
median() { sort -n | awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else printf "%.2f\n", (a[NR/2]+a[NR/2+1])/2}'; }
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)

go build -o "$WORK/linkbackup" ./cmd/linkbackup
LB=$WORK/linkbackup
"$LB" keygen --out "$WORK/keys" >/dev/null
own "$WORK/keys"
KEYS_W="--recipients-file $WORK/keys/age.pub --signing-key $WORK/keys/signing.key"
KEYS_R="--identity $WORK/keys/age.key --verify-key $WORK/keys/signing.pub"
mkdir -p "$WORK/store" "$WORK/cparchive"
own "$WORK/store" "$WORK/cparchive"
STORE=file://$WORK/store

# The cluster: archives every segment twice, into the linkbackup store (the real
# archive_command, parallel 2) and as a plain copy for the by-hand recovery.
cat >"$WORK/archive.sh" <<EOF
#!/usr/bin/env bash
set -e
$LB wal-push "\$1" --store $STORE $KEYS_W --parallel 2 --log-level warn
test -f $WORK/cparchive/\$2 || { cp "\$1" $WORK/cparchive/.\$2.tmp && mv $WORK/cparchive/.\$2.tmp $WORK/cparchive/\$2; }
EOF
chmod 755 "$WORK/archive.sh"
PORT=$(freeport)
mkdir "$WORK/data" "$WORK/sock" "$WORK/logs"
own "$WORK/data" "$WORK/sock" "$WORK/logs"
asowner initdb -D "$WORK/data" -U postgres -E UTF8 --locale=C.UTF-8 --auth-local=trust --auth-host=trust --no-sync >/dev/null
cat >>"$WORK/data/postgresql.conf" <<EOF
listen_addresses = '127.0.0.1'
port = $PORT
unix_socket_directories = '$WORK/sock'
archive_mode = on
archive_command = '$WORK/archive.sh %p %f'
max_wal_size = 4GB
fsync = on
EOF
asowner pg_ctl -D "$WORK/data" -l "$WORK/logs/pg.log" -w start >/dev/null
PGPID=$(head -1 "$WORK/data/postmaster.pid")
DSN="postgres://postgres@127.0.0.1:$PORT/postgres?sslmode=disable"
BDSN="postgres://postgres@127.0.0.1:$PORT/bookmarks?sslmode=disable"
q() { psql -qXAt "$DSN" -c "$1"; }
wait_archived() { # wait until the archiver has archived every ready segment
	local seg
	seg=$(q "SELECT pg_walfile_name(pg_current_wal_lsn())")
	q "SELECT pg_switch_wal()" >/dev/null
	until [ "$(q "SELECT coalesce(last_archived_wal, '') >= '$seg' FROM pg_stat_archiver")" = t ]; do sleep 0.2; done
}

q "CREATE DATABASE bookmarks" >/dev/null
log "generating $MEMBERS members x 200 links"
"$LB" dev gen --dsn "$BDSN" --schema --members "$MEMBERS" --links 200 >&2
psql -qX "$BDSN" -c "VACUUM ANALYZE" >/dev/null
DBSIZE=$(psql -qXAt "$BDSN" -c "SELECT pg_database_size(current_database())")
wait_archived

: >"$WORK/results"
# CPU seconds (user + sys) of this shell's waited-for children so far: the client side
# (wal-push, zstd, pg_basebackup, linkbackup), not the server's backends.
# Sets CPU (not in a $(...) subshell: a subshell has no children of its own yet).
child_cpu() {
	times >"$WORK/times"
	CPU=$(tail -1 "$WORK/times" | awk '{split($1, a, /[ms]/); split($2, b, /[ms]/); printf "%.2f", a[1]*60 + a[2] + b[1]*60 + b[2]}')
}
timed() { # timed NAME CMD...: appends "NAME seconds client-cpu-seconds" to results
	local name=$1 t0 c0
	shift
	child_cpu
	c0=$CPU
	t0=$(now)
	"$@" >"$WORK/cmd.out" 2>"$WORK/cmd.err" || {
		log "$name failed:"
		cat "$WORK/cmd.out" "$WORK/cmd.err" >&2
		exit 1
	}
	local wall
	wall=$(since "$t0")
	child_cpu
	echo "$name $wall $(awk -v a="$c0" -v b="$CPU" 'BEGIN {printf "%.2f", b - a}')" >>"$WORK/results"
	log "$name: $(tail -1 "$WORK/results" | cut -d' ' -f2-) (s, client cpu-s)"
}

# --- base backups, alternating
for r in $(seq 1 "$ROUNDS"); do
	timed base_linkbackup "$LB" basebackup --log-level warn --source "$BDSN" --store "$STORE" $KEYS_W
	rm -rf "$WORK/pgbb"
	timed base_pgbasebackup pg_basebackup -d "$DSN" -c fast -Ft -D "$WORK/pgbb"
	timed base_pgbasebackup_zstd bash -c "set -o pipefail; pg_basebackup -d '$DSN' -c fast -Ft -X none -D - | zstd -1 -q -o '$WORK/pgbb.tar.zst' -f"
	rm -f "$WORK/pgbb.tar.zst"
done
BASESIZE=$(du -sb "$WORK/store/base" | awk '{print $1}')
PGBBSIZE=$(du -sb "$WORK/pgbb" | awk '{print $1}')
wait_archived

# --- WAL of the archive benchmark: archiving paused (an empty archive_command keeps
# every segment ready), SEGS segments of INSERTs, copied out with their .ready files.
q "ALTER SYSTEM SET archive_command = ''" >/dev/null
q "SELECT pg_reload_conf()" >/dev/null
sleep 1
psql -qX "$BDSN" -c "CREATE TABLE IF NOT EXISTS walbench (id bigserial PRIMARY KEY, member_id int, url text, title text, created timestamptz DEFAULT now())" >/dev/null
startseg=$(q "SELECT pg_walfile_name(pg_current_wal_lsn())")
log "writing $SEGS segments of WAL (from $startseg)"
while :; do
	psql -qX "$BDSN" -c "INSERT INTO walbench (member_id, url, title) SELECT (random()*5000)::int, 'https://example' || (random()*1000)::int || '.test/' || md5(g::text || random()::text), 'title ' || md5(random()::text) FROM generate_series(1, 20000) g" >/dev/null
	cur=$(q "SELECT pg_walfile_name(pg_current_wal_lsn())")
	n=$(ls "$WORK/data/pg_wal/archive_status" | grep -c '\.ready$' || true)
	[ "$n" -ge "$SEGS" ] && break
done
mkdir -p "$WORK/walsrc/pg_wal/archive_status"
ls "$WORK/data/pg_wal/archive_status" | grep '\.ready$' | sed 's/\.ready$//' | sort | head -n "$SEGS" >"$WORK/segs"
while read -r s; do cp "$WORK/data/pg_wal/$s" "$WORK/walsrc/pg_wal/$s"; done <"$WORK/segs"
RAWBYTES=$(du -cb "$WORK"/walsrc/pg_wal/0* | tail -1 | awk '{print $1}')
# The recovery target: after that WAL, with more rows after it.
psql -qX "$BDSN" -c "INSERT INTO walbench (member_id, url, title) VALUES (0, 'target', 'target')" >/dev/null
TARGET_LSN=$(q "SELECT pg_current_wal_lsn()")
TARGET_ROWS=$(psql -qXAt "$BDSN" -c "SELECT count(*) FROM walbench")
psql -qX "$BDSN" -c "INSERT INTO walbench (member_id, url, title) SELECT 1, 'after', 'after' FROM generate_series(1, 1000)" >/dev/null
q "ALTER SYSTEM SET archive_command = '$WORK/archive.sh %p %f'" >/dev/null
q "SELECT pg_reload_conf()" >/dev/null
log "archiving the server's own backlog (for the recovery benchmark)"
wait_archived

# --- archive throughput: the emulated archiver over the same segments for every mode
archiver() { # archiver MODE: one archive_command per ready file, in PostgreSQL's order
	local mode=$1 s
	rm -rf "$WORK/walrun" "$WORK/dest"
	cp -a "$WORK/walsrc" "$WORK/walrun"
	mkdir -p "$WORK/dest"
	for s in $(cat "$WORK/segs"); do touch "$WORK/walrun/pg_wal/archive_status/$s.ready"; done
	pushd "$WORK/walrun" >/dev/null
	for s in $(ls pg_wal/archive_status | grep '\.ready$' | sed 's/\.ready$//' | sort); do
		case $mode in
		zstd) zstd -1 -q "pg_wal/$s" -o "$WORK/dest/$s.zst" && sync "$WORK/dest/$s.zst" ;;
		lb*) "$LB" wal-push "pg_wal/$s" --store "file://$WORK/dest" $KEYS_W --parallel "${mode#lb}" --log-level warn ;;
		s3_*) "$LB" wal-push "pg_wal/$s" --store "$S3STORE" $KEYS_W --parallel "${mode#s3_}" --log-level warn ;;
		esac
		mv "pg_wal/archive_status/$s.ready" "pg_wal/archive_status/$s.done"
	done
	popd >/dev/null
}
# Under the test stack (make bench), the same into versitygw (S3 over loopback HTTP), a fresh
# bucket per run.
MODES="lb1 zstd lb2 lb4"
if [ -n "${LINKBACKUP_TEST_S3:-}" ]; then
	MODES="$MODES s3_1 s3_2 s3_4"
	export AWS_ACCESS_KEY_ID=$LINKBACKUP_TEST_S3_ACCESS_KEY AWS_SECRET_ACCESS_KEY=$LINKBACKUP_TEST_S3_SECRET_KEY
fi
for r in $(seq 1 "$ROUNDS"); do
	for mode in $MODES; do
		if [ "${mode#s3_}" != "$mode" ]; then
			bucket=benchwal-$r-${mode#s3_}-$$
			mkdir -p "$LINKBACKUP_TEST_S3_ROOT/$bucket"
			S3STORE="s3://$bucket/lb?endpoint=$LINKBACKUP_TEST_S3&path_style=true&region=us-east-1"
		fi
		timed "archive_$mode" archiver "$mode"
		du -sb "$WORK/dest" | awk '{print $1}' >"$WORK/size_$mode"
		if [ "${mode#s3_}" != "$mode" ]; then
			du -sb "$LINKBACKUP_TEST_S3_ROOT/$bucket" | awk '{print $1}' >"$WORK/size_$mode"
			rm -rf "${LINKBACKUP_TEST_S3_ROOT:?}/$bucket"
		fi
	done
done
rm -rf "$WORK/walrun" "$WORK/dest"

# --- recovery to TARGET_LSN, alternating
recover_lb() {
	local dir=$1 port=$2
	"$LB" restore --to-lsn "$TARGET_LSN" --pgdata "$dir" --start --port "$port" --store "$STORE" $KEYS_R --log-level warn
}
recover_hand() {
	local dir=$1 port=$2
	tar -xf "$WORK/pgbb/base.tar" -C "$dir"
	tar -xf "$WORK/pgbb/pg_wal.tar" -C "$dir/pg_wal"
	touch "$dir/recovery.signal"
	cat >>"$dir/postgresql.auto.conf" <<EOF
restore_command = 'cp $WORK/cparchive/%f %p'
recovery_target_lsn = '$TARGET_LSN'
recovery_target_action = 'promote'
port = $port
listen_addresses = ''
unix_socket_directories = '$WORK/sock'
archive_mode = off
EOF
	own "$dir"
	chmod 700 "$dir"
	asowner pg_ctl -D "$dir" -l "$WORK/logs/$(basename "$dir").log" -w start >/dev/null
	until [ "$(psql -qXAt -h "$WORK/sock" -p "$port" -U postgres -d postgres -c 'SELECT NOT pg_is_in_recovery()' 2>/dev/null)" = t ]; do sleep 0.1; done
}
for r in $(seq 1 "$ROUNDS"); do
	for mode in lb hand; do
		dir=$WORK/rec_${mode}_$r
		mkdir "$dir"
		own "$dir"
		chmod 700 "$dir"
		port=$(freeport)
		RECPIDS+=("$dir")
		timed "recover_$mode" "recover_$mode" "$dir" "$port"
		sock=$WORK/sock
		[ "$mode" = lb ] && sock=$(grep -o 'socket in [^ ]*' "$WORK/cmd.out" | head -1 | awk '{print $3}')
		got=$(psql -qXAt -h "$sock" -p "$port" -U postgres -d bookmarks -c "SELECT count(*) FROM walbench")
		[ "$got" = "$TARGET_ROWS" ] || {
			log "recover_$mode reached $got rows, want $TARGET_ROWS"
			exit 1
		}
		asowner pg_ctl -D "$dir" -m immediate stop >/dev/null
		rm -rf "$dir"
	done
done
RECPIDS=()
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)

col() { awk -v n="$1" -v c="${2:-2}" '$1==n {print $c}' "$WORK/results"; }
mib() { awk -v b="$1" 'BEGIN {printf "%.0f", b/1048576}'; }
{
	echo "## Point-in-time recovery (issue 15)"
	echo
	echo "Produced by \`scripts/bench-wal.sh\` (also run by \`make bench\`; BENCH_WAL=0 skips it) on $(date -u '+%Y-%m-%d %H:%M UTC'),"
	echo "commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown), $(nproc) cores, PostgreSQL $(q 'SHOW server_version' | awk '{print $1}'), one private cluster (fsync on)."
	echo "Load average (1, 5, 15 min) before: $LOAD_BEFORE; after: $LOAD_AFTER. $ROUNDS rounds, the tools alternating; medians."
	echo "Command: \`BENCH_WAL_ROUNDS=$ROUNDS BENCH_WAL_SEGMENTS=$SEGS BENCH_WAL_MEMBERS=$MEMBERS bash scripts/bench-wal.sh\`"
	echo
	echo "### Archive throughput: $SEGS segments of 16 MiB ($(mib "$RAWBYTES") MiB of INSERT WAL)"
	echo
	echo "The segments are real WAL of this cluster, copied out of pg_wal with their .ready files and handed"
	echo "to each archive_command one at a time in PostgreSQL's order (%p = pg_wal/X, cwd = the data"
	echo "directory, .ready renamed .done after exit 0), as PostgreSQL's archiver does, so that every mode"
	echo "pushes the same bytes. linkbackup: age-encrypted, records signed, file store on the same disk."
	echo
	echo "| archive_command | seconds (median) | segments/s | ratio vs zstd -1 | client CPU-s (median) | stored MiB |"
	echo "|---|---|---|---|---|---|"
	zs=$(col archive_zstd | median)
	for mode in zstd ${MODES/zstd /}; do
		case $mode in
		zstd) label="\`zstd -1 -q %p -o DIR/%f.zst && sync DIR/%f.zst\` (anchor)" ;;
		lb1) label="\`linkbackup wal-push %p --parallel 1\` (one file per call)" ;;
		lb2) label="\`linkbackup wal-push %p --parallel 2\` (the default)" ;;
		lb4) label="\`linkbackup wal-push %p --parallel 4\`" ;;
		s3_*) label="\`linkbackup wal-push %p --parallel ${mode#s3_}\` into versitygw (S3, loopback)" ;;
		esac
		s=$(col "archive_$mode" | median)
		awk -v l="$label" -v s="$s" -v n="$SEGS" -v z="$zs" -v c="$(col "archive_$mode" 3 | median)" -v sz="$(cat "$WORK/size_$mode")" \
			'BEGIN {printf "| %s | %s | %.1f | %.2f | %s | %.0f |\n", l, s, n/s, s/z, c, sz/1048576}'
	done
	echo
	echo "### Base backup: bookmarks database of $MEMBERS members x 200 links ($(mib "$DBSIZE") MiB; the cluster $(mib "$PGBBSIZE") MiB as pg_basebackup writes it)"
	echo
	echo "| command | seconds (median) | ratio vs pg_basebackup -Ft -D DIR | client CPU-s (median) |"
	echo "|---|---|---|---|"
	pb=$(col base_pgbasebackup | median)
	for t in base_linkbackup base_pgbasebackup base_pgbasebackup_zstd; do
		case $t in
		base_linkbackup) label="\`linkbackup basebackup --source DSN --store file://…\` (zstd, age, signed manifest; $(mib $((BASESIZE / ROUNDS))) MiB each)" ;;
		base_pgbasebackup) label="\`pg_basebackup -c fast -Ft -D DIR\` (uncompressed, WAL streamed)" ;;
		base_pgbasebackup_zstd) label="\`pg_basebackup -c fast -Ft -X none -D - \\| zstd -1\` → file (waits for the archive like linkbackup)" ;;
		esac
		s=$(col "$t" | median)
		awk -v l="$label" -v s="$s" -v b="$pb" -v c="$(col "$t" 3 | median)" 'BEGIN {printf "| %s | %s | %.2f | %s |\n", l, s, s/b, c}'
	done
	echo
	echo "### Recovery to a point: LSN $TARGET_LSN, after the $SEGS segments above (plus the base backups' WAL) to replay"
	echo
	echo "Both end promoted with exactly the rows up to the target ($TARGET_ROWS in walbench; checked every round)."
	echo
	echo "| how | seconds (median) | ratio vs by hand |"
	echo "|---|---|---|"
	hd=$(col recover_hand | median)
	for t in recover_lb recover_hand; do
		case $t in
		recover_lb) label="\`linkbackup restore --to-lsn L --pgdata DIR --start --port N\` (download, decrypt, pg_verifybackup, the WAL fetched, checked and decrypted a few segments ahead of replay, promote)" ;;
		recover_hand) label="by hand: untar \`pg_basebackup -Ft\` output, recovery.signal, \`restore_command = 'cp ARCHIVE/%f %p'\`, recovery_target_lsn, promote, \`pg_ctl start\`" ;;
		esac
		s=$(col "$t" | median)
		awk -v l="$label" -v s="$s" -v b="$hd" 'BEGIN {printf "| %s | %s | %.2f |\n", l, s, s/b}'
	done
	echo
	echo "Client CPU-s: user + system time of the commands and their children (wal-push processes, zstd,"
	echo "pg_basebackup, tar, linkbackup restore), not the server's: the replay (and wal-fetch, which the server runs) is not in it."
	echo "On 2 shared cores the CPU figures move less than the wall times."
	echo
	echo "Raw rounds (name, seconds, client CPU-s):"
	echo
	echo '```'
	cat "$WORK/results"
	echo '```'
} >"$WORK/section.md"
cat "$WORK/section.md"
log "done"
