#!/usr/bin/env bash
# `medanchor enqueue`, `worker` and `status` through the binary on a real PostgreSQL 15 started
# here (no chain: the analyses are recorded for --analyst and not anchored; docs/scale.md):
#   - enqueue and worker refuse an SQLite ledger (exit 6, saying why, no file made);
#   - enqueue: absolute paths, idempotent, --requeue, a missing file is exit 13 (others queued),
#     no image file is exit 17;
#   - worker --once drains the queue and exits 0; a corrupt file fails its job with the error
#     (the file named, the worker goes on); a rerun after --requeue records nothing twice;
#   - SIGTERM mid-claim: exit 0, the claim's unstarted jobs released (queued, not counted), the
#     finished ones done; a second worker finishes the rest;
#   - status --json and --prometheus (parsed by python3-prometheus-client's parser) agree with
#     psql;
#   - a worker without OpenCV's codecs module refuses to start (exit 6), its PNG and JPEG jobs
#     left queued;
#   - the shared filesystem gone under a running worker (I/O errors): jobs retried, failed after
#     three attempts with the error kept, finished once it is back and they are requeued;
#   - an input folder gone (a share unmounted): its jobs retried as I/O errors and failed after
#     three attempts, done once it is back and they are requeued; a file deleted from its folder
#     fails at once;
#   - worker --metrics: this worker's counters, parsed the same way; a port already taken is
#     refused (exit 2);
#   - the watchdog: a worker whose forward pass never returns (tests/data/models/tiny-hang) keeps
#     its claim by heartbeats until --stall-after, then stops extending its leases (logged, and
#     medanchor_worker_stalled 1), so its job's lease expires and the next claim takes it.
# Usage: queue_cli_test.sh MEDANCHOR_BINARY SOURCE_DIR
set -euo pipefail
bin=$(realpath "$1")
work=$(mktemp -d)
# shellcheck source=tests/shell_support.sh
. "$(dirname "${BASH_SOURCE[0]}")/../shell_support.sh"
fail() { echo "FAIL: $*" >&2; exit 1; }
# shellcheck source=tests/app/postgres_setup.sh
. "$(dirname "$0")/postgres_setup.sh"
workers=()  # background workers, killed on the way out whatever happened
cleanup() {
    for pid in "${workers[@]}"; do kill -9 "$pid" 2>/dev/null || true; done
    stop_postgres
    rm -rf "$work"
}
trap cleanup EXIT
start_postgres scans
q() { "${psql[@]}" -d scans -c "$1"; }
analyst=ST2CY5V39NHDPWSXMW9QDT3HC3GD6Q6XX4CFRK9AG
who=(--analyst "$analyst")

export MEDANCHOR_SITE_KEY_FILE="$work/site.key"
"$bin" site-key new "$work/site.key" >/dev/null 2>&1
"$bin" simulate --out "$work/images" --seed 7 --count 60 --size 64 --views 90 >/dev/null
rm -f "$work/images/truth.csv"
printf 'not an image at all, but named like one' >"$work/images/zz-broken.dcm"
# A file the folder search takes for DICOM (magic at 128) that does not decode.
{ head -c 128 /dev/zero; printf 'DICM'; head -c 64 /dev/urandom; } >"$work/images/zz-corrupt.dcm"

# SQLite: refused, saying why, nothing made.
for cmd in enqueue worker; do
    set +e
    if [ "$cmd" = enqueue ]; then
        out=$("$bin" enqueue "$work/images" --ledger "$work/l.sqlite" "${who[@]}" 2>&1)
    else
        out=$("$bin" worker --ledger "$work/l.sqlite" "${who[@]}" --once 2>&1)
    fi
    rc=$?
    set -e
    [ "$rc" = 6 ] || fail "$cmd with an SQLite ledger: expected 6, got $rc: $out"
    grep -q "needs a PostgreSQL ledger" <<<"$out" || fail "$cmd says why: $out"
    [ ! -e "$work/l.sqlite" ] || fail "$cmd made an SQLite file"
done

