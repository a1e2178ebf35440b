# Sourced by the end-to-end scripts that need a PostgreSQL ledger: a real PostgreSQL 15 in a
# temporary folder (initdb + pg_ctl, a Unix socket only, trust authentication for this test
# server only; as root, run as the `postgres` user, which initdb requires).
# REQUIRES: free_port and fail() defined. start_postgres sets $pg (its folder), $pg_port (only
# the name of the socket file: the server listens on no TCP port) and psql (an array: psql with
# the connection flags; add -d DB); stop_postgres removes it all; restart_postgres ends every
# session (pg_ctl restart -m fast) and starts it again on the same socket.
pgbin=${MEDANCHOR_PG_BINDIR:-/usr/lib/postgresql/15/bin}
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

start_postgres() {
    [ -x "$pgbin/initdb" ] && [ -x "$pgbin/pg_ctl" ] || fail "PostgreSQL's initdb and pg_ctl are not in $pgbin: install the Debian package postgresql-15 (scripts/apt-packages.txt)"
    pg=$(mktemp -d)
    [ "$(id -u)" = 0 ] && chown postgres "$pg"
    pg_port=$(free_port)
    as_pg "$pgbin/initdb" -D "$pg/data" -U medanchor -A trust --no-sync -E UTF8 --locale=C >"$pg/initdb.log" 2>&1 \
        || fail "initdb: $(cat "$pg/initdb.log")"
    as_pg "$pgbin/pg_ctl" -D "$pg/data" -l "$pg/server.log" -w -o "-k $pg -c listen_addresses='' -p $pg_port" start \
        >/dev/null || fail "pg_ctl start: $(cat "$pg/server.log")"
    psql=(/usr/bin/psql -X -q -At -h "$pg" -p "$pg_port" -U medanchor)
}

restart_postgres() {
    as_pg "$pgbin/pg_ctl" -D "$pg/data" -l "$pg/server.log" -w -m fast \
        -o "-k $pg -c listen_addresses='' -p $pg_port" restart >/dev/null \
        || fail "pg_ctl restart: $(tail -5 "$pg/server.log")"
}

stop_postgres() {
    [ -n "${pg:-}" ] || return 0
    as_pg "$pgbin/pg_ctl" -D "$pg/data" -m immediate stop >/dev/null 2>&1 || true
    rm -rf "$pg"
}
