#!/bin/bash
# bench/compute/metadata.sh - requests/s of the compute metadata API (issue 6, goal >= 5,000).
#
# Runs `kumo metadata` alone (its own state directory: db-sync, one instance
# row and its port written into compute.db, a shared secret), then wrk with
# the headers the network service's metadata proxy sends (X-Instance-ID,
# X-Tenant-ID, X-Forwarded-For, X-Instance-ID-Signature) against:
#   ec2-leaf    /latest/meta-data/hostname        (what cloud-setup asks first)
#   ec2-list    /2009-04-04/meta-data/            (the seed's listing)
#   os-json     /openstack/latest/meta_data.json  (+ metadata, keypair, random seed)
#   forged      a wrong signature                 (the 403 path)
# Each request is authenticated and does its instance and port lookups: no
# answer is cached.  Direct to the service on a free loopback port; then, with
# PROXY=1 (the default when root), the same through the network service's
# metadata proxy from a "guest" namespace (bench/compute/metadata_proxy.py:
# a `kumo all` with the network agents, a qdhcp namespace, a veth): the
# issue's figure.
#
# Output: bench/results/metadata-<UTC time>.txt (wrk output) and .md (the table,
# also printed).  Environment: KUMO_BIN [build/kumo, built when missing],
# DURATION [10s], CONNS [32], THREADS [2], WORKERS [8] (the service's threads),
# PROXY [1 as root, else 0], BENCH_KEEP (keep the state directory).
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
. "$HERE/../../tools/kumo-lib.sh"
cd "$KUMO_ROOT"

command -v wrk >/dev/null || die "wrk missing (apt-get install wrk)"
if [ -z "${KUMO_BIN:-}" ]; then
	[ -f build/build.ninja ] || meson setup build --buildtype debugoptimized
	ninja -C build kumo
	KUMO_BIN="$KUMO_ROOT/build/kumo"
fi
DURATION=${DURATION:-10s}
CONNS=${CONNS:-32}
THREADS=${THREADS:-2}
WORKERS=${WORKERS:-8}
RES="$KUMO_ROOT/bench/results"
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
mkdir -p "$RES"
OUT="$RES/metadata-$STAMP.txt"
MD="$RES/metadata-$STAMP.md"

WORK=$(mktemp -d /var/tmp/kumo-mdbench-XXXXXX)
KPID=
cleanup() {
	[ -n "$KPID" ] && stop_pid "$KPID" 20 || true
	[ -n "${BENCH_KEEP:-}" ] && say "state kept in $WORK" || rm -rf "$WORK"
}
trap cleanup EXIT

PORT=$(free_port)
SECRET=bench-$RANDOM$RANDOM
cat > "$WORK/kumo.conf" <<EOF
[DEFAULT]
state_dir = $WORK
bind_host = 127.0.0.1
debug = false
[metadata]
port = $PORT
workers = $WORKERS
[compute]
metadata_proxy_shared_secret = $SECRET
EOF
"$KUMO_BIN" --config "$WORK/kumo.conf" manage db-sync > "$WORK/db-sync.log" 2>&1 ||
	die "db-sync failed: $(tail -5 "$WORK/db-sync.log")"

# one instance (with a key, metadata and user data) and its port; prints the headers' values
read -r IID TENANT IP SIG < <("$PY" - "$WORK/compute.db" "$SECRET" <<'EOF'
import base64, hashlib, hmac, json, sqlite3, sys, time, uuid
db = sqlite3.connect(sys.argv[1])
iid, tenant, ip = str(uuid.uuid4()), uuid.uuid4().hex, "10.0.0.5"
now = int(time.time() * 1e6)
db.execute("INSERT INTO cmp_instance (id, project_id, user_id, name, hostname, image_ref, "
           "flavor_id, flavor, vm_state, availability_zone, key_name, key_data, user_data, "
           "reservation_id, security_groups, created_at, updated_at) "
           "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
           (iid, tenant, uuid.uuid4().hex, "hello-instance", "hello-instance",
            str(uuid.uuid4()), "1", json.dumps({"name": "m1.tiny"}), "active", "nova", "mykey",
            "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBench bench", base64.b64encode(b"#!/bin/sh\n").decode(),
            "r-bench001", json.dumps(["default"]), now, now))
db.execute("INSERT INTO cmp_instance_metadata VALUES (?, 'role', 'bench')", (iid,))
db.execute("INSERT INTO cmp_instance_port (instance_id, port_id, network_id, mac, ips, ord) "
           "VALUES (?,?,?,?,?,0)", (iid, str(uuid.uuid4()), "", "fa:16:3e:00:00:01",
                                     json.dumps([{"addr": ip, "version": 4, "type": "fixed"}])))
db.commit()
sig = hmac.new(sys.argv[2].encode(), iid.encode(), hashlib.sha256).hexdigest()
print(iid, tenant, ip, sig)
EOF
)