# enqueue: relative paths stored absolute; idempotent; missing file 13; no image 17.
(cd "$work" && "$bin" enqueue images --ledger "$uri" "${who[@]}" --json >"$work/enq.json") \
    || fail "enqueue: $(cat "$work/enq.json")"
grep -q '"queued":61,' "$work/enq.json" || fail "61 queued (60 slices, 1 file with DICOM magic): $(cat "$work/enq.json")"
[ "$(q "SELECT count(*) FROM jobs WHERE path LIKE '$work/images/%'")" = 61 ] || fail "absolute paths"
out=$("$bin" enqueue "$work/images" --ledger "$uri" "${who[@]}")
grep -q "queued 0 job(s), 61 already queued" <<<"$out" || fail "idempotent: $out"
set +e
out=$("$bin" enqueue "$work/images/ctsim-7-00000.dcm" "$work/nothere.dcm" --ledger "$uri" "${who[@]}" 2>&1)
rc=$?
set -e
[ "$rc" = 13 ] || fail "a missing file: expected 13, got $rc: $out"
grep -q "nothere.dcm" <<<"$out" || fail "the missing file named: $out"
mkdir "$work/empty"
set +e
out=$("$bin" enqueue "$work/empty" --ledger "$uri" "${who[@]}" 2>&1)
rc=$?
set -e
[ "$rc" = 17 ] || fail "no image: expected 17, got $rc: $out"

# A worker's --metrics, parsed by python3-prometheus-client's parser: NAME=VALUE... must hold.
metrics_hold() {
    local port=$1
    shift
    /usr/bin/python3 - "$port" "$@" <<'PY'
import sys, urllib.request
from prometheus_client.parser import text_string_to_metric_families
text = urllib.request.urlopen("http://127.0.0.1:%s/metrics" % sys.argv[1], timeout=5).read().decode()
got = {s.name: s.value for f in text_string_to_metric_families(text) for s in f.samples}
for want in sys.argv[2:]:
    name, op, value = (want.partition(">=") if ">=" in want else want.partition("="))
    ok = got.get(name) is not None and (got[name] >= float(value) if op == ">=" else got[name] == float(value))
    if not ok:
        sys.exit("%s: %s in\n%s" % (want, got.get(name), text))
PY
}

# SIGTERM while a worker holds a claim of 40 (one forward pass of 8 at a time on one thread):
# exit 0, what it finished done, the rest released to queued with attempts not counted.
"$bin" worker --ledger "$uri" "${who[@]}" --reports "$work/reports" --batch 40 --threads 1 \
    >"$work/w1.log" 2>&1 &
w1=$!
workers+=("$w1")
deadline=$((SECONDS + 120))
until [ "$(q "SELECT count(*) FROM jobs WHERE state = 'done'")" -ge 1 ]; do
    [ $SECONDS -lt $deadline ] || fail "the worker did nothing: $(cat "$work/w1.log")"
    sleep 0.1
done
kill -TERM "$w1"
rc=0
wait "$w1" || rc=$?
[ "$rc" = 0 ] || fail "worker after SIGTERM: exit $rc: $(cat "$work/w1.log")"
[ "$(q "SELECT count(*) FROM jobs WHERE state = 'claimed'")" = 0 ] || fail "claimed jobs left after SIGTERM"
done1=$(q "SELECT count(*) FROM jobs WHERE state = 'done'")
[ "$done1" -lt 40 ] || fail "SIGTERM came too late to test a release ($done1 done)"
[ "$(q "SELECT count(*) FROM jobs WHERE state = 'queued' AND attempts > 0")" = 0 ] \
    || fail "released jobs counted as attempts"
[ "$(q "SELECT count(*) FROM analyses")" = "$done1" ] || fail "one analysis per done job"

# A second worker drains the rest: corrupt files fail with their error, named; exit 0.
"$bin" worker --ledger "$uri" "${who[@]}" --reports "$work/reports" --once --threads 1 \
    >"$work/w2.log" 2>&1 || fail "worker --once: $(cat "$work/w2.log")"
