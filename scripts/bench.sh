#!/usr/bin/env bash
# scripts/bench.sh (`make bench`): measures linkbackup side by side with the tools an
# operator would use instead, in the same run on the same machine, and writes BENCHMARKS.md.
#
#   backup:  linkbackup backup -> versitygw (S3), zstd (default) and --compression s2
#                                           vs  pg_dump -Fc -Z0 | zstd -1 > file
#   standby: linkbackup standby (restore + prove every table + swap) from versitygw into the
#            standby cluster                     vs  pg_restore -j2 of a pg_dump -Fd -j2 dump
#            into a fresh database (the dump is made once per shape, its time reported)
#   on data shapes (BENCH_SHAPES, default "small wide"; `linkbackup dev gen --shape`):
#     small: BENCH_SMALL_MEMBERS (10000) x BENCH_SMALL_LINKS (300) short links (~3M rows)
#     wide:  BENCH_WIDE_MEMBERS (1000) x BENCH_WIDE_LINKS (200) links with 4-12 KB notes
#     default: BENCH_DEFAULT_MEMBERS (15000) x 200 links of the project's usual data
#   BENCH_ROUNDS rounds (default 3), the tools alternating inside each round (the order
#   flips every round), medians. Every timed command records its wall time, peak RSS (GNU
#   time %M) and CPU seconds split into the tool's own, the PostgreSQL server's (all
#   backends) and versitygw's; each standby run its restore phases (from its log).
#   Peak RSS at a quarter of each shape's size (one backup and one standby, BENCH_RSS=0
#   skips): memory must not grow with the database.
#   export:  go test -bench BenchmarkExport ./export/ (render + zip per member, 200 links),
#            BENCH_EXPORT_COUNT runs (default 5), medians
#   forget:  go test -bench BenchmarkForget1000 ./backup/ (1,000 snapshots in a file store,
#            GFS policy; store requests per run), -benchtime 3x, BENCH_FORGET_COUNT runs (3)
#   trust:   go test -bench BenchmarkTrust ./backup/ (backup and restore+proof of the same database,
#            plain vs encrypted (age) + signed (Ed25519), file store), -benchtime 3x,
#            BENCH_TRUST_ROUNDS alternating rounds (3), medians of each side
#   mail:    scripts/bench-mail.sh --inner (10,000 members to mailpit; BENCH_MAIL=0 skips it),
#            its result lines and BENCHMARKS-mail.md's analysis
#
# The stack (PostgreSQL 15, versitygw) comes from scripts/teststack.sh and is stopped by PID.
# BENCH_PG_OPTIONS are extra server options for both clusters (default
# "-c wal_level=minimal -c max_wal_senders=0": a standby that is no replica, see
# docs/operations.md; "" for the server defaults).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${LINKBACKUP_TEST_STACK_DIR:-}" ]; then
	export LB_PG_OPTIONS="${BENCH_PG_OPTIONS-"-c wal_level=minimal -c max_wal_senders=0"}"
	# The stack's primary would archive every benchmark's WAL through linkbackup (and
	# wal_level = minimal allows no archiving): off here.
	LINKBACKUP_STACK_ARCHIVE=${LINKBACKUP_STACK_ARCHIVE:-0} exec bash scripts/teststack.sh run -- bash "$0" "$@"
fi
ROUNDS=${BENCH_ROUNDS:-3}
SHAPES=${BENCH_SHAPES:-"small wide"}
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

# timed NAME PGPID CMD...: appends "NAME seconds maxrss_kib cpu_total cpu_tool cpu_pg
# cpu_s3 load1" to $WORK/results: the command's own user+sys, what the PostgreSQL server
# PGPID and versitygw used meanwhile, and the 1-minute load average when it ended.
timed() {
	local name=$1 pg=$2
	shift 2
	local pg0 s30 pg1 s31 wall rss user sys
	pg0=$(cpu_of "$pg")
	s30=$(cpu_of "$VERSITYGW")
	/usr/bin/time -f "%e %M %U %S" -o "$WORK/time" "$@" >"$WORK/cmd.out" 2>"$WORK/cmd.err" || {
		log "$name failed:"
		cat "$WORK/cmd.err" >&2
		exit 1
	}
	sleep 1 # backends exit after their client: let the postmaster reap them
	pg1=$(cpu_of "$pg")
	s31=$(cpu_of "$VERSITYGW")
	read -r wall rss user sys <"$WORK/time"
	awk -v n="$name" -v w="$wall" -v r="$rss" -v u="$user" -v s="$sys" -v a="$pg0" -v b="$pg1" -v c="$s30" -v d="$s31" -v l="$(cut -d' ' -f1 /proc/loadavg)" \
		'BEGIN {printf "%s %s %s %.2f %.2f %.2f %.2f %s\n", n, w, r, u+s+(b-a)+(d-c), u+s, b-a, d-c, l}' >>"$WORK/results"
	log "$name: $(tail -1 "$WORK/results" | cut -d' ' -f2-) (s, KiB, cpu-s total tool pg s3, load)"
}