"$KUMO_BIN" --config "$WORK/kumo.conf" metadata > "$WORK/kumo.log" 2>&1 &
KPID=$!
wait_http "http://127.0.0.1:$PORT/" 30 "$KPID" || die "kumo metadata did not start: $(tail -5 "$WORK/kumo.log")"

H=(-H "X-Instance-ID: $IID" -H "X-Tenant-ID: $TENANT" -H "X-Forwarded-For: $IP")
check() { # path sig -> status
	curl -s -o /dev/null -w '%{http_code}' "${H[@]}" -H "X-Instance-ID-Signature: $2" \
		"http://127.0.0.1:$PORT$1"
}
[ "$(check /latest/meta-data/hostname "$SIG")" = 200 ] || die "the signed request was refused"
[ "$(check /latest/meta-data/hostname "0$SIG")" = 403 ] || die "a forged signature was accepted"

say "# metadata API bench $STAMP ($(nproc) CPUs, $WORKERS service threads, wrk -t$THREADS -c$CONNS -d$DURATION)" | tee "$OUT"
rows=()
run() { # name path sig expected-status
	local out rps lat
	out=$(wrk -t"$THREADS" -c"$CONNS" -d"$DURATION" --latency "${H[@]}" \
		-H "X-Instance-ID-Signature: $3" "http://127.0.0.1:$PORT$2")
	printf '\n## %s %s\n%s\n' "$1" "$2" "$out" >> "$OUT"
	rps=$(awk '/^Requests\/sec:/ {printf "%.0f", $2}' <<<"$out")
	lat=$(awk '$1 == "50%" {print $2}' <<<"$out")
	if grep -q "Non-2xx" <<<"$out" && [ "$4" = 200 ]; then
		die "$1: non-2xx answers: $(grep Non-2xx <<<"$out")"
	fi
	rows+=("| $1 | \`$2\` | $4 | $rps | $lat |")
	say "RESULT $1 $rps req/s p50 $lat" | tee -a "$OUT"
}
run ec2-leaf /latest/meta-data/hostname "$SIG" 200
run ec2-list /2009-04-04/meta-data/ "$SIG" 200
run os-json /openstack/latest/meta_data.json "$SIG" 200
run forged /latest/meta-data/hostname "$(printf "%064d" 0)" 403
stop_pid "$KPID" 20 || true
KPID=

if [ "${PROXY:-$([ "$(id -u)" = 0 ] && echo 1 || echo 0)}" = 1 ]; then
	say "through the metadata proxy (a kumo all with the network agents)..."
	while read -r tag name rps _ _ lat rest; do
		[ "$tag" = RESULT ] || continue
		case "$name" in
		proxy-ec2-leaf) path=/latest/meta-data/hostname ;;
		*) path=/openstack/latest/meta_data.json ;;
		esac
		rows+=("| $name | \`$path\` (via 169.254.169.254) | 200 | $rps | $lat |")
		say "RESULT $name $rps req/s p50 $lat $rest" | tee -a "$OUT"
		[ -z "$rest" ] || die "$name: $rest"
	done < <(KUMO_BIN="$KUMO_BIN" DURATION="$DURATION" CONNS="$CONNS" THREADS="$THREADS" \
		BENCH_OUT="$OUT" "$PY" "$HERE/metadata_proxy.py")
fi

{
	rev=$(git rev-parse --short HEAD 2>/dev/null || echo ?)
	echo "# Metadata API bench $STAMP ($(nproc) CPUs, kumo $rev, $WORKERS threads, wrk -t$THREADS -c$CONNS -d$DURATION)"
	echo
	echo "| what | path | status | req/s | p50 |"
	echo "|---|---|---|---|---|"
	printf '%s\n' "${rows[@]}"
	echo
	echo "Goal (issue 6): >= 5,000 req/s."
} > "$MD"
cat "$MD"
say "results: $OUT and $MD"
