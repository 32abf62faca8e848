#!/bin/bash
# bench/identity/run.sh - load figures for Kumo's Identity service, over loopback.
#
# Starts its own `kumo identity` (build/kumo, debugoptimized) on free ports with a
# fresh SQLite state and bcrypt cost 12 (Keystone's default), then measures:
#   start      exec -> first 200 on GET /v3  (START_REPS starts, median)
#   rss        idle RSS/PSS after start, and after the load
#   validate   GET /v3/auth/tokens  (admin token validates the demo user's token)
#   issue_pw   POST /v3/auth/tokens, password method, project scope (admin)
#   issue_tok  POST /v3/auth/tokens, token method, project scope (admin token)
#   projects   GET /v3/projects with the admin token
# each at c=1 (wrk -t1) and c=8 (wrk -t2), DUR long, REPS times (median).
# BASELINE=1 does the same against Debian's Keystone set up by the scripts in
# ../shared/baselines (copied to /tmp, port KS_PORT=15000, uwsgi 2 processes x
# 1 thread, SQLite), after Kumo has been stopped.
#
# Output: bench/results/identity-<UTC time>.txt (raw lines) and .md (table,
# also printed).  Environment: DUR [10s], REPS [1], START_REPS [3],
# KUMO_BIN [build/kumo], BASELINE [0], KS_PORT [15000],
# KUMO_BASELINES [<repo>/../shared/baselines], BENCH_WORKERS (kumo [identity] workers).
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
. "$HERE/../../tools/kumo-lib.sh"
cd "$KUMO_ROOT"

DUR="${DUR:-10s}"
REPS="${REPS:-1}"
START_REPS="${START_REPS:-3}"
KS_PORT="${KS_PORT:-15000}"
BASELINES="${KUMO_BASELINES:-$KUMO_ROOT/../shared/baselines}"
RES="$KUMO_ROOT/bench/results"
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
OUT="$RES/identity-$STAMP.txt"
TABLE="$RES/identity-$STAMP.md"
export REPORT_LUA="$HERE/report.lua"
command -v wrk >/dev/null || die "wrk missing (tools/install-deps.sh)"
keystone_busy() { port_busy "$KS_PORT" || pgrep -u keystone -f uwsgi_python3 >/dev/null 2>&1; }
if [ "${BASELINE:-0}" = 1 ] && keystone_busy; then
	die "BASELINE=1 but a Keystone is already running (port $KS_PORT or a keystone uwsgi); stop it first"
fi
mkdir -p "$RES"
: > "$OUT"
log() { echo "$*" | tee -a "$OUT"; }

log "# kumo identity bench $STAMP: nproc=$(nproc) dur=$DUR reps=$REPS $(uname -r)"
log "# kumo $(git -C "$KUMO_ROOT" rev-parse --short HEAD 2>/dev/null || echo uncommitted)"

# ---------------------------------------------------------------- helpers
rss_kib() { ps -o rss= -p "$(echo "$@" | tr ' ' ',')" 2>/dev/null | awk '{s+=$1} END{print s+0}'; }
pss_kib() {
	local s=0 p v
	for p in "$@"; do
		v=$(awk '/^Pss:/{print $2}' "/proc/$p/smaps_rollup" 2>/dev/null || echo 0)
		s=$((s + ${v:-0}))
	done
	echo $s
}
rss_line() { # target label pids...
	local t=$1 l=$2; shift 2
	log "RSS target=$t label=$l kib=$(rss_kib "$@") pss_kib=$(pss_kib "$@") nprocs=$#"
}

# token for user/project (Default domain) from BASE, or empty
get_token() { # base user password project
	curl -s -D - -o /dev/null -H 'Content-Type: application/json' --data "$(printf \
		'{"auth":{"identity":{"methods":["password"],"password":{"user":{"name":"%s","domain":{"name":"Default"},"password":"%s"}}},"scope":{"project":{"name":"%s","domain":{"name":"Default"}}}}}' \
		"$2" "$3" "$4")" "$1/v3/auth/tokens" |
		awk -F': ' 'tolower($1)=="x-subject-token"{print $2}' | tr -d '\r'
}

