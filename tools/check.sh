#!/bin/bash
# check.sh - `make check`: every test Kumo has, as CI runs it.
#
# Steps (CHECK_STEPS="unit mysql integration integration-mysql fuzz tempest",
# the compute tests need libvirtd and the guest image: tools/libvirt-setup.sh
# and tools/build-guest-image.sh run first),
# the default, or any subset, space or comma separated):
#   unit               ASan/UBSan build in build-asan/, `meson test`
#   mysql              the same unit tests again with KUMO_TEST_MYSQL_URL
#                      (MariaDB started by tools/mariadb-test-setup.sh)
#   integration        tests/integration with pytest and the ASan kumo, SQLite
#   integration-mysql  the same with KUMO_TEST_DB_URL = a fresh MariaDB database
#   fuzz               libFuzzer targets (clang, build-fuzz/), FUZZ_TIME s each [30]
#   tempest            Tempest interop tests: identity, image, network, compute
#                      (tools/tempest-<service>.sh)
#   tempest-all        (not in the default set) every tempest.api.identity test
# A step that cannot run for lack of something optional (the shared Tempest
# harness) is reported as skipped.  The last line is "N passed, N failed,
# N skipped" over all steps; the exit status is non-zero on any failure.
set -uo pipefail
. "$(dirname "$0")/kumo-lib.sh"
cd "$KUMO_ROOT"

STEPS="${CHECK_STEPS:-unit mysql integration integration-mysql fuzz tempest}"
STEPS="${STEPS//,/ }"
FUZZ_TIME="${FUZZ_TIME:-30}"
ASAN_DIR=build-asan
FUZZ_DIR=build-fuzz
LOGDIR="$ASAN_DIR/check-logs"
SUMMARY=()
TOTAL_P=0 TOTAL_F=0 TOTAL_S=0 BAD=0
t_start=$(date +%s)

# Any ASan/UBSan report, including a leak found at exit, makes a process fail.
ASAN_BASE="${ASAN_OPTIONS:-detect_leaks=1:halt_on_error=1:check_initialization_order=1:strict_init_order=1}"
UBSAN_BASE="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
export ASAN_OPTIONS="$ASAN_BASE" UBSAN_OPTIONS="$UBSAN_BASE"
export PYTHONDONTWRITEBYTECODE=1

