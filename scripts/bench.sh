#!/usr/bin/env bash
# scripts/bench.sh (`make bench`): measures linkbackup side by side with the tools an
# operator would use instead, in the same run on the same machine, and writes BENCHMARKS.md.
#
#   backup: linkbackup backup -> versitygw (S3)   vs  pg_dump -Fc -Z0 | zstd -1 > file
#                                                 vs  pg_dump -Fd -j2 (gzip default)
#   (both linkbackup rows also run with --copy-format text, to show what binary COPY buys)
#   standby: linkbackup standby (restore + prove every table + swap) from versitygw into the
#            standby cluster                      vs  pg_restore -j2 of the pg_dump -Fd dump
#   export:  go test -bench BenchmarkExport ./export/ (render + zip per member, 200 links),
#            BENCH_EXPORT_COUNT runs (default 5), medians
#   forget:  go test -bench BenchmarkForget1000 ./backup/ (1,000 snapshots in a file store,
#            GFS policy; store requests per run), -benchtime 3x, BENCH_FORGET_COUNT runs (3)
#   trust:   go test -bench BenchmarkTrust ./backup/ (backup and restore+proof of the same database,
#            plain vs encrypted (age) + signed (Ed25519), file store), -benchtime 3x,
#            BENCH_TRUST_ROUNDS alternating rounds (3), medians of each side
#   mail:    scripts/bench-mail.sh --inner (10,000 members to mailpit; BENCH_MAIL=0 skips it),
#            its result lines and BENCHMARKS-mail.md's analysis
#   on generated bookmark databases of two sizes (BENCH_MEMBERS, default "3750 15000";
#   x 200 links each, the larger is ~1 GB), BENCH_ROUNDS rounds (default 3), medians.
#   Peak RSS from GNU time (%M) of each command.
#
# The stack (PostgreSQL 15, versitygw) comes from scripts/teststack.sh and is stopped by PID.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${LINKBACKUP_TEST_STACK_DIR:-}" ]; then
	# The stack's primary would archive every benchmark's WAL through linkbackup: off here.
	LINKBACKUP_STACK_ARCHIVE=${LINKBACKUP_STACK_ARCHIVE:-0} exec bash scripts/teststack.sh run -- bash "$0" "$@"
