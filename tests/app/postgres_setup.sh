# Sourced by the end-to-end scripts that need PostgreSQL: a real PostgreSQL 15 in a temporary
# folder, listening on a Unix socket only (listen_addresses=''), trust authentication for this test
# server only; as root, initdb and pg_ctl run as the `postgres` user (initdb refuses root).
# REQUIRES: fail(), free_port(). Sets $pgbin, $pg (the folder), $pg_port (only the name of the
# socket file), $psql (an array: psql as the superuser `medanchor`, add -d DB). The caller's
# cleanup calls stop_postgres; restart_postgres ends every session (-m fast) and starts the server
# again on the same socket.

pgbin=${MEDANCHOR_PG_BINDIR:-/usr/lib/postgresql/15/bin}
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

# Starts the server and, given a name, creates database $1 and sets $uri (no password in it).
start_postgres() {
    [ -x "$pgbin/initdb" ] && [ -x "$pgbin/pg_ctl" ] || \
        fail "PostgreSQL's initdb and pg_ctl are not in $pgbin: install the Debian package postgresql-15 (scripts/apt-packages.txt)"
    pg=$(mktemp -d)
    [ "$(id -u)" = 0 ] && chown postgres "$pg"
    pg_port=$(free_port)  # only the name of the socket file: the server listens on no TCP port
    as_pg "$pgbin/initdb" -D "$pg/data" -U medanchor -A trust --no-sync -E UTF8 --locale=C >"$pg/initdb.log" 2>&1 \
        || fail "initdb: $(cat "$pg/initdb.log")"
    pg_ctl_start
    psql=(/usr/bin/psql -X -q -At -h "$pg" -p "$pg_port" -U medanchor)
    if [ -n "${1:-}" ]; then
        "${psql[@]}" -d postgres -c "CREATE DATABASE $1" || fail "createdb $1"
        uri="postgresql://medanchor@/$1?host=$pg&port=$pg_port"
    fi
}
pg_ctl_start() {
    as_pg "$pgbin/pg_ctl" -D "$pg/data" -l "$pg/server.log" -w -o "-k $pg -c listen_addresses='' -p $pg_port" start \
        >/dev/null || fail "pg_ctl start: $(cat "$pg/server.log")"
}
# pg_ctl restart as an operator would: sessions end (-m fast), the server comes back.
restart_postgres() {
    as_pg "$pgbin/pg_ctl" -D "$pg/data" -m fast -w stop >/dev/null || fail "pg_ctl stop"
    sleep "${1:-0}"
    pg_ctl_start
}
stop_postgres() {
    [ -n "${pg:-}" ] || return 0
    as_pg "$pgbin/pg_ctl" -D "$pg/data" -m immediate stop >/dev/null 2>&1 || true
    rm -rf "$pg"
}
