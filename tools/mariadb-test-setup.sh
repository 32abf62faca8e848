#!/bin/bash
# mariadb-test-setup.sh - a local MariaDB for Kumo's tests and CI, started on demand.
#
#   tools/mariadb-test-setup.sh [DBNAME...]
#
# Idempotent: starts the server only when nothing answers on its socket (there
# is no systemd in our containers, so mariadbd is run directly in the
# background), initializes the data directory when it is empty, then creates
# database kumo_test plus every DBNAME given, and user kumo (password kumo)
# with all privileges on them.  Prints the test URL on stdout, e.g.
#     mysql://kumo:kumo@127.0.0.1/kumo_test
# so `export KUMO_TEST_MYSQL_URL=$(tools/mariadb-test-setup.sh)` works.
# Needs root (or sudo): it talks to the server as root over the unix socket.
#
# Environment: MARIADB_SOCKET (default /run/mysqld/mysqld.sock),
# MARIADB_DATADIR (default /var/lib/mysql), MARIADB_LOG (server log file).
set -euo pipefail

SOCK=${MARIADB_SOCKET:-/run/mysqld/mysqld.sock}
DATADIR=${MARIADB_DATADIR:-/var/lib/mysql}
LOG=${MARIADB_LOG:-/var/log/mysql/kumo-test.log}
TEST_USER=kumo
TEST_PASS=kumo

die() { printf '%s: %s\n' "${0##*/}" "$*" >&2; exit 1; }
log() { printf '%s: %s\n' "${0##*/}" "$*" >&2; }   # stdout carries only the URL

SUDO=()
if [ "$(id -u)" -ne 0 ]; then
	command -v sudo >/dev/null || die "run as root"
	SUDO=(sudo)
fi

command -v mariadbd >/dev/null || [ -x /usr/sbin/mariadbd ] ||
	die "mariadb-server is not installed (tools/install-deps.sh)"

alive() {
	"${SUDO[@]}" mariadb-admin --socket="$SOCK" --connect-timeout=2 ping >/dev/null 2>&1
}

if alive; then
	log "MariaDB already running ($SOCK)"
else
	rundir=$(dirname "$SOCK")
	"${SUDO[@]}" mkdir -p "$rundir" "$(dirname "$LOG")"
	"${SUDO[@]}" chown mysql:mysql "$rundir"
	"${SUDO[@]}" touch "$LOG"
	"${SUDO[@]}" chown mysql:mysql "$LOG"
	if [ ! -d "$DATADIR/mysql" ]; then
		log "initializing $DATADIR"
		"${SUDO[@]}" mariadb-install-db --user=mysql --datadir="$DATADIR" \
			--auth-root-authentication-method=socket >/dev/null
	fi
	log "starting MariaDB (log: $LOG)"
	# setsid + nohup: the server outlives this script and its terminal.
	"${SUDO[@]}" setsid nohup /usr/sbin/mariadbd --user=mysql --datadir="$DATADIR" \
		--socket="$SOCK" --log-error="$LOG" </dev/null >/dev/null 2>&1 &
	for _ in $(seq 1 600); do
		alive && break
		sleep 0.1
	done
	alive || die "MariaDB did not start within 60 s; see $LOG"
fi

sql="CREATE USER IF NOT EXISTS '$TEST_USER'@'localhost' IDENTIFIED BY '$TEST_PASS';
CREATE USER IF NOT EXISTS '$TEST_USER'@'127.0.0.1' IDENTIFIED BY '$TEST_PASS';
CREATE USER IF NOT EXISTS '$TEST_USER'@'::1' IDENTIFIED BY '$TEST_PASS';"
for db in kumo_test "$@"; do
	[[ $db =~ ^[A-Za-z0-9_]+$ ]] || die "bad database name: $db"
	sql+="
CREATE DATABASE IF NOT EXISTS \`$db\` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin;"
	for h in localhost 127.0.0.1 ::1; do
		sql+="
GRANT ALL PRIVILEGES ON \`$db\`.* TO '$TEST_USER'@'$h';"
	done
done
# Tests may create (and drop) scratch databases of their own, named kumo_*.
for h in localhost 127.0.0.1 ::1; do
	sql+="
GRANT ALL PRIVILEGES ON \`kumo%\`.* TO '$TEST_USER'@'$h';"
done
"${SUDO[@]}" mariadb --socket="$SOCK" -u root <<<"$sql" || die "cannot create databases/user"

echo "mysql://$TEST_USER:$TEST_PASS@127.0.0.1/kumo_test"
