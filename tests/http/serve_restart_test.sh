#!/usr/bin/env bash
# Jobs of `medanchor serve` survive a restart (docs/api.md, "Shutdown and restart"): through the
# real binary, without a chain (--no-anchor):
#   - a finished job answers GET /api/jobs/{id} after the server is killed (kill -9) and started
#     again, as it was;
#   - jobs cut off by the kill are `interrupted`: every file either analysed (its analysis id is
#     in the ledger) or `interrupted` and listed in `not_analysed`; nothing silently lost, and
#     their event streams end;
#   - the restarted server says how many jobs it marked, and takes new jobs.
# Usage: serve_restart_test.sh MEDANCHOR_BINARY SOURCE_DIR
set -euo pipefail
bin=$1
src=$2
work=$(mktemp -d)
server_pid=
# The test's verdict is its own: a server killed here exits 137, which must not become the
# script's status (set -e holds inside the trap too).
cleanup() {
    if [ -n "$server_pid" ]; then
        kill -9 "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; [ -f "$work/serve.err" ] && tail -20 "$work/serve.err" >&2; exit 1; }
# shellcheck source=tests/shell_support.sh
. "$(dirname "$0")/../shell_support.sh"
port=$(free_port)
base="http://127.0.0.1:$port"
data="$work/data"
"$bin" keys new --out "$work/doctor.key" >/dev/null
token=$("$bin" users add doc --role radiologist --key-file "$work/doctor.key" --data "$data" 2>/dev/null)

# No chain: nothing listens on port 1, and --no-anchor records analyses only.
serve_args=(--no-anchor --node http://127.0.0.1:1)
source "$src/tests/http/serve_start.sh"
get_job() { curl -sf -H "Authorization: Bearer $token" "$base/api/jobs/$1"; }
# An upload of the six sample slices, `times` times over (the same image analysed again is a
# new analysis: what matters here is work that takes a while).
upload() {
    local parts=()
    for _ in $(seq 1 "$1"); do
        for f in "$src"/samples/ct/ctsim-42-0000[0-5].dcm; do parts+=(-F "file=@$f"); done
    done
    curl -sf -H "Authorization: Bearer $token" "${parts[@]}" "$base/api/jobs" |
        sed -e 's/.*"id":"\([0-9a-f]*\)".*/\1/'
}

start_server
first=$(upload 1)
[[ "$first" =~ ^[0-9a-f]{32}$ ]] || fail "upload: no job id"
for _ in $(seq 1 300); do
    get_job "$first" | grep -q '"state":"done"' && break
    sleep 0.1
done
get_job "$first" >"$work/first.before"
grep -q '"state":"done"' "$work/first.before" || fail "the first job did not finish: $(cat "$work/first.before")"

# Three uploads of 60 images each, then kill -9 at once: the first is cut off mid-job, the
# others never started.
jobs=()
for _ in 1 2 3; do jobs+=("$(upload 10)"); done
kill -9 "$server_pid"
wait "$server_pid" 2>/dev/null || true
server_pid=

start_server
grep -q "interrupted by the last shutdown" "$work/serve.err" ||
    fail "the restarted server does not say it marked interrupted jobs"
get_job "$first" >"$work/first.after" || fail "the finished job is unknown after the restart"
/usr/bin/python3 - "$work/first.before" "$work/first.after" <<'PY' || fail "the finished job changed across the restart"
import json, sys
before, after = (json.load(open(p)) for p in sys.argv[1:])
assert before == after, (before, after)
assert after["progress"] == {"done": 6, "total": 6, "percent": 100}, after
assert after["owner"] == "doc", after
PY
for j in "${jobs[@]}"; do
    get_job "$j" >"$work/job.$j" || fail "job $j is unknown after the restart"
    # The event stream of an interrupted job sends it once and ends.
    timeout 10 curl -sfN -H "Authorization: Bearer $token" "$base/api/jobs/$j/events" >"$work/events.$j" ||
        fail "the event stream of job $j did not end"
done
/usr/bin/python3 - "$data/ledger.sqlite" "$work" "${jobs[@]}" <<'PY' || fail "the interrupted jobs"
import json, sqlite3, sys
ledger, work, *ids = sys.argv[1:]
recorded = {r[0] for r in sqlite3.connect(ledger).execute("select id from analyses")}
interrupted = 0
for i in ids:
    job = json.load(open(f"{work}/job.{i}"))
    assert job["state"] in ("done", "interrupted"), job["state"]
    assert len(job["files"]) == 60, len(job["files"])
    missing = []
    for k, f in enumerate(job["files"]):
        if f["state"] == "analysed":
            assert f["analysis_id"] in recorded, f  # what the job says finished is in the ledger
        else:
            assert f["state"] == "interrupted", f  # nothing else: no file left queued
            missing.append(k)
    if job["state"] == "interrupted":
        interrupted += 1
        assert job["not_analysed"] == missing and missing, job
    else:
        assert not missing and "not_analysed" not in job, job
    events = [l for l in open(f"{work}/events.{i}") if l.startswith("data: ")]
    assert json.loads(events[-1][6:])["state"] == job["state"], events
# The last upload was accepted moments before the kill: it cannot have been analysed.
assert interrupted >= 1, interrupted
assert json.load(open(f"{work}/job.{ids[-1]}"))["state"] == "interrupted"
PY
# The restarted server takes new work.
next=$(upload 1)
for _ in $(seq 1 300); do
    get_job "$next" | grep -q '"state":"done"' && break
    sleep 0.1
done
get_job "$next" | grep -q '"state":"done"' || fail "a job after the restart did not finish"
echo "serve restart: ok"