# phases NAME: the restore phases of the standby run just timed (its JSON log lines),
# appended as "NAME phase seconds busy_seconds" to $WORK/phases.
phases() {
	grep '"msg":"restore phase done"' "$WORK/cmd.err" |
		sed -n 's/.*"phase":"\([^"]*\)","seconds":\([0-9.e+-]*\)\(,"busy_seconds":\([0-9.e+-]*\)\)\{0,1\}.*/\1 \2 \4/p' |
		awk -v n="$1" '{printf "%s %s %s %s\n", n, $1, $2, ($3 == "" ? "-" : $3)}' >>"$WORK/phases"
	grep '"msg":"standby refreshed"' "$WORK/cmd.err" |
		sed -n 's/.*"restore_seconds":\([0-9.e+-]*\).*"swap_seconds":\([0-9.e+-]*\).*/\1 \2/p' |
		awk -v n="$1" '{printf "%s restore(total) %s -\n%s swap %s -\n", n, $1, n, $2}' >>"$WORK/phases"
}

gen() { # SHAPE DB MEMBERS LINKS
	psql -qX "$admin" -c "DROP DATABASE IF EXISTS $2" -c "CREATE DATABASE $2" >/dev/null
	log "generating $1: $3 members x $4 links into $2"
	"$LB" dev gen --dsn "$(dsn_of "$2")" --schema --shape "$1" --members "$3" --links "$4" >&2
	psql -qX "$(dsn_of "$2")" -c "VACUUM ANALYZE" >/dev/null
}

store_of() { printf 's3://%s/lb?endpoint=%s&path_style=true&region=us-east-1' "$1" "$LINKBACKUP_TEST_S3"; }