[ "$(q "SELECT count(*) FROM jobs WHERE state = 'done'")" = 60 ] || fail "60 done: $(q "SELECT state, count(*) FROM jobs GROUP BY 1")"
[ "$(q "SELECT count(*) FROM jobs WHERE state = 'failed'")" = 1 ] || fail "one failed"
err=$(q "SELECT last_error FROM jobs WHERE state = 'failed'")
grep -q "^corrupt: .*zz-corrupt.dcm" <<<"$err" || fail "the failure names the file and the problem: $err"
grep -q "zz-corrupt.dcm" "$work/w2.log" || fail "the worker logs the failure"
[ "$(q "SELECT count(*) FROM analyses")" = 60 ] || fail "60 analyses"
[ "$(find "$work/reports" -name report.json | wc -l)" = 60 ] || fail "60 report folders"

# --requeue puts done jobs back; a worker finds their analyses recorded: nothing twice.
out=$("$bin" enqueue "$work/images" --ledger "$uri" "${who[@]}" --requeue --json)
grep -q '"requeued":61' <<<"$out" || fail "requeue: $out"
"$bin" worker --ledger "$uri" "${who[@]}" --reports "$work/reports" --once --threads 1 \
    >"$work/w3.log" 2>&1 || fail "worker after requeue: $(cat "$work/w3.log")"
[ "$(q "SELECT count(*) FROM analyses")" = 60 ] || fail "still 60 analyses"
[ "$(q "SELECT count(*) FROM jobs WHERE state = 'done'")" = 60 ] || fail "60 done again"

# status --json and --prometheus against psql.
st=$("$bin" status --ledger "$uri" --json) || fail "status: $st"
grep -q '"jobs":{"queued":0,"claimed":0,"done":60,"failed":1,' <<<"$st" || fail "status jobs: $st"
pending=$(q "SELECT count(*) FROM analyses WHERE state = 'pending'")
grep -q "\"pending\":$pending," <<<"$st" || fail "status analyses: $st"
grep -q 'zz-corrupt.dcm' <<<"$st" || fail "status shows the last failure: $st"
"$bin" status --ledger "$uri" --prometheus >"$work/metrics.txt" || fail "status --prometheus"
/usr/bin/python3 - "$work/metrics.txt" "$pending" "$(q "SELECT count(*) FROM analyses WHERE state = 'needs_review'")" <<'PY' \
    || fail "the Prometheus text: $(cat "$work/metrics.txt")"
import sys
from prometheus_client.parser import text_string_to_metric_families
text = open(sys.argv[1]).read()
samples = {}
for family in text_string_to_metric_families(text):
    for s in family.samples:
        samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
def value(name, **labels):
    return samples[(name, tuple(sorted(labels.items())))]
assert value("medanchor_jobs", state="done") == 60, samples
assert value("medanchor_jobs", state="failed") == 1
assert value("medanchor_jobs", state="queued") == 0
assert value("medanchor_analyses", state="pending") == int(sys.argv[2])
assert value("medanchor_analyses", state="needs_review") == int(sys.argv[3])
assert ("medanchor_anchoring_lag_seconds", ()) in samples
PY
# worker --metrics: a worker left running (no --once) drains the queue put back once more; its
# counters say what it did (60 completed, the corrupt file failed), and nothing is in its hands.
"$bin" enqueue "$work/images" --ledger "$uri" "${who[@]}" --requeue >/dev/null
mport=$(free_port)
"$bin" worker --ledger "$uri" "${who[@]}" --reports "$work/reports" --threads 1 \
    --metrics "127.0.0.1:$mport" >"$work/w4.log" 2>&1 &
w4=$!
workers+=("$w4")
deadline=$((SECONDS + 120))
until [ "$(q "SELECT count(*) FROM jobs WHERE state IN ('queued', 'claimed')")" = 0 ]; do
    [ $SECONDS -lt $deadline ] || fail "the metrics worker did not drain: $(cat "$work/w4.log")"
    sleep 0.2
done
until metrics_hold "$mport" medanchor_worker_jobs_done_total=60 2>/dev/null; do
    [ $SECONDS -lt $deadline ] || fail "worker --metrics: $(metrics_hold "$mport" medanchor_worker_jobs_done_total=60 2>&1)"
    sleep 0.2