fi
ROUNDS=${BENCH_ROUNDS:-3}
MEMBERS=${BENCH_MEMBERS:-"3750 15000"}
LINKS=${BENCH_LINKS:-200}
OUT=${BENCH_OUT:-BENCHMARKS.md}
WORK=$(mktemp -d /tmp/linkbackup-bench.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
log() { printf 'bench: %s\n' "$*" >&2; }

go build -o "$WORK/linkbackup" ./cmd/linkbackup
LB=$WORK/linkbackup
export AWS_ACCESS_KEY_ID=$LINKBACKUP_TEST_S3_ACCESS_KEY AWS_SECRET_ACCESS_KEY=$LINKBACKUP_TEST_S3_SECRET_KEY
admin=$LINKBACKUP_TEST_PG_PRIMARY
sbadmin=$LINKBACKUP_TEST_PG_STANDBY
dsn_of() { printf '%s' "${admin/\/postgres\?/\/$1?}"; }
sbdsn_of() { printf '%s' "${sbadmin/\/postgres\?/\/$1?}"; }

# Server processes whose CPU counts with the tool that uses them: a postmaster's
# cutime/cstime grows by the CPU of every backend it reaps, versitygw's own time by its work.
pid_of() { awk -v n="$1" '$1 == n {print $2}' "$LINKBACKUP_TEST_STACK_DIR/pids"; }
PRIMARY_PM=$(pid_of postgres-primary)
STANDBY_PM=$(pid_of postgres-standby)
VERSITYGW=$(pid_of versitygw)
cpu_of() { # CPU seconds of the listed pids, children included
	local t=0 p
	for p in "$@"; do
		t=$(awk -v t="$t" -v hz="$(getconf CLK_TCK)" '{printf "%.2f", t + ($14+$15+$16+$17)/hz}' "/proc/$p/stat")
	done
	echo "$t"
}

# timed NAME "PIDS" CMD...: appends "NAME seconds maxrss_kib cpu_seconds" to $WORK/results,
# cpu_seconds = the command's own user+sys + what the server pids used meanwhile.
timed() {
	local name=$1 pids=$2
	shift 2
	local before after wall rss user sys
	# shellcheck disable=SC2086
	before=$(cpu_of $pids)
	/usr/bin/time -f "%e %M %U %S" -o "$WORK/time" "$@" >"$WORK/cmd.out" 2>"$WORK/cmd.err" || {
		log "$name failed:"
		cat "$WORK/cmd.err" >&2
		exit 1
	}
	sleep 1 # backends exit after their client: let the postmaster reap them
	# shellcheck disable=SC2086
	after=$(cpu_of $pids)
	read -r wall rss user sys <"$WORK/time"
	echo "$name $wall $rss $(awk -v u="$user" -v s="$sys" -v a="$before" -v b="$after" 'BEGIN {printf "%.2f", u + s + b - a}')" >>"$WORK/results"
	log "$name: $(tail -1 "$WORK/results") (s, KiB, cpu-s)"
}

: >"$WORK/results"
declare -A DBSIZE
for m in $MEMBERS; do
	db=bench_$m
	psql -qX "$admin" -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" >/dev/null
	dsn=$(dsn_of "$db")
	log "generating $m members x $LINKS links"
	"$LB" dev gen --dsn "$dsn" --schema --members "$m" --links "$LINKS" >&2
	psql -qX "$dsn" -c "VACUUM ANALYZE" >/dev/null
	DBSIZE[$m]=$(psql -qXAt "$dsn" -c "SELECT pg_database_size(current_database())")
	log "database $db: ${DBSIZE[$m]} bytes"
	for r in $(seq 1 "$ROUNDS"); do
		bucket=bench-$m-$r
		mkdir -p "$LINKBACKUP_TEST_S3_ROOT/$bucket"
		store="s3://$bucket/lb?endpoint=$LINKBACKUP_TEST_S3&path_style=true&region=us-east-1"
		timed "linkbackup.$m" "$PRIMARY_PM $VERSITYGW" "$LB" backup --log-level warn --source "$dsn" --store "$store"
		"$LB" snapshots --json --store "$store" |
			grep -o '"stored_bytes": [0-9]*' | tail -1 | awk '{print $2}' >"$WORK/lbsize.$m"
		timed "standby.$m" "$STANDBY_PM $VERSITYGW" "$LB" standby --log-level warn --store "$store" --standby "$sbadmin" --database "bench_sb_$m" --jobs 2
		# Swap time: from the standby record (seconds from "verified" to "serving").
		psql -qXAt "$sbadmin" -c "SELECT (substr(shobj_description(oid, 'pg_database'), length('linkbackup:standby ') + 1)::jsonb ->> 'swap_seconds') FROM pg_database WHERE datname = 'bench_sb_$m'" >>"$WORK/swap.$m"
		rm -rf "${LINKBACKUP_TEST_S3_ROOT:?}/$bucket"
		# The same with every table in COPY text (backup.copy_format: text), into another
		# standby database: what the binary format buys.
		mkdir -p "$LINKBACKUP_TEST_S3_ROOT/$bucket-text"
		tstore="s3://$bucket-text/lb?endpoint=$LINKBACKUP_TEST_S3&path_style=true&region=us-east-1"
		timed "linkbackup_text.$m" "$PRIMARY_PM $VERSITYGW" "$LB" backup --log-level warn --copy-format text --source "$dsn" --store "$tstore"
		timed "standby_text.$m" "$STANDBY_PM $VERSITYGW" "$LB" standby --log-level warn --store "$tstore" --standby "$sbadmin" --database "bench_sbt_$m" --jobs 2
		rm -rf "${LINKBACKUP_TEST_S3_ROOT:?}/$bucket-text"
		timed "pgdump_zstd.$m" "$PRIMARY_PM" bash -c "set -o pipefail; pg_dump -Fc -Z0 -d '$dsn' | zstd -1 -q -o '$WORK/dump.zst' -f"
		stat -c %s "$WORK/dump.zst" >"$WORK/zsize.$m"
		rm -f "$WORK/dump.zst"
		rm -rf "$WORK/dumpdir"
		timed "pgdump_dir_j2.$m" "$PRIMARY_PM" pg_dump -Fd -j2 -d "$dsn" -f "$WORK/dumpdir"
		du -sb "$WORK/dumpdir" | awk '{print $1}' >"$WORK/dsize.$m"
		psql -qX "$sbadmin" -c "DROP DATABASE IF EXISTS bench_pgr_$m" -c "CREATE DATABASE bench_pgr_$m" >/dev/null
		timed "pgrestore_j2.$m" "$STANDBY_PM" pg_restore -j2 --exit-on-error -d "$(sbdsn_of "bench_pgr_$m")" "$WORK/dumpdir"
		psql -qX "$sbadmin" -c "DROP DATABASE bench_pgr_$m" >/dev/null
		rm -rf "$WORK/dumpdir"
	done
	for d in "bench_sb_$m" "bench_sb_${m}__previous" "bench_sbt_$m" "bench_sbt_${m}__previous"; do
		psql -qX "$sbadmin" -c "DROP DATABASE IF EXISTS $d" >/dev/null
	done
	psql -qX "$admin" -c "DROP DATABASE $db" >/dev/null
done

log "export benchmark"
go test -run '^$' -bench BenchmarkExport -count "${BENCH_EXPORT_COUNT:-5}" ./export/ | tee "$WORK/export.txt" >&2
log "forget benchmark"
go test -run '^$' -bench BenchmarkForget1000 -benchtime 3x -count "${BENCH_FORGET_COUNT:-3}" ./backup/ | tee "$WORK/forget.txt" >&2
log "trust benchmark"
BENCH_TRUST_ROUNDS=${BENCH_TRUST_ROUNDS:-3} go test -run '^$' -bench 'BenchmarkTrust|BenchmarkSeal' -benchtime 3x ./backup/ | tee "$WORK/trust.txt" >&2
if [ "${BENCH_MAIL:-1}" != 0 ]; then
	log "mail benchmark (scripts/bench-mail.sh --inner, on this stack)"
	bash scripts/bench-mail.sh --inner 2>&1 | tee "$WORK/mail.txt" >&2 || log "mail benchmark failed (section left out)"
fi

median() { sort -n | awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else printf "%.2f\n", (a[NR/2]+a[NR/2+1])/2}'; }
col() { awk -v n="$1" -v c="$2" '$1==n {print $c}' "$WORK/results"; }
mib() { awk -v k="$1" 'BEGIN {printf "%.0f", k/1024}'; }

{
	echo "# Benchmarks"
	echo
	echo "Produced by \`make bench\` (scripts/bench.sh) on $(date -u +%Y-%m-%d), $(nproc) cores,"
	echo "$(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(go version | awk '{print $3}'), PostgreSQL $(psql -qXAt "$admin" -c 'SHOW server_version' | awk '{print $1}')."
	echo "All tools ran in the same run against the same database, $ROUNDS rounds each; figures are medians."
	echo "Command: \`BENCH_ROUNDS=$ROUNDS BENCH_MEMBERS=\"$MEMBERS\" BENCH_LINKS=$LINKS make bench\`"
	echo
	echo "## Backup (issue 2): linkbackup backup to versitygw vs pg_dump pipelines"
	echo
	echo "| database | tool | seconds (median) | ratio vs pg_dump\\|zstd | CPU-s (median) | peak RSS MiB | output bytes |"
	echo "|---|---|---|---|---|---|---|"
	for m in $MEMBERS; do
		base=$(col "pgdump_zstd.$m" 2 | median)
		for tool in linkbackup linkbackup_text pgdump_zstd pgdump_dir_j2; do
			s=$(col "$tool.$m" 2 | median)
			rss=$(col "$tool.$m" 3 | median)
			case $tool in
			linkbackup) label='`linkbackup backup` (4 jobs) → versitygw'; size=$(cat "$WORK/lbsize.$m") ;;
			linkbackup_text) label='the same, `--copy-format text`'; size='' ;;
			pgdump_zstd) label='`pg_dump -Fc -Z0 \| zstd -1` → file'; size=$(cat "$WORK/zsize.$m") ;;
			pgdump_dir_j2) label='`pg_dump -Fd -j2` → dir'; size=$(cat "$WORK/dsize.$m") ;;
			esac
			ratio=$(awk -v a="$s" -v b="$base" 'BEGIN {printf "%.2f", a/b}')
			echo "| $m members, $(mib $((DBSIZE[$m] / 1024))) MiB | $label | $s | $ratio | $(col "$tool.$m" 4 | median) | $(mib "$rss") | $size |"
		done
	done
	echo
	echo "## Standby refresh (issue 3): restore + proof + swap vs pg_restore -j2 alone"
	echo
	echo "| database | tool | seconds (median) | ratio vs pg_restore -j2 | CPU-s (median) | peak RSS MiB |"
	echo "|---|---|---|---|---|---|"
	for m in $MEMBERS; do
		base=$(col "pgrestore_j2.$m" 2 | median)
		for tool in standby standby_text pgrestore_j2; do
			s=$(col "$tool.$m" 2 | median)
			case $tool in
			standby) label='`linkbackup standby` (restore, prove every table, swap) from versitygw' ;;
			standby_text) label='the same from a `--copy-format text` snapshot' ;;
			pgrestore_j2) label='`pg_restore -j2` of the `pg_dump -Fd` dump (no proof)' ;;
			esac
			echo "| $m members, $(mib $((DBSIZE[$m] / 1024))) MiB | $label | $s | $(awk -v a="$s" -v b="$base" 'BEGIN {printf "%.2f", a/b}') | $(col "$tool.$m" 4 | median) | $(mib "$(col "$tool.$m" 3 | median)") |"
		done
	done
	echo
	for m in $MEMBERS; do
		echo "From primary lost to the standby serving last night's verified data ($m members): the swap, median $(median <"$WORK/swap.$m") s (the copy is already restored and proven)."
		echo
	done
	echo
	echo "CPU-s: the command's own user+sys CPU plus what the PostgreSQL server it talks to (all"
	echo "backends, via the postmaster's reaped-children time) and, for linkbackup, versitygw used"
	echo "meanwhile. On 2 cores it bounds the wall time from below when the machine is shared."
	echo
	echo "Raw rounds (seconds, peak RSS KiB, CPU-s):"
	echo
	echo '```'
	cat "$WORK/results"
	echo '```'
	echo
	echo "## Weekly export (issue 4): members rendered + zipped per CPU-second"
	echo
	echo "Command: \`go test -run '^\$' -bench BenchmarkExport -count ${BENCH_EXPORT_COUNT:-5} ./export/\` (one goroutine; 200 links per"
	echo "member; members/cpu-s divides by the process's own CPU time, the per-core figure). Target: >= 2,000 members/cpu-s."
	echo
	echo "| case | members/cpu-s (median) | members/s wall (median) | B/op | allocs/op |"
	echo "|---|---|---|---|---|"
	for c in zip-level-1 zip-level-6 html-only xbel-only; do
		metric() { awk -v c="BenchmarkExport/$c-" -v u="$1" 'index($1, c) == 1 { for (i = 2; i < NF; i++) if ($(i+1) == u) print $i }' "$WORK/export.txt" | median; }
		echo "| $c | $(metric members/cpu-s) | $(metric members/s) | $(metric B/op) | $(metric allocs/op) |"
	done
	echo
	echo '```'
	grep '^BenchmarkExport' "$WORK/export.txt"
	echo '```'
	if [ -f BENCHMARKS-export.md ]; then
		echo
		echo "### Export analysis (profile, end-to-end and RSS runs; commands inside)"
		echo
		sed '1d' BENCHMARKS-export.md
	fi
	echo
	echo "## Retention (issue 12): forget over 1,000 snapshots"
	echo
	echo "Command: \`go test -run '^\$' -bench BenchmarkForget1000 -benchtime 3x -count ${BENCH_FORGET_COUNT:-3} ./backup/\`"
	echo "(file store, 1,000 nightly snapshots of one database, 5 objects each, keep_daily 7, keep_weekly 5,"
	echo "keep_monthly 12, keep_yearly 3, the newest proven: ~978 removed per run; requests/op counts every"
	echo "store call of one run: List, Open (manifests, records), Stat (the pin re-check), Put, Delete)."
	echo
	echo '```'
	grep '^BenchmarkForget' "$WORK/forget.txt"
	echo '```'
	echo
	echo "## Encryption and signing (issue 11): encrypted + signed vs plain, same run"
	echo
	echo "Command: \`BENCH_TRUST_ROUNDS=${BENCH_TRUST_ROUNDS:-3} go test -run '^\$' -bench BenchmarkTrust -benchtime 3x ./backup/\` (the modes alternate each round)"
	echo "(${BENCH_TRUST:-600} members x 200 links, file store, 2 jobs; one op = one backup, or one restore with its proof)."
	echo
	trust_median() { grep "^BenchmarkTrust/$1" "$WORK/trust.txt" | awk '{print $3}' | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
	for phase in backup restore; do
		p=$(trust_median "$phase/plain")
		e=$(trust_median "$phase/encrypted+signed")
		awk -v ph="$phase" -v p="$p" -v e="$e" 'BEGIN { if (p > 0) printf "- %s: plain %.3f s, encrypted+signed %.3f s: ratio %.3f (medians)\n", ph, p/1e9, e/1e9, e/p }'
	done
	echo
	echo '```'
	grep '^BenchmarkTrust\|^BenchmarkSeal' "$WORK/trust.txt"
	echo '```'
	[ "${BENCH_WAL:-1}" = 0 ] || { echo; bash scripts/bench-wal.sh || log "WAL benchmark failed (section left out)"; } # issue 15: scripts/bench-wal.sh prints its section
	if [ -s "$WORK/mail.txt" ]; then
		echo
		echo "## Weekly email (issue 5): 10,000 members x 200 links to mailpit"
		echo
		echo "Command: \`scripts/bench-mail.sh\` (here run by make bench on the same stack). Output:"
		echo
		echo '```'
		cat "$WORK/mail.txt"
		echo '```'
		if [ -f BENCHMARKS-mail.md ]; then
			echo
			echo "### Mail analysis (from BENCHMARKS-mail.md)"
			sed '1d; s/^## /#### /' BENCHMARKS-mail.md
		fi
	elif [ -f BENCHMARKS-mail.md ]; then
		echo
		echo "## Weekly email (issue 5): not rerun by this make bench (BENCH_MAIL=0)"
		echo
		echo "The figures below are BENCHMARKS-mail.md as committed (\`scripts/bench-mail.sh\`, its own run and date)."
		sed '1d; s/^## /### /' BENCHMARKS-mail.md
	fi
} >"$OUT"
log "wrote $OUT"