# demo project + user with role member (created when missing), then the tokens
prepare_identity() { # base admin_password demo_password
	local base=$1 apw=$2 dpw=$3 pid uid rid
	ADMIN_TOKEN=$(get_token "$base" admin "$apw" admin)
	[ -n "$ADMIN_TOKEN" ] || die "no admin token from $base"
	local H=(-s -H "X-Auth-Token: $ADMIN_TOKEN" -H 'Content-Type: application/json')
	if [ "$(curl "${H[@]}" "$base/v3/users?name=demo" | jq '.users | length')" = 0 ]; then
		pid=$(curl "${H[@]}" --data '{"project":{"name":"demo","domain_id":"default"}}' \
			"$base/v3/projects" | jq -r .project.id)
		uid=$(curl "${H[@]}" --data "{\"user\":{\"name\":\"demo\",\"domain_id\":\"default\",\"password\":\"$dpw\"}}" \
			"$base/v3/users" | jq -r .user.id)
		rid=$(curl "${H[@]}" "$base/v3/roles?name=member" | jq -r '.roles[0].id // empty')
		[ -n "$rid" ] || rid=$(curl "${H[@]}" --data '{"role":{"name":"member"}}' \
			"$base/v3/roles" | jq -r .role.id)
		curl "${H[@]}" -o /dev/null -X PUT "$base/v3/projects/$pid/users/$uid/roles/$rid"
	fi
	SUBJECT_TOKEN=$(get_token "$base" demo "$dpw" demo)
	[ -n "$SUBJECT_TOKEN" ] || die "no demo token from $base"
	export ADMIN_TOKEN SUBJECT_TOKEN
	log "CHECK target=$TARGET validate=$(curl -s -o /dev/null -w '%{http_code}' \
		-H "X-Auth-Token: $ADMIN_TOKEN" -H "X-Subject-Token: $SUBJECT_TOKEN" \
		"$base/v3/auth/tokens") projects=$(curl -s -H "X-Auth-Token: $ADMIN_TOKEN" \
		"$base/v3/projects" | jq '.projects | length')"
}

run_wrk() { # base test conc script path
	local base=$1 name=$2 c=$3 s=$4 p=$5 t=1 i r
	[ "$c" -gt 1 ] && t=2
	for i in $(seq "$REPS"); do
		r=$(wrk -t$t -c"$c" -d"$DUR" --timeout 30s -s "$HERE/$s" "$base$p" 2>&1 |
			sed -n 's/^RESULT //p')
		log "WRK target=$TARGET test=$name c=$c rep=$i ${r:-FAILED}"
	done
}

run_suite() { # base admin_password
	export BENCH_PASSWORD="$2" BENCH_USER=admin BENCH_PROJECT=admin
	for c in 1 8; do run_wrk "$1" validate "$c" validate.lua /v3/auth/tokens; done
	for c in 1 8; do run_wrk "$1" issue_pw "$c" issue_password.lua /v3/auth/tokens; done
	for c in 1 8; do run_wrk "$1" issue_tok "$c" issue_token.lua /v3/auth/tokens; done
	for c in 1 8; do run_wrk "$1" projects "$c" get_admin.lua /v3/projects; done
}

# exec -> first 200 on GET /v3, measured by one python process polling every 2 ms;
# prints "<seconds> <pid>" and leaves the server running
start_timed() { # port log cmd...
	local port=$1 logf=$2; shift 2
	"$PY" - "$port" "$logf" "$@" <<'EOF'
import http.client, subprocess, sys, time
port, logf, cmd = int(sys.argv[1]), sys.argv[2], sys.argv[3:]
out = open(logf, 'ab')
t0 = time.monotonic()
p = subprocess.Popen(cmd, stdout=out, stderr=out, stdin=subprocess.DEVNULL,
                     start_new_session=True)
while True:
    if p.poll() is not None:
        sys.exit('server exited with status %d' % p.returncode)
    try:
        c = http.client.HTTPConnection('127.0.0.1', port, timeout=2)
        c.request('GET', '/v3')
        if c.getresponse().status == 200:
            break
    except OSError:
        pass
    if time.monotonic() - t0 > 60:
        p.terminate(); sys.exit('no answer within 60 s')
    time.sleep(0.002)
print('%.4f %d' % (time.monotonic() - t0, p.pid))
EOF
}

# ---------------------------------------------------------------- kumo
BIN="${KUMO_BIN:-$KUMO_ROOT/build/kumo}"
if [ -z "${KUMO_BIN:-}" ]; then
	[ -f build/build.ninja ] || meson setup build --buildtype debugoptimized >/dev/null
	ninja -C build kumo >/dev/null
fi
[ -x "$BIN" ] || die "no kumo binary at $BIN"
TARGET=kumo
STATE=$(mktemp -d /tmp/kumo-bench.XXXXXX)
PORT=$(free_port)
CONF="$STATE/kumo.conf"
KLOG="$STATE/kumo.log"
ADMIN_PW=benchadmin
cat > "$CONF" <<EOF
[DEFAULT]
state_dir = $STATE
bind_host = 127.0.0.1
[identity]
connection = sqlite:///$STATE/identity.db
port = $PORT
admin_port = 0
key_repository = $STATE/fernet-keys
password_hash_rounds = 12
${BENCH_WORKERS:+workers = $BENCH_WORKERS}
EOF
KPID=
cleanup() {
	if [ -n "$KPID" ]; then stop_pid "$KPID" 10 || true; fi
	rm -rf "$STATE"
}
trap cleanup EXIT
"$BIN" --config "$CONF" manage db-sync >> "$KLOG" 2>&1
"$BIN" --config "$CONF" manage fernet-setup >> "$KLOG" 2>&1
"$BIN" --config "$CONF" manage bootstrap --bootstrap-password "$ADMIN_PW" \
	--bootstrap-region-id RegionOne --bootstrap-public-url "http://127.0.0.1:$PORT/v3/" >> "$KLOG" 2>&1