done
metrics_hold "$mport" medanchor_worker_jobs_failed_total=1 medanchor_worker_claimed_jobs=0 \
    medanchor_worker_stalled=0 || fail "worker --metrics after draining"
# Its port is taken: another worker is refused at once, saying so.
set +e
out=$("$bin" worker --ledger "$uri" "${who[@]}" --once --metrics "127.0.0.1:$mport" 2>&1)
rc=$?
set -e
[ "$rc" = 2 ] || fail "--metrics on a taken port: expected 2, got $rc: $out"
grep -q "cannot listen on 127.0.0.1:$mport" <<<"$out" || fail "--metrics says why: $out"
kill -TERM "$w4"
wait "$w4" || fail "the metrics worker after SIGTERM: $(cat "$work/w4.log")"
[ "$(q "SELECT count(*) FROM analyses")" = 60 ] || fail "still 60 analyses after the metrics worker"

# A worker that cannot load OpenCV's codecs module refuses to start (exit 6, naming the module)
# and takes no job: the PNG and the JPEG (which would have failed as `unsupported` without the
# module) queued for it stay queued, and a worker that has the module analyses them (with
# tiny-softmax, which takes any modality).
mkdir "$work/raster"
dcmj2pnm +on "$work/images/ctsim-7-00001.dcm" "$work/raster/slice.png"
dcmj2pnm +oj "$work/images/ctsim-7-00002.dcm" "$work/raster/slice.jpg"
raster="path LIKE '$work/raster/%'"
any=(--model "$2/tests/data/models/tiny-softmax")
"$bin" enqueue "$work/raster" --ledger "$uri" "${who[@]}" "${any[@]}" >/dev/null || fail "enqueue a PNG and a JPEG"
set +e
out=$(MEDANCHOR_OPENCV_CODECS=/nonexistent "$bin" worker --ledger "$uri" "${who[@]}" "${any[@]}" \
    --reports "$work/reports" --once --threads 1 2>&1)
rc=$?
set -e
[ "$rc" = 6 ] || fail "a worker without its codecs module: expected 6, got $rc: $out"
grep -q "OpenCV image codecs module cannot be loaded: /nonexistent: no such file" <<<"$out" \
    || fail "the module named: $out"
[ "$(q "SELECT count(*) FROM jobs WHERE $raster AND state = 'queued' AND attempts = 0")" = 2 ] \
    || fail "the PNG and JPEG jobs untouched: $(q "SELECT state, attempts, last_error FROM jobs WHERE $raster")"
"$bin" status --ledger "$uri" --json | grep -q '"jobs":{"queued":2,"claimed":0,' \
    || fail "status shows the PNG and JPEG jobs queued: $("$bin" status --ledger "$uri" --json)"
"$bin" worker --ledger "$uri" "${who[@]}" "${any[@]}" --reports "$work/reports" --once \
    --threads 1 >"$work/wpng.log" 2>&1 || fail "a worker with the module: $(cat "$work/wpng.log")"
[ "$(q "SELECT count(*) FROM jobs WHERE $raster AND state = 'done'")" = 2 ] \
    || fail "the PNG and JPEG jobs done by a worker that can: $(q "SELECT state, last_error FROM jobs WHERE $raster")"

# The shared filesystem goes away under a running worker (its report root replaced by a file:
# every report write fails with an I/O error): each job goes back to the queue, counted, and
# fails after its third attempt with the error kept; nothing is recorded half. Once the
# filesystem is back, --requeue and the same worker finish them, each recorded once.
"$bin" simulate --out "$work/later" --seed 8 --count 3 --size 64 >/dev/null
rm -f "$work/later/truth.csv"
"$bin" worker --ledger "$uri" "${who[@]}" --reports "$work/shared-reports" --threads 1 \
    >"$work/w5.log" 2>&1 &
w5=$!
workers+=("$w5")
deadline=$((SECONDS + 60))
until grep -q "claiming jobs" "$work/w5.log"; do
    [ $SECONDS -lt $deadline ] || fail "the worker did not start: $(cat "$work/w5.log")"
    sleep 0.1
