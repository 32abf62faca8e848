#!/bin/bash
# bench/image/run.sh - image upload/download throughput and memory, over loopback.
#
# Starts its own `kumo all` (build/kumo, debugoptimized) on free ports with a
# fresh state directory under BENCH_DIR, makes a SIZE_MIB random file there
# (same filesystem as the image store), and measures, REPS times each:
#   local_cp       cp SRC DST                      (the physical limit of a copy)
#   local_cat      cat SRC > DST                   (a copy through user space)
#   local_cp_hash  SRC | tee >(openssl md5) >(openssl sha512) > DST
#                  (the same work a Glance-compatible store does: copy + both hashes)
#   kumo_put       curl -T SRC PUT /v2/images/{id}/file   (Content-Length)
#   kumo_put_chunked  the same with Transfer-Encoding: chunked
#   local_read     cat SRC > /dev/null             (page cache, the download's limit)
#   kumo_get       curl -o /dev/null GET /v2/images/{id}/file
# Every run waits for a quiet machine first (measure.py wait) and records the
# CPU kumo used, what other tenants used meanwhile, and kumo's resident set
# sampled every 10 ms during the transfer.  Destination files are deleted and
# `sync`ed before each write so each run starts from the same page-cache state.
# After the runs one download is checked against the source's MD5.
#
# BASELINE=1 also runs Debian's Glance (glance-api 25, bookworm) on the same
# box, same file, same curl commands: installed with apt if missing (no
# daemon is started by the package), SQLite, file store, no auth
# (paste flavor without keystone), eventlet server, GLANCE_PORT [19292].
#
# Output: bench/results/image-<UTC time>.txt (raw lines) and .md (the table,
# also printed).  Environment: SIZE_MIB [1024], REPS [3], KUMO_BIN
# [build/kumo], BENCH_DIR [/var/tmp], QUIET_MAX_S [60], QUIET_CORES [0.3],
# BASELINE [0], GLANCE_PORT [19292].
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
. "$HERE/../../tools/kumo-lib.sh"
cd "$KUMO_ROOT"

SIZE_MIB="${SIZE_MIB:-1024}"
REPS="${REPS:-3}"
BENCH_DIR="${BENCH_DIR:-/var/tmp}"
QUIET_MAX_S="${QUIET_MAX_S:-60}"
QUIET_CORES="${QUIET_CORES:-0.3}"
GLANCE_PORT="${GLANCE_PORT:-19292}"
RES="$KUMO_ROOT/bench/results"
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
OUT="$RES/image-$STAMP.txt"
TABLE="$RES/image-$STAMP.md"
M="$HERE/measure.py"
command -v curl >/dev/null || die "curl missing"
command -v openssl >/dev/null || die "openssl missing"
mkdir -p "$RES"
: > "$OUT"
log() { echo "$*" | tee -a "$OUT"; }

BYTES=$((SIZE_MIB * 1024 * 1024))
log "# kumo image bench $STAMP: nproc=$(nproc) size_mib=$SIZE_MIB reps=$REPS $(uname -r)"
log "# kumo $(git -C "$KUMO_ROOT" rev-parse --short HEAD 2>/dev/null || echo uncommitted)" \
	"dir=$BENCH_DIR fs=$(df -PT "$BENCH_DIR" | awk 'NR==2{print $2}')"

# ---------------------------------------------------------------- helpers
quiet() { "$PY" "$M" wait "$QUIET_MAX_S" "$QUIET_CORES" || true; }
fresh() { rm -f "$@"; sync; }      # a write starts from the same page-cache state
measure() { # label pids cmd...
	local label=$1 pids=$2; shift 2
	quiet
	"$PY" "$M" run "$label" "$BYTES" "$pids" -- "$@" | tee -a "$OUT"
}

