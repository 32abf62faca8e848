#!/bin/bash
# bench/network/run.sh - 1000 ports through the Network API, and how soon DHCP serves them.
#
# Runs bench/network/measure.py (as root: it builds a namespace, a bridge and
# a dnsmasq through its own `kumo all`), which creates N ports one after the
# other on one network while a raw-socket DHCP prober asks dnsmasq for each
# new port's address, then times port lists.  Goals (issue 4): p50 port create
# < 5 ms, every port served by DHCP within 10 s of the last create.
#
# Output: bench/results/network-<UTC time>.txt (raw lines) and .md (the
# table, also printed).  Environment: N [1000], KUMO_BIN [build/kumo, built
# when missing], BENCH_DIR [/var/tmp], LIST_REPS [20], RETRY_S [0.3],
# SERVE_TIMEOUT [60], BENCH_DEBUG [1], BENCH_KEEP (keep the state directory).
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
. "$HERE/../../tools/kumo-lib.sh"
cd "$KUMO_ROOT"

[ "$(id -u)" = 0 ] || die "needs root (network namespaces, bridges, dnsmasq)"
for t in ip nft dnsmasq; do
	command -v "$t" >/dev/null || [ -x "/usr/sbin/$t" ] || die "$t missing (tools/install-deps.sh)"
done
if [ -z "${KUMO_BIN:-}" ]; then
	[ -f build/build.ninja ] || meson setup build --buildtype debugoptimized
	ninja -C build kumo
	export KUMO_BIN="$KUMO_ROOT/build/kumo"
fi
RES="$KUMO_ROOT/bench/results"
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
mkdir -p "$RES"
export BENCH_OUT="$RES/network-$STAMP.txt"
"$PY" "$HERE/measure.py"
{
	rev=$(git rev-parse --short HEAD 2>/dev/null || echo ?)
	echo "# Network bench $STAMP ($(nproc) CPUs, kumo $rev)"
	echo
	sed -n '/^| what/,$p' "$BENCH_OUT"
} > "$RES/network-$STAMP.md"
say "results: $BENCH_OUT and $RES/network-$STAMP.md"