: >"$WORK/results"
: >"$WORK/phases"
declare -A DBSIZE ROWS SIZE_ARGS
for shape in $SHAPES; do
	case $shape in
	small) members=${BENCH_SMALL_MEMBERS:-10000} links=${BENCH_SMALL_LINKS:-300} ;;
	wide) members=${BENCH_WIDE_MEMBERS:-1000} links=${BENCH_WIDE_LINKS:-200} ;;
	default) members=${BENCH_DEFAULT_MEMBERS:-15000} links=${BENCH_DEFAULT_LINKS:-200} ;;
	*) log "unknown shape $shape" && exit 2 ;;
	esac
	SIZE_ARGS[$shape]="$members x $links"
	db=bench_$shape
	gen "$shape" "$db" "$members" "$links"
	dsn=$(dsn_of "$db")
	DBSIZE[$shape]=$(psql -qXAt "$dsn" -c "SELECT pg_database_size(current_database())")
	ROWS[$shape]=$(psql -qXAt "$dsn" -c "SELECT count(*) FROM links")
	log "database $db: ${DBSIZE[$shape]} bytes, ${ROWS[$shape]} links"
	rm -rf "$WORK/dumpdir"
	timed "pgdump_dir_j2.$shape" "$PRIMARY_PM" pg_dump -Fd -j2 -d "$dsn" -f "$WORK/dumpdir"
	du -sb "$WORK/dumpdir" | awk '{print $1}' >"$WORK/dsize.$shape"
	for r in $(seq 1 "$ROUNDS"); do
		bucket=bench-$shape-$r
		mkdir -p "$LINKBACKUP_TEST_S3_ROOT/$bucket"
		store=$(store_of "$bucket")
		ours_backup() {
			timed "linkbackup.$shape" "$PRIMARY_PM" "$LB" backup --log-level warn --source "$dsn" --store "$store"
			"$LB" snapshots --json --store "$store" |
				grep -o '"stored_bytes": [0-9]*' | tail -1 | awk '{print $2}' >"$WORK/lbsize.$shape"
			# The same with s2 (backup.compression: s2), into another bucket the standby
			# also restores from.
			mkdir -p "$LINKBACKUP_TEST_S3_ROOT/$bucket-s2"
			timed "linkbackup_s2.$shape" "$PRIMARY_PM" "$LB" backup --log-level warn --compression s2 --source "$dsn" --store "$(store_of "$bucket-s2")"
			"$LB" snapshots --json --store "$(store_of "$bucket-s2")" |
				grep -o '"stored_bytes": [0-9]*' | tail -1 | awk '{print $2}' >"$WORK/lbs2size.$shape"
		}
		theirs_backup() {
			timed "pgdump_zstd.$shape" "$PRIMARY_PM" bash -c "set -o pipefail; pg_dump -Fc -Z0 -d '$dsn' | zstd -1 -q -o '$WORK/dump.zst' -f"
			stat -c %s "$WORK/dump.zst" >"$WORK/zsize.$shape"
			rm -f "$WORK/dump.zst"
		}
		ours_standby() {
			timed "standby.$shape" "$STANDBY_PM" "$LB" standby --log-level info --store "$store" --standby "$sbadmin" --database "bench_sb_$shape" --jobs 2
			phases "standby.$shape"
			# The same from the s2 snapshot (decompression is cheaper).
			timed "standby_s2.$shape" "$STANDBY_PM" "$LB" standby --log-level info --store "$(store_of "$bucket-s2")" --standby "$sbadmin" --database "bench_sbs_$shape" --jobs 2
			phases "standby_s2.$shape"
			if [ "$shape" = wide ]; then
				# The same with the server's default TOAST compression (pglz): what lz4 buys.
				LINKBACKUP_STANDBY_TOAST_COMPRESSION=pglz timed "standby_pglz.$shape" "$STANDBY_PM" "$LB" standby --log-level info --store "$store" --standby "$sbadmin" --database "bench_sbp_$shape" --jobs 2
				phases "standby_pglz.$shape"
			fi
		}
		theirs_standby() {
			psql -qX "$sbadmin" -c "DROP DATABASE IF EXISTS bench_pgr_$shape" -c "CREATE DATABASE bench_pgr_$shape" >/dev/null
			timed "pgrestore_j2.$shape" "$STANDBY_PM" pg_restore -j2 --exit-on-error -d "$(sbdsn_of "bench_pgr_$shape")" "$WORK/dumpdir"
		}
		if [ $((r % 2)) = 1 ]; then
			ours_backup
			theirs_backup
			ours_standby
			theirs_standby
		else
			theirs_backup
			ours_backup
			theirs_standby
			ours_standby
		fi
		rm -rf "${LINKBACKUP_TEST_S3_ROOT:?}/$bucket" "${LINKBACKUP_TEST_S3_ROOT:?}/$bucket-s2"
	done
	psql -qX "$sbadmin" -c "DROP DATABASE IF EXISTS bench_pgr_$shape" >/dev/null
	for d in "bench_sb_$shape" "bench_sb_${shape}__previous" "bench_sbp_$shape" "bench_sbp_${shape}__previous" "bench_sbs_$shape" "bench_sbs_${shape}__previous"; do
		psql -qX "$sbadmin" -c "DROP DATABASE IF EXISTS $d" >/dev/null
	done
	rm -rf "$WORK/dumpdir"
	psql -qX "$admin" -c "DROP DATABASE $db" >/dev/null
	if [ "${BENCH_RSS:-1}" != 0 ]; then
		# The same shape at a quarter of the members: peak RSS must not follow the size.
		q=$((members / 4))
		gen "$shape" "bench_q_$shape" "$q" "$links"
		DBSIZE[q_$shape]=$(psql -qXAt "$(dsn_of "bench_q_$shape")" -c "SELECT pg_database_size(current_database())")
		bucket=bench-q-$shape
		mkdir -p "$LINKBACKUP_TEST_S3_ROOT/$bucket"
		timed "quarter_linkbackup.$shape" "$PRIMARY_PM" "$LB" backup --log-level warn --source "$(dsn_of "bench_q_$shape")" --store "$(store_of "$bucket")"
		timed "quarter_standby.$shape" "$STANDBY_PM" "$LB" standby --log-level warn --store "$(store_of "$bucket")" --standby "$sbadmin" --database "bench_sbq_$shape" --jobs 2
		rm -rf "${LINKBACKUP_TEST_S3_ROOT:?}/$bucket"
		psql -qX "$sbadmin" -c "DROP DATABASE IF EXISTS bench_sbq_$shape" >/dev/null
		psql -qX "$admin" -c "DROP DATABASE bench_q_$shape" >/dev/null
	fi
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