# For the kumo processes that tests start (integration, Tempest), reports go to
# files as well: a server whose exit status nobody checks still counts.
san_begin() { # step
	SAN_DIR="$KUMO_ROOT/$LOGDIR/sanitizer-$1"
	rm -rf "$SAN_DIR" && mkdir -p "$SAN_DIR"
	export ASAN_OPTIONS="$ASAN_BASE:log_path=$SAN_DIR/asan"
	export UBSAN_OPTIONS="$UBSAN_BASE:log_path=$SAN_DIR/ubsan"
}
san_end() { # sets SAN_N = number of processes that reported
	export ASAN_OPTIONS="$ASAN_BASE" UBSAN_OPTIONS="$UBSAN_BASE"
	SAN_N=$(find "$SAN_DIR" -type f | wc -l)
	if [ "$SAN_N" -gt 0 ]; then
		say "!!! $SAN_N sanitizer report(s) in $SAN_DIR:"
		head -n 60 "$SAN_DIR"/*
	fi
}

banner() { printf '\n===== %s =====\n' "$*"; }
record() { # step passed failed skipped [note]
	SUMMARY+=("$(printf '%-18s %4d passed %4d failed %4d skipped  %s' "$1" "$2" "$3" "$4" "${5:-}")")
	TOTAL_P=$((TOTAL_P + $2)); TOTAL_F=$((TOTAL_F + $3)); TOTAL_S=$((TOTAL_S + $4))
	[ "$3" -eq 0 ] || BAD=1
}
want() { [[ " $STEPS " == *" $1 "* ]]; }

# counts "passed failed skipped" from meson's testlog.json
meson_counts() {
	"$PY" - "$1/meson-logs/testlog.json" <<'EOF'
import json, sys
p = f = s = 0
try:
    for line in open(sys.argv[1]):
        r = json.loads(line).get('result', '')
        if r in ('OK', 'EXPECTEDFAIL'): p += 1
        elif r == 'SKIP': s += 1
        else: f += 1
except FileNotFoundError:
    pass
print(p, f, s)
EOF
}

# counts "passed failed skipped" from a pytest junit xml
junit_counts() {
	"$PY" - "$1" <<'EOF'
import sys, xml.etree.ElementTree as ET
try:
    root = ET.parse(sys.argv[1]).getroot()
except (OSError, ET.ParseError):
    print(0, 0, 0); sys.exit()
suites = [root] if root.tag == 'testsuite' else root.findall('testsuite')
t = f = s = 0
for su in suites:
    t += int(su.get('tests', 0)); s += int(su.get('skipped', 0))
    f += int(su.get('failures', 0)) + int(su.get('errors', 0))
print(max(t - f - s, 0), f, s)
EOF
}

build_asan() {
	[ -z "${ASAN_BUILT:-}" ] || return "$ASAN_BUILT"
	banner "build $ASAN_DIR (gcc, ASan + UBSan)"
	ASAN_BUILT=0
	if [ ! -f "$ASAN_DIR/build.ninja" ]; then
		meson setup "$ASAN_DIR" -Db_sanitize=address,undefined -Db_lundef=false \
			--buildtype debugoptimized || ASAN_BUILT=1
	fi
	[ "$ASAN_BUILT" = 1 ] || ninja -C "$ASAN_DIR" || ASAN_BUILT=1
	mkdir -p "$LOGDIR"
	return "$ASAN_BUILT"
}

run_unit() { # step-name
	local counts rc
	rm -f "$ASAN_DIR/meson-logs/testlog.json"
	meson test -C "$ASAN_DIR" --print-errorlogs --num-processes 2
	rc=$?
	read -r p f s <<< "$(meson_counts "$ASAN_DIR")"
	cp -f "$ASAN_DIR/meson-logs/testlog.txt" "$LOGDIR/$1.txt" 2>/dev/null || true
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
	record "$1" "$p" "$f" "$s"
}

mariadb_url() { # extra database names
	bash tools/mariadb-test-setup.sh "$@"
}

mariadb_fresh_db() { # name: drop it, then let the setup script create + grant it
	local sock="${MARIADB_SOCKET:-/run/mysqld/mysqld.sock}"
	mariadb_url >/dev/null || return 1
	mariadb --socket="$sock" -u root -e "DROP DATABASE IF EXISTS \`$1\`" || return 1
	mariadb_url "$1" >/dev/null || return 1
	echo "mysql://kumo:kumo@127.0.0.1/$1"
}

run_integration() { # step-name [db url [db url for test_cli_identity]]
	local xml="$LOGDIR/$1.xml" rc note
	rm -f "$xml"
	san_begin "$1"
	KUMO_BIN="$KUMO_ROOT/$ASAN_DIR/kumo" KUMO_TEST_DB_URL="${2:-}" KUMO_TEST_CLI_DB_URL="${3:-}" \
		"$PY" -m pytest tests/integration -v -o cache_dir="$ASAN_DIR/.pytest_cache" \
		--junitxml="$xml" 2>&1 | tee "$LOGDIR/$1.log"
	rc=${PIPESTATUS[0]}
	san_end
	read -r p f s <<< "$(junit_counts "$xml")"
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
	note="(log $LOGDIR/$1.log)"
	[ "$SAN_N" -eq 0 ] || note="$note + $SAN_N sanitizer report(s), counted as failures"
	record "$1" "$p" $((f + SAN_N)) "$s" "$note"
}

# ---------------------------------------------------------------- unit tests
if want unit || want mysql || want integration || want integration-mysql || want tempest ||
	want tempest-all; then
	if ! build_asan; then
		record build-asan 0 1 0 "(meson/ninja failed)"
	fi
fi

# The compute tests boot real VMs: libvirtd and the guest image must be there,
# and a missing one is a failure, not a skip (KUMO_REQUIRE_COMPUTE).
if want unit || want mysql || want integration || want integration-mysql || want tempest; then
	banner "libvirt and the guest image"
	# the console test drives Debian's chromium with playwright-core (npm)
	if [ ! -d tests/browser/node_modules/playwright-core ]; then
		(cd tests/browser && npm ci --no-audit --no-fund --loglevel=error) ||
			say "npm ci in tests/browser failed: the browser tests will fail"
	fi
	if bash tools/libvirt-setup.sh && bash tools/build-guest-image.sh build/guest-image; then
		export KUMO_REQUIRE_COMPUTE=1
	else
		record compute-setup 0 1 0 "(tools/libvirt-setup.sh or tools/build-guest-image.sh failed)"
	fi
fi

if want unit && [ "${ASAN_BUILT:-1}" = 0 ]; then
	banner "unit tests (ASan/UBSan, SQLite)"
	run_unit unit
fi

if want mysql && [ "${ASAN_BUILT:-1}" = 0 ]; then
	banner "unit tests (ASan/UBSan, MariaDB)"
	if url=$(mariadb_url); then
		KUMO_TEST_MYSQL_URL="$url" run_unit unit-mysql
	else
		record unit-mysql 0 1 0 "(MariaDB setup failed)"
	fi
fi

# ---------------------------------------------------------------- integration
if want integration && [ "${ASAN_BUILT:-1}" = 0 ]; then
	banner "integration tests (openstack CLI, ASan kumo, SQLite)"
	run_integration integration
fi

if want integration-mysql && [ "${ASAN_BUILT:-1}" = 0 ]; then
	banner "integration tests (openstack CLI, ASan kumo, MariaDB)"
	if url=$(mariadb_fresh_db kumo_integ) && url2=$(mariadb_fresh_db kumo_integ_cli); then
		# the real VMs boot once, in the SQLite run; here the APIs on MariaDB
		KUMO_SKIP_VM_TESTS=1 run_integration integration-mysql "$url" "$url2"
	else
		record integration-mysql 0 1 0 "(MariaDB setup failed)"
	fi
fi

# ---------------------------------------------------------------- fuzzing
if want fuzz; then
	banner "fuzz targets (clang, libFuzzer + ASan/UBSan, ${FUZZ_TIME}s each)"
	ok=1
	if [ ! -f "$FUZZ_DIR/build.ninja" ]; then
		CC=clang meson setup "$FUZZ_DIR" -Dfuzz=true -Db_sanitize=address,undefined \
			-Db_lundef=false --buildtype debugoptimized || ok=0
	fi
	targets=()
	if [ $ok = 1 ]; then
		mapfile -t targets < <(cd tests/fuzz && ls fuzz_*.c 2>/dev/null | sed 's/\.c$//')
		[ ${#targets[@]} -eq 0 ] || ninja -C "$FUZZ_DIR" "${targets[@]/#/tests/fuzz/}" || ok=0
	fi
	if [ $ok = 0 ]; then
		record fuzz-build 0 1 0 "(clang build failed)"
	else
		mkdir -p "$LOGDIR"
		for t in "${targets[@]}"; do
			corpus="$FUZZ_DIR/corpus/$t"; seeds=()
			mkdir -p "$corpus" "$FUZZ_DIR/artifacts"
			[ -d "tests/fuzz/corpus/$t" ] && seeds=("tests/fuzz/corpus/$t")
			say "--- $t"
			"$FUZZ_DIR/tests/fuzz/$t" -max_total_time="$FUZZ_TIME" -timeout=10 \
				-rss_limit_mb=2048 -print_final_stats=1 \
				-artifact_prefix="$FUZZ_DIR/artifacts/$t-" \
				"$corpus" "${seeds[@]}" > "$LOGDIR/$t.log" 2>&1
			rc=$?
			grep -E '^(stat::number_of_executed_units|stat::peak_rss_mb|#[0-9]+ +DONE)' \
				"$LOGDIR/$t.log" | tr '\n' ' '; echo
			if [ $rc -eq 0 ]; then
				record "$t" 1 0 0
			else
				tail -n 40 "$LOGDIR/$t.log"
				record "$t" 0 1 0 "(crash input in $FUZZ_DIR/artifacts/, log $LOGDIR/$t.log)"
			fi
		done
	fi
fi

# ---------------------------------------------------------------- tempest
run_tempest() { # step-name scope [script]
	local out="$LOGDIR/$1.log" rc line p f s script="${3:-tools/tempest-identity.sh}"
	if [ "${ASAN_BUILT:-1}" != 0 ]; then
		record "$1" 0 1 0 "(no kumo build)"
	else
		san_begin "$1"
		KUMO_BIN="$KUMO_ROOT/$ASAN_DIR/kumo" TEMPEST_SCOPE="$2" \
			bash "$script" 2>&1 | tee "$out"
		rc=${PIPESTATUS[0]}
		san_end
		if [ "$rc" -eq 77 ]; then
			record "$1" 0 0 0 "(skipped: shared Tempest harness not found)"
		else
			line=$(grep -E '^[0-9]+ passed, [0-9]+ failed, [0-9]+ skipped' "$out" | tail -n 1)
			p=$(sed -n 's/^\([0-9]*\) passed.*/\1/p' <<< "$line")
			f=$(sed -n 's/.* \([0-9]*\) failed.*/\1/p' <<< "$line")
			s=$(sed -n 's/.* \([0-9]*\) skipped.*/\1/p' <<< "$line")
			p=${p:-0} f=${f:-0} s=${s:-0}
			if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
			record "$1" "$p" $((f + SAN_N)) "$s" "(log $out)"
		fi
	fi
}
if want tempest; then
	banner "Tempest identity interop tests"
	run_tempest tempest interop
	for svc in image network compute; do
		[ -f "tools/tempest-$svc.sh" ] || continue
		banner "Tempest $svc interop tests"
		run_tempest "tempest-$svc" interop "tools/tempest-$svc.sh"
	done
	# the two interop tests that log into a guest, and the scenarios that
	# reach VMs over floating IPs, metadata and SSH (issue 6)
	banner "Tempest compute with SSH into the guests (run_validation)"
	TEMPEST_VALIDATION=1 run_tempest tempest-compute-ssh \
		'tempest\.api\.compute\.servers\.test_create_server\.ServersTestJSON\.test_(host_name_is_same_as_server_name|verify_created_server_vcpus)|tempest\.scenario\.test_server_basic_ops|tempest\.scenario\.test_network_basic_ops\.TestNetworkBasicOps\.test_network_basic_ops' \
		tools/tempest-compute.sh
fi
if want tempest-all; then
	banner "Tempest: every tempest.api.identity test"
	run_tempest tempest-all all
fi

# ---------------------------------------------------------------- summary
banner "summary ($(( $(date +%s) - t_start )) s)"
printf '%s\n' "${SUMMARY[@]}"
echo "$TOTAL_P passed, $TOTAL_F failed, $TOTAL_S skipped"
exit $BAD