get_token() { # identity_base user password project
	curl -s -D - -o /dev/null -H 'Content-Type: application/json' --data "$(printf \
		'{"auth":{"identity":{"methods":["password"],"password":{"user":{"name":"%s","domain":{"name":"Default"},"password":"%s"}}},"scope":{"project":{"name":"%s","domain":{"name":"Default"}}}}}' \
		"$2" "$3" "$4")" "$1/v3/auth/tokens" |
		awk -F': ' 'tolower($1)=="x-subject-token"{print $2}' | tr -d '\r'
}

# the transfers against an image API at BASE (TOKEN may be empty: no auth)
run_image_suite() { # target base token pids
	local target=$1 base=$2 token=$3 pids=$4 i id code sum
	local A=()
	[ -n "$token" ] && A=(-H "X-Auth-Token: $token")
	for i in $(seq "$REPS"); do
		for mode in put put_chunked; do
			id=$(curl -sf "${A[@]}" -H 'Content-Type: application/json' \
				--data '{"name":"bench","disk_format":"raw","container_format":"bare"}' \
				"$base/v2/images" | jq -r .id)
			[ -n "$id" ] && [ "$id" != null ] || die "$target: cannot create an image"
			sync
			local H=(-sf "${A[@]}" -H 'Content-Type: application/octet-stream' -o /dev/null)
			[ "$mode" = put_chunked ] && H+=(-H 'Transfer-Encoding: chunked')
			measure "${target}_$mode" "$pids" curl "${H[@]}" -T "$SRC" \
				"$base/v2/images/$id/file"
			sum=$(curl -sf "${A[@]}" "$base/v2/images/$id" | jq -r .checksum)
			[ "$sum" = "$SRC_MD5" ] || die "$target: checksum $sum, expected $SRC_MD5"
			if [ "$mode" = put ]; then
				measure "${target}_get" "$pids" curl -sf "${A[@]}" -o /dev/null \
					"$base/v2/images/$id/file"
				if [ "$i" = 1 ]; then
					sum=$(curl -sf "${A[@]}" "$base/v2/images/$id/file" | openssl md5 |
						awk '{print $NF}')
					log "CHECK target=$target download_md5_ok=$([ "$sum" = "$SRC_MD5" ] &&
						echo yes || echo NO)"
				fi
			fi
			code=$(curl -s "${A[@]}" -o /dev/null -w '%{http_code}' -X DELETE \
				"$base/v2/images/$id")
			[ "$code" = 204 ] || die "$target: delete answered $code"
			sync
		done
	done
}

# ---------------------------------------------------------------- source file, local baselines
BIN="${KUMO_BIN:-$KUMO_ROOT/build/kumo}"
if [ -z "${KUMO_BIN:-}" ]; then
	[ -f build/build.ninja ] || meson setup build --buildtype debugoptimized >/dev/null
	ninja -C build kumo >/dev/null
fi
[ -x "$BIN" ] || die "no kumo binary at $BIN"
STATE=$(mktemp -d "$BENCH_DIR/kumo-bench-image.XXXXXX")
KPID=
GPID=
cleanup() {
	if [ -n "$KPID" ]; then stop_pid "$KPID" 10 || true; fi
	if [ -n "$GPID" ]; then stop_pid "$GPID" 10 || true; fi
	rm -rf "$STATE"
}
trap cleanup EXIT

SRC="$STATE/src.bin"
DST="$STATE/dst.bin"
head -c "$BYTES" /dev/urandom > "$SRC"
SRC_MD5=$(openssl md5 < "$SRC" | awk '{print $NF}')
sync
log "# source $SRC md5=$SRC_MD5"
cat "$SRC" > /dev/null          # in the page cache, for everyone alike
for i in $(seq "$REPS"); do
	fresh "$DST"; measure local_cp "" cp "$SRC" "$DST"
	fresh "$DST"; measure local_cat "" bash -c 'cat "$0" > "$1"' "$SRC" "$DST"
	fresh "$DST"; measure local_cp_hash "" bash -c \
		'tee >(openssl md5 > /dev/null) >(openssl sha512 > /dev/null) < "$0" > "$1"' \
		"$SRC" "$DST"
	fresh "$DST"
	measure local_read "" bash -c 'cat "$0" > /dev/null' "$SRC"