done
mkdir -p "$work/shared-reports" && mv "$work/shared-reports" "$work/shared-away"
printf 'the mount is gone' >"$work/shared-reports"
later="path LIKE '$work/later/%'"
"$bin" enqueue "$work/later" --ledger "$uri" "${who[@]}" >/dev/null
deadline=$((SECONDS + 60))
until [ "$(q "SELECT count(*) FROM jobs WHERE $later AND state = 'failed'")" = 3 ]; do
    [ $SECONDS -lt $deadline ] || fail "I/O errors: $(q "SELECT state, attempts, last_error FROM jobs WHERE $later")"
    sleep 0.2
done
[ "$(q "SELECT count(*) FROM jobs WHERE $later AND attempts = 3 AND last_error LIKE 'io: %'")" = 3 ] \
    || fail "three attempts each, the I/O error kept: $(q "SELECT attempts, last_error FROM jobs WHERE $later")"
before=$(q "SELECT count(*) FROM analyses")
rm "$work/shared-reports" && mv "$work/shared-away" "$work/shared-reports"
"$bin" enqueue "$work/later" --ledger "$uri" "${who[@]}" --requeue >/dev/null
until [ "$(q "SELECT count(*) FROM jobs WHERE $later AND state = 'done'")" = 3 ]; do
    [ $SECONDS -lt $deadline ] || fail "after the filesystem came back: $(q "SELECT state, attempts, last_error FROM jobs WHERE $later")"
    sleep 0.2
done
kill -TERM "$w5"
wait "$w5" || fail "worker after the I/O errors: $(cat "$work/w5.log")"
[ "$(find "$work/shared-reports" -name report.json | wc -l)" = 3 ] || fail "three report folders"
[ "$(q "SELECT count(*) FROM analyses")" -le $((before + 3)) ] || fail "recorded twice"
[ "$(q "SELECT count(*) FROM analyses a JOIN jobs j ON j.analysis_id = a.id WHERE j.$later")" = 3 ] \
    || fail "each job's analysis recorded"

# An unmounted share is not a deleted file. The folder holding two queued inputs moved away (the
# tree gone, as when the shared filesystem is unmounted): each job is tried again, counted, and
# failed after its third attempt with an I/O error naming the file and its folder. A file
# deleted from a folder that is still there fails at once (not-found, one attempt). The folder
# back, --requeue: both done.
"$bin" simulate --out "$work/share/incoming" --seed 9 --count 2 --size 64 >/dev/null
rm -f "$work/share/incoming/truth.csv"
"$bin" simulate --out "$work/kept" --seed 10 --count 1 --size 64 >/dev/null
rm -f "$work/kept/truth.csv"
"$bin" enqueue "$work/share/incoming" "$work/kept" --ledger "$uri" "${who[@]}" >/dev/null \
    || fail "enqueue the share's files"
