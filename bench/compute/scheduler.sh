#!/bin/bash
# bench/compute/scheduler.sh - the scheduler benchmark (issue 5, part b).
#
# Builds tests/unit/sched_bench (bench/compute/sched_bench.c, an optional
# target of tests/unit/meson.build) in a debugoptimized build without sanitizers (as the other benches)
# and runs it: NODES compute nodes on SQLite, PLACEMENTS placements through
# cmp_schedule() (filters, weighers, claim transaction) serially, then with
# THREADS threads, then with THREADS threads on nodes shrunk so that only a
# quarter fits; after each phase it checks that no host is oversubscribed.
# Goal: >= 1000 placements/s.
#
# Output: bench/results/scheduler-<UTC time>.txt (raw lines) and .md (the
# table, also printed).  Environment: NODES [1000], PLACEMENTS [10000],
# THREADS [4], BUILD [build-bench: a build dir without sanitizers, made when missing].
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
. "$HERE/../../tools/kumo-lib.sh"
cd "$KUMO_ROOT"

NODES=${NODES:-1000}
PLACEMENTS=${PLACEMENTS:-10000}
THREADS=${THREADS:-4}
BUILD=${BUILD:-build-bench}
[ -f "$BUILD/build.ninja" ] || meson setup "$BUILD" --buildtype debugoptimized >/dev/null
ninja -C "$BUILD" tests/unit/sched_bench >"$BUILD/sched_bench.log" 2>&1 || { cat "$BUILD/sched_bench.log"; die "build failed"; }

RES="$KUMO_ROOT/bench/results"
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
mkdir -p "$RES"
OUT="$RES/scheduler-$STAMP.txt"
rc=0
"$BUILD/tests/unit/sched_bench" "$NODES" "$PLACEMENTS" "$THREADS" | tee "$OUT" || rc=$?

val() { # line key
	sed -n "s/.* $2=\([^ ]*\).*/\1/p" <<<"$1"
}
{
	rev=$(git rev-parse --short HEAD 2>/dev/null || echo ?)
	echo "# Scheduler bench $STAMP ($(nproc) CPUs, kumo $rev)"
	echo
	echo "$NODES nodes, $PLACEMENTS placements per phase, SQLite (WAL), debugoptimized build without sanitizers."
	echo
	echo "| phase | threads | placed | NoValidHost | s | placements/s | p50 ms | p99 ms | max ms |"
	echo "|---|---|---|---|---|---|---|---|---|"
	grep '^RESULT' "$OUT" | while read -r line; do
		printf '| %s | %s | %s | %s | %s | %s | %.2f | %.2f | %.2f |\n' \
			"$(val "$line" phase)" "$(val "$line" threads)" "$(val "$line" placed)" \
			"$(val "$line" no_valid_host)" "$(val "$line" seconds)" "$(val "$line" rate)" \
			"$(awk -v v="$(val "$line" p50_us)" 'BEGIN { print v / 1000 }')" \
			"$(awk -v v="$(val "$line" p99_us)" 'BEGIN { print v / 1000 }')" \
			"$(awk -v v="$(val "$line" max_us)" 'BEGIN { print v / 1000 }')"
	done
	echo
	if [ "$rc" = 0 ]; then
		echo "Checks: no host oversubscribed (RAM, disk, vCPUs) after any phase; one allocation per success."
	else
		echo "Checks FAILED (see $OUT)."
	fi
} > "$RES/scheduler-$STAMP.md"
cat "$RES/scheduler-$STAMP.md"
say "results: $OUT and $RES/scheduler-$STAMP.md"
exit "$rc"