for i in $(seq "$START_REPS"); do
	read -r secs KPID < <(start_timed "$PORT" "$KLOG" "$BIN" --config "$CONF" identity)
	log "START target=kumo rep=$i s=$secs"
	sleep 1
	rss_line kumo idle_after_start "$KPID"
	if [ "$i" -lt "$START_REPS" ]; then stop_pid "$KPID" 10 || true; KPID=; fi
done
sleep 2
rss_line kumo idle "$KPID"
BASE="http://127.0.0.1:$PORT"
prepare_identity "$BASE" "$ADMIN_PW" demopass
run_suite "$BASE" "$ADMIN_PW"
sleep 2
rss_line kumo after_load "$KPID"
stop_pid "$KPID" 10 || true
KPID=

# ---------------------------------------------------------------- keystone
if [ "${BASELINE:-0}" = 1 ]; then
	[ -d "$BASELINES" ] || die "BASELINE=1 but no $BASELINES"
	# 10_keystone_setup.sh recreates /var/lib/keystone/keystone.db: never do
	# that under a Keystone somebody else is running
	if keystone_busy; then
		die "a Keystone is already running (port $KS_PORT or a keystone uwsgi); stop it first"
	fi
	BL=/tmp/kumo-baselines
	rm -rf "$BL" && cp -r "$BASELINES" "$BL" && rm -rf "$BL/results" "$BL/run"
	dpkg -s keystone >/dev/null 2>&1 || "$BL/00_install.sh"
	KS_PORT=$KS_PORT "$BL/10_keystone_setup.sh" > "$BL/setup.log" 2>&1
	TARGET=keystone
	KS_PORT=$KS_PORT "$BL/ks_server.sh" stop
	for i in $(seq "$START_REPS"); do
		secs=$(KS_PORT=$KS_PORT "$BL/ks_server.sh" start | awk '/first_200/{print $2}')
		log "START target=keystone rep=$i s=$secs"
		sleep 8
		rss_line keystone idle_after_start $("$BL/ks_server.sh" pids)
		if [ "$i" -lt "$START_REPS" ]; then KS_PORT=$KS_PORT "$BL/ks_server.sh" stop; fi
	done
	rss_line keystone idle $("$BL/ks_server.sh" pids)
	prepare_identity "http://127.0.0.1:$KS_PORT" secret demopass
	run_suite "http://127.0.0.1:$KS_PORT" secret
	sleep 2
	rss_line keystone after_load $("$BL/ks_server.sh" pids)
	KS_PORT=$KS_PORT "$BL/ks_server.sh" stop
fi

# ---------------------------------------------------------------- table
"$PY" - "$OUT" "$DUR" <<'EOF' | tee "$TABLE"
import collections, re, statistics, sys
raw, dur = sys.argv[1], sys.argv[2]
kv = lambda line: dict(re.findall(r'(\w+)=(\S+)', line))
wrk = collections.defaultdict(list); start = collections.defaultdict(list); rss = {}
for line in open(raw):
    d = kv(line)
    if line.startswith('WRK ') and 'rps' in d:
        wrk[(d['test'], int(d['c']), d['target'])].append(d)
    elif line.startswith('START ') and d.get('s'):
        start[d['target']].append(float(d['s']))
    elif line.startswith('RSS '):
        rss[(d['target'], d['label'])] = (int(d['kib']), int(d['pss_kib']))
targets = [t for t in ('kumo', 'keystone') if any(k[2] == t for k in wrk)]
med = lambda rows, key: statistics.median(float(r[key]) for r in rows)
names = {'validate': 'GET /v3/auth/tokens (validate)',
         'issue_pw': 'POST /v3/auth/tokens, password (bcrypt 12)',
         'issue_tok': 'POST /v3/auth/tokens, token method',
         'projects': 'GET /v3/projects'}
head = '| what | c |' + ''.join(' %s req/s | p50 ms | p99 ms | non-2xx |' % t for t in targets)
print('Identity over loopback, wrk %s per run, median of reps (%s)\n' % (dur, raw.split('/')[-1]))
print(head); print('|' + '---|' * (2 + 4 * len(targets)))
for test in names:
    for c in (1, 8):
        cells = []
        for t in targets:
            rows = wrk.get((test, c, t), [])
            if not rows:
                cells.append(' - | - | - | - |'); continue
            cells.append(' %.1f | %.2f | %.2f | %d |' % (med(rows, 'rps'), med(rows, 'p50_ms'),
                         med(rows, 'p99_ms'), sum(int(r['non2xx3xx']) for r in rows)))
        print('| %s | %d |%s' % (names[test], c, ''.join(cells)))
print()
print('| | ' + ' | '.join(targets) + ' |'); print('|---|' + '---|' * len(targets))
print('| start: exec -> first 200 on GET /v3, median s | ' +
      ' | '.join('%.3f' % statistics.median(start[t]) if start[t] else '-' for t in targets) + ' |')
for label in ('idle', 'after_load'):
    print('| RSS %s MiB (PSS) | ' % label.replace('_', ' ') + ' | '.join(
        '%.1f (%.1f)' % (rss[(t, label)][0] / 1024, rss[(t, label)][1] / 1024)
        if (t, label) in rss else '-' for t in targets) + ' |')
EOF
say "raw: $OUT"
say "table: $TABLE"