done

# ---------------------------------------------------------------- kumo
PORT=$(free_port)
IPORT=$(free_port)
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
password_hash_rounds = 4
[image]
connection = sqlite:///$STATE/image.db
port = $IPORT
store_dir = $STATE/images
EOF
# the services this run does not test: on free ports, no compute agent
cat >> "$CONF" <<EOF

[compute]
port = $(free_port)
agent = false

[metadata]
port = $(free_port)

[console]
port = $(free_port)
EOF
"$BIN" --config "$CONF" manage db-sync >> "$KLOG" 2>&1
"$BIN" --config "$CONF" manage fernet-setup >> "$KLOG" 2>&1
"$BIN" --config "$CONF" manage bootstrap --bootstrap-password "$ADMIN_PW" \
	--bootstrap-region-id RegionOne --bootstrap-public-url "http://127.0.0.1:$PORT/v3/" \
	>> "$KLOG" 2>&1
"$BIN" --config "$CONF" all >> "$KLOG" 2>&1 &
KPID=$!
wait_http "http://127.0.0.1:$IPORT/versions" 30 "$KPID" || die "kumo did not start (see $KLOG)"
wait_http "http://127.0.0.1:$PORT/v3" 30 "$KPID" || die "kumo identity did not start"
TOKEN=$(get_token "http://127.0.0.1:$PORT" admin "$ADMIN_PW" admin)
[ -n "$TOKEN" ] || die "no admin token"
sleep 1
log "RSS target=kumo label=idle kib=$(ps -o rss= -p "$KPID" | tr -d ' ')"
run_image_suite kumo "http://127.0.0.1:$IPORT" "$TOKEN" "$KPID"
log "RSS target=kumo label=after kib=$(ps -o rss= -p "$KPID" | tr -d ' ')"
stop_pid "$KPID" 10 || true
KPID=

# ---------------------------------------------------------------- Debian's Glance
if [ "${BASELINE:-0}" = 1 ]; then
	if ! command -v glance-api >/dev/null; then
		# never let a postinst start a daemon (as ../shared/baselines/00_install.sh)
		if [ ! -x /usr/sbin/policy-rc.d ]; then
			printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
			chmod +x /usr/sbin/policy-rc.d
		fi
		echo "glance-common glance/configure_db boolean false" | debconf-set-selections
		DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
			glance-api > "$STATE/apt.log" 2>&1 || die "cannot install glance-api"
	fi
	port_busy "$GLANCE_PORT" && die "port $GLANCE_PORT is busy"
	G="$STATE/glance"
	mkdir -p "$G/images" "$G/staging" "$G/lock"
	PASTE=/etc/glance/glance-api-paste.ini
	[ -f "$PASTE" ] || PASTE=/usr/share/glance-common/glance-api-paste.ini
	# Debian's defaults otherwise (workers = number of CPUs, eventlet server as
	# /etc/init.d/glance-api runs it); "flavor =" is the pipeline without
	# keystonemiddleware (unauthenticated context)
	cat > "$G/glance-api.conf" <<EOF
[DEFAULT]
bind_host = 127.0.0.1
bind_port = $GLANCE_PORT
log_file = $G/glance-api.log
enabled_import_methods = [glance-direct]
node_staging_uri = file://$G/staging
[database]
connection = sqlite:///$G/glance.db
[glance_store]
stores = file
default_store = file
filesystem_store_datadir = $G/images
[paste_deploy]
flavor =
config_file = $PASTE
[oslo_concurrency]
lock_path = $G/lock
EOF
	glance-manage --config-file "$G/glance-api.conf" db_sync > "$G/db_sync.log" 2>&1 ||
		die "glance-manage db_sync failed (see $G/db_sync.log)"
	glance-api --config-file "$G/glance-api.conf" > "$G/glance-api.out" 2>&1 &
	GPID=$!
	wait_http "http://127.0.0.1:$GLANCE_PORT/versions" 60 "$GPID" ||
		die "glance-api did not start: $(tail -5 "$G/glance-api.out")"
	sleep 2
	log "# glance $(dpkg-query -W -f '${Version}' glance-api 2>/dev/null)"
	gpids() { echo "$GPID $(pgrep -P "$GPID" | tr '\n' ' ')"; }
	log "RSS target=glance label=idle kib=$(ps -o rss= -p "$(gpids | tr ' ' ',' |
		sed 's/,*$//')" | awk '{s+=$1} END{print s}')"
	run_image_suite glance "http://127.0.0.1:$GLANCE_PORT" "" "$(gpids)"
	log "RSS target=glance label=after kib=$(ps -o rss= -p "$(gpids | tr ' ' ',' |
		sed 's/,*$//')" | awk '{s+=$1} END{print s}')"
	stop_pid "$GPID" 10 || true
	GPID=