median() { sort -n | awk '{a[NR]=$1} END {if (NR == 0) print "-"; else if (NR%2) print a[(NR+1)/2]; else printf "%.2f\n", (a[NR/2]+a[NR/2+1])/2}'; }
col() { awk -v n="$1" -v c="$2" '$1==n {print $c}' "$WORK/results"; }
mib() { awk -v k="$1" 'BEGIN {printf "%.0f", k/1024}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", a/b}'; }
# row TOOL LABEL BASE [SIZE]: one table row of medians (with SIZE: an output bytes column)
row() {
	local tool=$1 label=$2 base=$3 s
	s=$(col "$tool" 2 | median)
	printf '| %s | %s | %s | %s | %s | %s | %s |' "$label" "$s" "$(ratio "$s" "$base")" "$(col "$tool" 5 | median)" \
		"$(col "$tool" 6 | median)" "$(col "$tool" 7 | median)" "$(mib "$(col "$tool" 3 | median)")"
	if [ $# -gt 3 ]; then printf ' %s |' "$4"; fi
	echo
}

{
	echo "# Benchmarks"
	echo
	echo "Produced by \`make bench\` (scripts/bench.sh) on $(date -u +%Y-%m-%d), $(nproc) cores,"
	echo "$(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(go version | awk '{print $3}'), PostgreSQL $(psql -qXAt "$admin" -c 'SHOW server_version' | awk '{print $1}'),"
	echo "both clusters with \`${LB_PG_OPTIONS:-(server defaults)}\` and fsync=off."
	echo "All tools ran in the same run against the same database, $ROUNDS rounds each, alternating (the order flips"
	echo "every round); figures are medians. 1-minute load average during the run (other sessions share the machine):"
	echo "$(awk '{print $8}' "$WORK/results" | sort -n | awk '{a[NR]=$1} END {printf "min %s, median %s, max %s", a[1], a[int((NR+1)/2)], a[NR]}')."
	echo "Command: \`BENCH_ROUNDS=$ROUNDS BENCH_SHAPES=\"$SHAPES\" BENCH_MAIL=${BENCH_MAIL:-1} make bench\`"
	echo
	echo "Shapes (\`linkbackup dev gen --shape\`):"
	for shape in $SHAPES; do
		echo "- $shape: ${SIZE_ARGS[$shape]} (members x links), ${ROWS[$shape]} links, database $(mib $((DBSIZE[$shape] / 1024))) MiB"
	done
	echo
	echo "CPU-s columns: the command's own user+sys (tool; for pg_dump | zstd both processes), the PostgreSQL server's"
	echo "(all backends, via the postmaster's reaped-children time) and versitygw's, meanwhile."
	echo
	echo "## Backup (issues 2, 16): linkbackup backup to versitygw vs pg_dump | zstd"
	echo
	echo "| shape: tool | seconds | ratio vs pg_dump\\|zstd | CPU-s tool | CPU-s PostgreSQL | CPU-s versitygw | peak RSS MiB | output bytes |"
	echo "|---|---|---|---|---|---|---|---|"
	for shape in $SHAPES; do
		base=$(col "pgdump_zstd.$shape" 2 | median)
		row "linkbackup.$shape" "$shape: \`linkbackup backup\` (4 jobs, zstd, the default) → versitygw" "$base" "$(cat "$WORK/lbsize.$shape")"
		row "linkbackup_s2.$shape" "$shape: the same with \`--compression s2\`" "$base" "$(cat "$WORK/lbs2size.$shape")"
		row "pgdump_zstd.$shape" "$shape: \`pg_dump -Fc -Z0 \\| zstd -1\` → file" "$base" "$(cat "$WORK/zsize.$shape")"
		row "pgdump_dir_j2.$shape" "$shape: \`pg_dump -Fd -j2\` → dir (1 run, the dump pg_restore reads)" "$base" "$(cat "$WORK/dsize.$shape")"
	done
	echo
	echo "## Standby refresh (issues 3, 16): restore + proof + swap vs pg_restore -j2 alone"
	echo
	echo "| shape: tool | seconds | ratio vs pg_restore -j2 | CPU-s tool | CPU-s PostgreSQL | CPU-s versitygw | peak RSS MiB |"
	echo "|---|---|---|---|---|---|---|"
	for shape in $SHAPES; do
		base=$(col "pgrestore_j2.$shape" 2 | median)
		row "standby.$shape" "$shape: \`linkbackup standby --jobs 2\` (restore, prove every table, invariants, swap) from versitygw, zstd snapshot (the default)" "$base"
		row "standby_s2.$shape" "$shape: the same from the \`--compression s2\` snapshot" "$base"
		if [ "$shape" = wide ]; then
			row "standby_pglz.$shape" "$shape: the same with \`standby.toast_compression: pglz\` (the server's default)" "$base"
		fi
		row "pgrestore_j2.$shape" "$shape: \`pg_restore -j2\` of the \`pg_dump -Fd\` dump into a fresh database (no proof)" "$base"
	done
	echo
	echo "Phases of the standby refresh (medians; the restore's steps overlap: each phase is the time from the"
	echo "start of the data step until its last step ended, busy the session-seconds its steps took;"
	echo "restore(total) is the whole restore with pre-data, swap the rename):"
	echo
	echo "| shape | $(for p in pre-data data indexes proof constraints analyze invariants "sequences+analyze" "restore(total)" swap; do printf '%s | ' "$p"; done)"
	echo "|---|---|---|---|---|---|---|---|---|---|---|"
	for key in $(for shape in $SHAPES; do echo "standby.$shape"; echo "standby_s2.$shape"; [ "$shape" = wide ] && echo "standby_pglz.$shape"; done); do
		tool=${key%%.*} shape=${key#*.}
		printf '| %s |' "$shape$([ "$tool" = standby_pglz ] && echo ", toast pglz")$([ "$tool" = standby_s2 ] && echo ", s2 snapshot")"
		for p in pre-data data indexes proof constraints analyze invariants "sequences+analyze" "restore(total)" swap; do
			w=$(awk -v n="$tool.$shape" -v p="$p" '$1==n && $2==p {printf "%.2f\n", $3}' "$WORK/phases" | median)
			b=$(awk -v n="$tool.$shape" -v p="$p" '$1==n && $2==p && $4 != "-" {printf "%.2f\n", $4}' "$WORK/phases" | median)
			if [ "$b" = "-" ]; then printf ' %s |' "$w"; else printf ' %s (busy %s) |' "$w" "$b"; fi
		done
		echo
	done
	if [ "${BENCH_RSS:-1}" != 0 ]; then
		echo
		echo "Peak RSS against the database size (one run each at a quarter of the members):"
		echo
		echo "| shape | database MiB | backup peak RSS MiB | standby peak RSS MiB |"
		echo "|---|---|---|---|"
		for shape in $SHAPES; do
			echo "| $shape, 1/4 | $(mib $((DBSIZE[q_$shape] / 1024))) | $(mib "$(col "quarter_linkbackup.$shape" 3)") | $(mib "$(col "quarter_standby.$shape" 3)") |"
			echo "| $shape | $(mib $((DBSIZE[$shape] / 1024))) | $(mib "$(col "linkbackup.$shape" 3 | median)") | $(mib "$(col "standby.$shape" 3 | median)") |"
		done
	fi
	echo
	echo "Raw rounds (name, seconds, peak RSS KiB, CPU-s total, tool, PostgreSQL, versitygw, load average):"
	echo
	echo '```'
	cat "$WORK/results"
	echo '```'
	echo
	echo "Raw standby phases (name, phase, seconds, busy seconds):"
	echo
	echo '```'
	cat "$WORK/phases"
	echo '```'
	if [ -f BENCHMARKS-refresh.md ]; then
		echo
		echo "### Backup and refresh analysis (issue 16; from BENCHMARKS-refresh.md)"
		sed '1d; s/^## /#### /' BENCHMARKS-refresh.md
	fi
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
	if [ -f BENCHMARKS-trust.md ]; then # earlier runs and their analysis, kept by hand
		echo
		sed '1d' BENCHMARKS-trust.md
	fi
	[ "${BENCH_WAL:-1}" = 0 ] || { echo; bash scripts/bench-wal.sh || log "WAL benchmark failed (section left out)"; } # issue 15: scripts/bench-wal.sh prints its section
	if [ -f BENCHMARKS-wal.md ]; then # other runs and the reading, kept by hand
		echo
		[ "${BENCH_WAL:-1}" != 0 ] || printf '## Point-in-time recovery (issue 15): not rerun by this make bench (BENCH_WAL=0)\n\n'
		sed '1d' BENCHMARKS-wal.md
	fi
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