share="path LIKE '$work/share/incoming/%'"
kept="path LIKE '$work/kept/%'"
mv "$work/share/incoming" "$work/share-away"
rm "$work"/kept/*.dcm
"$bin" worker --ledger "$uri" "${who[@]}" --reports "$work/reports" --once --threads 1 \
    >"$work/w6.log" 2>&1 || fail "worker with the share gone: $(cat "$work/w6.log")"
[ "$(q "SELECT count(*) FROM jobs WHERE $share AND state = 'failed' AND attempts = 3
        AND last_error LIKE 'io: $work/share/incoming/ctsim-9-%.dcm: no such file, nor its folder $work/share/incoming: %'")" = 2 ] \
    || fail "the share's jobs tried three times as I/O errors: $(q "SELECT state, attempts, last_error FROM jobs WHERE $share")"
grep -q "ctsim-9-00000.dcm: no such file, nor its folder .* (will be tried again)" "$work/w6.log" \
    || fail "the worker says the job will be tried again: $(cat "$work/w6.log")"
[ "$(q "SELECT count(*) FROM jobs WHERE $kept AND state = 'failed' AND attempts = 1
        AND last_error LIKE 'not-found: $work/kept/ctsim-10-00000.dcm: no such file'")" = 1 ] \
    || fail "a deleted file fails at once: $(q "SELECT state, attempts, last_error FROM jobs WHERE $kept")"
mv "$work/share-away" "$work/share/incoming"
"$bin" enqueue "$work/share/incoming" --ledger "$uri" "${who[@]}" --requeue >/dev/null
"$bin" worker --ledger "$uri" "${who[@]}" --reports "$work/reports" --once --threads 1 \
    >"$work/w7.log" 2>&1 || fail "worker with the share back: $(cat "$work/w7.log")"
[ "$(q "SELECT count(*) FROM jobs WHERE $share AND state = 'done'")" = 2 ] \
    || fail "the share back: $(q "SELECT state, attempts, last_error FROM jobs WHERE $share")"

# The watchdog. A model whose forward pass never returns, one job for it: the worker claims it
# and, while it is taken as making progress, its heartbeats keep the 2 s lease; after
# --stall-after 8 s without progress it stops extending it, says so, and the lease expires.
hang="$2/tests/data/models/tiny-hang"
hang_sha=$("$bin" enqueue "$work/images/ctsim-7-00000.dcm" --ledger "$uri" "${who[@]}" \
    --model "$hang" --json | python3 -c 'import json, sys; print(json.load(sys.stdin)["model_sha256"])') \
    || fail "enqueue for tiny-hang"
hang_job="model_sha256 = '$hang_sha'"
set +e
out=$("$bin" worker --ledger "$uri" "${who[@]}" --model "$hang" --lease 10 --stall-after 5 --once 2>&1)
rc=$?
set -e
[ "$rc" = 2 ] && grep -q -- "--stall-after must be 0 (never) or from --lease" <<<"$out" \
    || fail "--stall-after shorter than --lease: expected 2, got $rc: $out"
mport=$(free_port)
"$bin" worker --ledger "$uri" "${who[@]}" --model "$hang" --reports "$work/reports" --threads 1 \
    --lease 2 --stall-after 8 --metrics "127.0.0.1:$mport" >"$work/hang.log" 2>&1 &
wh=$!
workers+=("$wh")
deadline=$((SECONDS + 60))
until [ "$(q "SELECT count(*) FROM jobs WHERE $hang_job AND state = 'claimed'")" = 1 ]; do
    [ $SECONDS -lt $deadline ] || fail "the hung worker claimed nothing: $(cat "$work/hang.log")"
    sleep 0.1
done
claimed_at=$SECONDS
sleep 3.5  # longer than the lease: only heartbeats keep it
[ "$(q "SELECT count(*) FROM jobs WHERE $hang_job AND lease_expires_at > now()")" = 1 ] \
    || fail "heartbeats keep the lease before --stall-after: $(cat "$work/hang.log")"
metrics_hold "$mport" medanchor_worker_stalled=0 medanchor_worker_claimed_jobs=1 \
    || fail "not stalled yet"
until grep -q "taken as hung" "$work/hang.log"; do
    [ $SECONDS -lt $deadline ] || fail "no watchdog: $(cat "$work/hang.log")"
    sleep 0.2
done
[ $((SECONDS - claimed_at)) -ge 6 ] || fail "taken as hung before --stall-after"
metrics_hold "$mport" medanchor_worker_stalled=1 || fail "worker --metrics shows the stall"
until [ "$(q "SELECT count(*) FROM jobs WHERE $hang_job AND state = 'claimed' AND lease_expires_at < now()")" = 1 ]; do
    [ $SECONDS -lt $deadline ] || fail "the hung worker's lease did not expire: $(q "SELECT state, lease_expires_at < now() FROM jobs WHERE $hang_job")"
    sleep 0.2
done
"$bin" status --ledger "$uri" --json | grep -q '"lease_expired":1' || fail "status shows the expired lease"
kill -9 "$wh"
wait "$wh" 2>/dev/null || true

echo "ok: enqueue, worker (SIGTERM, corrupt files, requeue, --metrics, watchdog) and status on PostgreSQL"