fi

# ---------------------------------------------------------------- table
"$PY" - "$OUT" "$SIZE_MIB" <<'EOF' | tee "$TABLE"
import collections, re, statistics, sys
raw, size = sys.argv[1], sys.argv[2]
kv = lambda line: dict(re.findall(r'(\w+)=(\S+)', line))
runs = collections.defaultdict(list)
rss = {}
for line in open(raw):
    d = kv(line)
    if line.startswith('RUN '):
        runs[d['label']].append(d)
    elif line.startswith('RSS '):
        rss[(d['target'], d['label'])] = int(d['kib'])
med = lambda label, key: statistics.median(float(r[key]) for r in runs[label])
def cell(label):
    if not runs[label]:
        return None
    return med(label, 'mib_s')
names = [
    ('local_cp', 'cp SRC DST (local copy)'),
    ('local_cat', 'cat SRC > DST'),
    ('local_cp_hash', 'copy + MD5 + SHA-512 (tee, openssl)'),
    ('kumo_put', 'kumo PUT /file, Content-Length'),
    ('kumo_put_chunked', 'kumo PUT /file, chunked'),
    ('glance_put', 'Glance PUT /file, Content-Length'),
    ('glance_put_chunked', 'Glance PUT /file, chunked'),
    ('local_read', 'cat SRC > /dev/null (local read)'),
    ('kumo_get', 'kumo GET /file'),
    ('glance_get', 'Glance GET /file'),
]
print('Image data over loopback, %s MiB file, median of %d reps (%s)\n'
      % (size, max(len(v) for v in runs.values()), raw.split('/')[-1]))
print('| what | MiB/s | s | % of cp | % of copy+hashes | % of local read | '
      'server CPU s per GiB | server RSS max MiB | others\' cores (max) | MiB/s of each rep |')
print('|---|---|---|---|---|---|---|---|---|---|')
for label, name in names:
    if not runs[label]:
        continue
    v = med(label, 'mib_s')
    def pct(base, applies):
        return '%.0f%%' % (100 * v / cell(base)) if applies and cell(base) else '-'
    write = 'put' in label or label in ('local_cp', 'local_cat', 'local_cp_hash')
    read = 'get' in label or label == 'local_read'
    server = not label.startswith('local')
    gib = float(runs[label][0]['bytes']) / 2**30
    print('| %s | %.1f | %.2f | %s | %s | %s | %s | %s | %.2f | %s |' % (
        name, v, med(label, 'wall_s'), pct('local_cp', write), pct('local_cp_hash', write),
        pct('local_read', read),
        '%.2f' % (med(label, 'server_cpu_s') / gib) if server else '-',
        '%.1f' % (max(int(r['rss_max_kib']) for r in runs[label]) / 1024) if server else '-',
        max(float(r['background_cores']) for r in runs[label]),
        ', '.join(r['mib_s'] for r in runs[label])))
print()
for t in ('kumo', 'glance'):
    if (t, 'idle') in rss:
        print('%s RSS: idle %.1f MiB, after the runs %.1f MiB' % (
            t, rss[(t, 'idle')] / 1024, rss.get((t, 'after'), 0) / 1024))
EOF
say "raw: $OUT"
say "table: $TABLE"
