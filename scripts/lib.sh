# shellcheck shell=bash
# Shared shell functions for scripts/teststack.sh and scripts/demo.sh. Source it; do not run it.
#
# Everything here starts servers as plain processes on 127.0.0.1, remembers their PIDs and
# stops them by PID. Nothing reads outside the repository except the tool cache
# (${XDG_CACHE_HOME:-$HOME/.cache}/linkbackup/bin) and the system PostgreSQL 15 binaries.

LB_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
LB_NAME=${LB_NAME:-$(basename "$0" .sh)}
LB_CACHE=${XDG_CACHE_HOME:-$HOME/.cache}/linkbackup/bin
LB_USED_PORTS=" "

lb_log() { printf '%s: %s\n' "$LB_NAME" "$*" >&2; }
lb_die() { lb_log "error: $*"; exit 1; }

# lb_now prints seconds since the epoch with millisecond precision, for step timings.
lb_now() { date +%s.%3N; }
lb_since() { awk -v a="$1" -v b="$(lb_now)" 'BEGIN { printf "%.1fs", b - a }'; }

# lb_random_hex N prints N random bytes as hex (passwords, keys).
lb_random_hex() { od -An -tx1 -N"$1" /dev/urandom | tr -d ' \n'; }

# lb_sudo runs a command as root (directly when we are root).
lb_sudo() {
	if [ "$(id -u)" = 0 ]; then "$@"
	elif command -v sudo >/dev/null; then sudo "$@"
	else lb_die "need root to run: $*"; fi
}

LB_APT_UPDATED=
# lb_apt_install PKG... installs Debian packages (apt-get update once per run).
lb_apt_install() {
	command -v apt-get >/dev/null || lb_die "apt-get not found; install these packages by hand: $*"
	if [ -z "$LB_APT_UPDATED" ]; then
		lb_log "apt-get update"
		lb_sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2 || lb_die "apt-get update failed"
		LB_APT_UPDATED=1
	fi
	lb_log "apt-get install -y $*"
	lb_sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >&2 || lb_die "apt-get install $* failed"
}

# lb_need_cmd CMD PKG installs PKG when CMD is not on PATH.
lb_need_cmd() { command -v "$1" >/dev/null || lb_apt_install "$2"; }

# lb_ensure_postgres sets LB_PGBIN to the PostgreSQL 15 bin directory, installing
# postgresql-15 when initdb is neither on PATH nor in /usr/lib/postgresql/15/bin.
lb_ensure_postgres() {
	local d=/usr/lib/postgresql/15/bin
	if [ ! -x "$d/initdb" ] && ! command -v initdb >/dev/null; then
		lb_apt_install postgresql-15
	fi
	if [ -x "$d/initdb" ]; then
		LB_PGBIN=$d
	else
		LB_PGBIN=$(dirname "$(readlink -f "$(command -v initdb)")")
	fi
	local v
	v=$("$LB_PGBIN/postgres" --version) || lb_die "cannot run $LB_PGBIN/postgres"
	case "$v" in
	*" 15."*) ;;
	*) lb_die "need PostgreSQL 15 (pg_dump 15 cannot dump newer servers), found: $v in $LB_PGBIN" ;;
	esac
	id postgres >/dev/null 2>&1 || lb_die "user 'postgres' is missing (initdb refuses root); install postgresql-15 or create it"
}

# lb_as_postgres CMD... runs CMD as the postgres user (initdb and pg_ctl refuse root).
lb_as_postgres() {
	if [ "$(id -un)" = postgres ]; then "$@"
	elif [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"
	else sudo -u postgres -- "$@"; fi
}

# lb_port_busy PORT succeeds when something accepts TCP connections on 127.0.0.1:PORT.
lb_port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# lb_free_port sets LB_PORT to a port on 127.0.0.1 that nothing listens on and this run
# has not handed out (not in a subshell: it remembers what it handed out). Ports come from
# 15000-32767, below Linux's ephemeral range.
lb_free_port() {
	local p i
	for i in $(seq 1 200); do
		p=$((15000 + RANDOM % 17768))
		case "$LB_USED_PORTS" in *" $p "*) continue ;; esac
		if ! lb_port_busy "$p"; then
			LB_USED_PORTS="$LB_USED_PORTS$p "
			LB_PORT=$p
			return 0
		fi
	done
	lb_die "no free port found"
}

# lb_pg_init DIR PWFILE LOG creates a cluster in DIR (whose parent postgres can write).
lb_pg_init() {
	local dir=$1 pwfile=$2 log=$3
	lb_as_postgres "$LB_PGBIN/initdb" -D "$dir" -U postgres -E UTF8 --locale=C.UTF-8 \
		--auth-host=scram-sha-256 --pwfile="$pwfile" --no-sync >"$log" 2>&1
}

