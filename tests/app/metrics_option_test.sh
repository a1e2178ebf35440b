#!/usr/bin/env bash
# `--metrics ADDR:PORT` is checked and bound before a command starts anything else (docs/pacs.md,
# "Options"; docs/scale.md, "worker"): the two commands that take it, `listen` and `worker`,
# through the binary, over real loopback sockets (no PostgreSQL, chain or PACS needed):
#   - listen --metrics 127.0.0.1:notaport, and a metrics port another process listens on: exit 2
#     (invalid-argument) within 10 s, the error naming --metrics and the address; its DICOM port
#     is not listening (a connect is refused) and nothing was made: no --data folder, no ledger;
#   - worker, the same two, on a PostgreSQL ledger nobody serves: exit 2 with the --metrics
#     error, not the ledger's exit 9 (the address is checked before the ledger is reached);
#   - listen with a free --metrics port runs: its DICOM port accepts a connection, /metrics
#     answers the listener's counters, SIGTERM stops it with exit 0.
# Usage: metrics_option_test.sh MEDANCHOR_BINARY SOURCE_DIR
set -euo pipefail
bin=$(realpath "$1")
src=$2
work=$(mktemp -d)
holder_pid=
listen_pid=
fail() {
    echo "FAIL: $*" >&2
    [ -f "$work/listen.log" ] && { echo "--- tail of listen.log" >&2; tail -20 "$work/listen.log" >&2; }
    exit 1
}
cleanup() {
    for pid in $holder_pid $listen_pid; do
        kill -9 "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    rm -rf "$work"
}
trap cleanup EXIT
# shellcheck source=tests/shell_support.sh
. "$src/tests/shell_support.sh"  # free_port

# Whether something accepts a TCP connection on 127.0.0.1:PORT now.
accepts() { /usr/bin/python3 -c 'import socket,sys; socket.create_connection(("127.0.0.1", int(sys.argv[1])), 2).close()' "$1" 2>/dev/null; }

"$bin" site-key new "$work/site.key" >/dev/null 2>&1
"$bin" keys devnet wallet_2 --out "$work/doctor.key" >/dev/null 2>&1  # names the analyst
# A port held by another process's listening socket for the whole test.
/usr/bin/python3 -c 'import socket, time
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen()
print(s.getsockname()[1], flush=True); time.sleep(300)' >"$work/held" &
holder_pid=$!
for _ in $(seq 1 50); do [ -s "$work/held" ] && break; sleep 0.1; done
held=$(cat "$work/held")
if ! [[ "$held" =~ ^[0-9]+$ ]] || ! accepts "$held"; then fail "the port holder did not start: $held"; fi

dicom_port=$(free_port)
listen_args=(--data "$work/listen" --ledger "$work/ledger.sqlite" --site-key "$work/site.key"
    --key-file "$work/doctor.key" --no-anchor --port "$dicom_port")

# Runs COMMAND... and checks it exits 2 within 10 s with an error naming --metrics and WHAT.
refused() {
    local what=$1 rc=0
    shift
    local start=$SECONDS
    timeout 30 "$@" >"$work/out" 2>&1 || rc=$?
    [ "$rc" = 2 ] || fail "$* : expected exit 2, got $rc: $(cat "$work/out")"
    [ $((SECONDS - start)) -le 10 ] || fail "$* : refused only after $((SECONDS - start)) s"
    grep -q -- "--metrics.*$what" "$work/out" || fail "$* : the error does not say why: $(cat "$work/out")"
}

for metrics in 127.0.0.1:notaport "127.0.0.1:$held"; do
    why="not a number"
    [ "$metrics" = 127.0.0.1:notaport ] || why="cannot listen on 127.0.0.1:$held"
    refused "$why" "$bin" listen "${listen_args[@]}" --metrics "$metrics"
    ! accepts "$dicom_port" || fail "listen --metrics $metrics: the DICOM port is listening"
    [ ! -e "$work/listen" ] || fail "listen --metrics $metrics made its data folder: $(ls -R "$work/listen")"
    [ ! -e "$work/ledger.sqlite" ] || fail "listen --metrics $metrics made its ledger"

    refused "$why" "$bin" worker --ledger "postgresql://medanchor@/scans?host=$work/no-server&port=1" \
        --key-file "$work/doctor.key" --site-key "$work/site.key" --once --metrics "$metrics"
done
accepts "$held" || fail "the holder's port was taken from it"

# A free metrics port: the listener runs, and the endpoint answers its counters.
mport=$(free_port)
"$bin" listen "${listen_args[@]}" --metrics "127.0.0.1:$mport" >"$work/listen.log" 2>&1 &
listen_pid=$!
for _ in $(seq 1 300); do
    accepts "$dicom_port" && break
    kill -0 "$listen_pid" 2>/dev/null || fail "listen exited"
    sleep 0.1
done
accepts "$dicom_port" || fail "listen's DICOM port does not accept"
curl -sf "http://127.0.0.1:$mport/metrics" >"$work/metrics" || fail "GET /metrics"
grep -q '^medanchor_listen_instances_received_total 0$' "$work/metrics" ||
    fail "/metrics: $(cat "$work/metrics")"
kill -TERM "$listen_pid"
rc=0
wait "$listen_pid" || rc=$?
listen_pid=
[ "$rc" = 0 ] || fail "listen after SIGTERM: exit $rc"
! accepts "$mport" || fail "the metrics port still answers after listen stopped"
echo "ok: listen and worker refuse a bad or busy --metrics before starting anything"