# lb_pg_start DIR PORT SOCKDIR LOG starts the cluster in DIR on 127.0.0.1:PORT and waits
# until it accepts connections; prints the postmaster PID. An empty SOCKDIR disables the
# Unix socket. LB_PG_OPTIONS adds server options (profiling, e.g.
# "-c shared_preload_libraries=pg_stat_statements"). On failure it prints the server log
# and returns non-zero.
lb_pg_start() {
	local dir=$1 port=$2 sock=$3 log=$4
	if ! lb_as_postgres "$LB_PGBIN/pg_ctl" -D "$dir" -l "$log" -w -t 60 \
		-o "-c listen_addresses=127.0.0.1 -p $port -k '$sock' -c fsync=off ${LB_PG_OPTIONS:-}" start >/dev/null 2>&1; then
		lb_log "PostgreSQL in $dir did not start on port $port; its log ($log):"
		sed 's/^/    /' "$log" >&2 2>/dev/null || true
		return 1
	fi
	# Line 1 of postmaster.pid is the postmaster's PID; pg_ctl itself has exited.
	head -n1 "$dir/postmaster.pid"
}

# lb_pg_check DSN proves that password login over TCP works.
lb_pg_check() {
	"$LB_PGBIN/psql" "$1" -XAtqc 'select 1' >/dev/null 2>&1
}

# lb_wait_ready NAME PID LOG TIMEOUT CHECK... polls CHECK until it succeeds. Fails early
# (printing LOG) if PID has exited, and after TIMEOUT seconds.
lb_wait_ready() {
	local name=$1 pid=$2 log=$3 timeout=$4
	shift 4
	local deadline=$((SECONDS + timeout))
	while ! "$@" 2>/dev/null; do
		if ! kill -0 "$pid" 2>/dev/null; then
			lb_log "$name (pid $pid) exited before it was ready; its log ($log):"
			sed 's/^/    /' "$log" >&2 || true
			return 1
		fi
		if [ "$SECONDS" -ge "$deadline" ]; then
			lb_log "$name (pid $pid) not ready after ${timeout}s; its log ($log):"
			sed 's/^/    /' "$log" >&2 || true
			return 1
		fi
		sleep 0.1
	done
}

# lb_http_ok URL succeeds on an HTTP 2xx (curl when present, else bash /dev/tcp).
lb_http_ok() {
	if command -v curl >/dev/null; then
		curl -fsS -o /dev/null --max-time 2 "$1"
		return
	fi
	local rest=${1#http://} hostport path
	hostport=${rest%%/*}
	path=/${rest#*/}
	exec 3<>"/dev/tcp/${hostport%:*}/${hostport##*:}" || return 1
	printf 'GET %s HTTP/1.0\r\nHost: %s\r\n\r\n' "$path" "$hostport" >&3
	local status
	IFS= read -r -t 2 status <&3 || true
	exec 3>&-
	case "$status" in "HTTP/"*" 2"*) return 0 ;; *) return 1 ;; esac
}

# lb_stop_pid NAME PID [SIGNAL] stops one process by PID: SIGNAL (default TERM), then
# SIGKILL after 15 s. Reaps it when it is our child. A PID that is gone is fine.
lb_stop_pid() {
	local name=$1 pid=$2 sig=${3:-TERM} i
	kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
	kill "-$sig" "$pid" 2>/dev/null || true
	for i in $(seq 1 150); do
		kill -0 "$pid" 2>/dev/null || break
		# A zombie child of ours still answers kill -0: reap it.
		if [ "$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)" = Z ]; then break; fi
		sleep 0.1
	done
	if kill -0 "$pid" 2>/dev/null && [ "$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)" != Z ]; then
		lb_log "$name (pid $pid) ignored SIG$sig for 15s; sending SIGKILL"
		kill -KILL "$pid" 2>/dev/null || true
	fi
	wait "$pid" 2>/dev/null || true
}

# lb_tool_version MODULE prints the version of MODULE pinned in tools/go.mod.
lb_tool_version() {
	awk -v m="$1" '$1 == m && $2 ~ /^v/ { print $2; exit }' "$LB_ROOT/tools/go.mod"
}

# lb_tools NAME:MODULE:PKG... sets LB_TOOL_<NAME> to the cached binary NAME-VERSION built
# from the tools module (version pinned in tools/go.mod). Missing ones are built in one go
# build call so they share compiled dependencies (cold, both: ~5-7 min on 2 cores).
lb_tools() {
	local spec name mod pkg ver out tmp t0 pkgs=() names=() outs=()
	for spec in "$@"; do
		IFS=: read -r name mod pkg <<<"$spec"
		ver=$(lb_tool_version "$mod")
		[ -n "$ver" ] || lb_die "$mod is not pinned in tools/go.mod"
		out=$LB_CACHE/$name-$ver
		printf -v "LB_TOOL_$name" '%s' "$out"
		if [ ! -x "$out" ]; then
			pkgs+=("$pkg")
			names+=("$name")
			outs+=("$out")
		fi
	done
	[ ${#pkgs[@]} -gt 0 ] || return 0
	mkdir -p "$LB_CACHE"
	tmp=$(mktemp -d "$LB_CACHE/.build.XXXXXX")
	t0=$(lb_now)
	lb_log "building ${names[*]} from tools/go.mod into $LB_CACHE (once per version; versitygw takes minutes)"
	if ! (cd "$LB_ROOT/tools" && go build -o "$tmp/" "${pkgs[@]}") >&2; then
		rm -rf "$tmp"
		lb_die "go build ${pkgs[*]} failed"
	fi
	local i
	for i in "${!names[@]}"; do
		mv -f "$tmp/$(basename "${pkgs[$i]}")" "${outs[$i]}"
	done
	rm -rf "$tmp"
	lb_log "built ${names[*]} in $(lb_since "$t0")"
}
