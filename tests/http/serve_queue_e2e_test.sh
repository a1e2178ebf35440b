#!/usr/bin/env bash
# `medanchor serve` on a PostgreSQL ledger queues uploads for `medanchor worker` (docs/scale.md,
# "Front ends: serve and listen on PostgreSQL"), through the real binaries on a real PostgreSQL
# 15 started here and loopback HTTP (no chain: the workers record, nothing is anchored):
#   - serve says at start that it analyses and anchors nothing (the anchorer anchors);
#   - an upload of DICOM slices is 202 and its files are `queued` (GET /api/jobs/{id} and the
#     event stream, which then shows the job done), spooled as
#     de-identified copies (pydicom: no patient name, no patient id or UID of the upload) and queued
#     in the ledger's job queue for the uploader's principal (`status --json` and psql);
#   - bytes that are no image, a PNG, and DICOM that cannot be de-identified fail at once,
#     each error naming its file; a spool copy the worker cannot decode fails with the worker's
#     error, naming the file, never the spool path;
#   - PostgreSQL stopped: an upload is still accepted and spooled, serve says once that the queue
#     is away and, once it is back, that it answers again, and enqueues the upload;
#   - serve killed (-9) while the jobs are queued and started again follows them (not
#     interrupted); a file a worker claims shows `analysing`, its job `running`; a worker
#     started then takes them: every job done, each file's analysis id a
#     ledger row whose report folder is in the worker's report root and is served by serve, its
#     image hash the keyed hash of the uploaded file; the jobs queued flagged de-identified, so
#     the report, its SR, the ledger row and the report's copy cite the UIDs of the spooled copy
#     (read before the worker ran), those `medanchor deid` gives of the upload, remapped once
#     (documented); the spool copies removed.
# Usage: serve_queue_e2e_test.sh MEDANCHOR_BINARY SOURCE_DIR
set -euo pipefail
bin=$(realpath "$1")
src=$2
work=$(mktemp -d)
server_pid=
worker_pid=
stream_pid=
fail() {
    echo "FAIL: $*" >&2
    for log in "$work/serve.err" "$work/worker.log"; do
        [ -f "$log" ] && { echo "--- tail of $log" >&2; tail -20 "$log" >&2; }
    done
    exit 1
}
# shellcheck source=tests/shell_support.sh
. "$(dirname "$0")/../shell_support.sh"
# shellcheck source=tests/app/postgres_setup.sh
. "$src/tests/app/postgres_setup.sh"
cleanup() {
    for pid in $server_pid $worker_pid $stream_pid; do
        kill -9 "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    stop_postgres
    rm -rf "$work"
}
trap cleanup EXIT
start_postgres scans
q() { "${psql[@]}" -d scans -c "$1"; }
# Runs the command until it succeeds, for up to 20 s (a poll of the server is a second).
eventually() {
    for _ in $(seq 1 200); do
        "$@" && return 0
        sleep 0.1
    done
    return 1
}

port=$(free_port)
base="http://127.0.0.1:$port"
data="$work/data"
spool="$work/shared/spool"
reports="$work/shared/reports"
"$bin" keys new --out "$work/doctor.key" >/dev/null
token=$("$bin" users add doc --role radiologist --key-file "$work/doctor.key" --data "$data" 2>/dev/null)
analyst=$("$bin" users list --data "$data" | awk -F'\t' '$1 == "doc" {print $3}')
[[ "$analyst" =~ ^ST ]] || fail "the radiologist's principal: $analyst"
# No chain: nothing listens on port 1. A fast poll keeps the test short.
serve_args=(--ledger "$uri" --spool "$spool" --node http://127.0.0.1:1)
# shellcheck source=tests/http/serve_start.sh
. "$src/tests/http/serve_start.sh"
auth=(-H "Authorization: Bearer $token")
get_job() { curl -sf "${auth[@]}" "$base/api/jobs/$1"; }
upload() { curl -sf "${auth[@]}" "$@" "$base/api/jobs" | sed -e 's/.*"id":"\([0-9a-f]*\)".*/\1/'; }

start_server
grep -q "analyses and anchors nothing: \`medanchor anchorer\` anchors" "$work/serve.err" ||
    fail "serve does not say the anchorer anchors"

slices=("$src"/samples/ct/ctsim-42-0000[0-5].dcm)
printf 'not an image at all' >"$work/text.dcm"
{ head -c 128 /dev/zero; printf 'DICM'; head -c 64 /dev/urandom; } >"$work/corrupt.dcm"
printf '\x89PNG\r\n\x1a\n0000IHDR' >"$work/fake.png"
# Job A: four slices (the second made undecodable in the spool below), then three bad files.
a=$(upload -F "file=@${slices[0]}" -F "file=@${slices[1]}" -F "file=@${slices[2]}" \
    -F "file=@${slices[3]}" -F "file=@$work/text.dcm" -F "file=@$work/corrupt.dcm" \
    -F "file=@$work/fake.png")
b=$(upload -F "file=@${slices[4]}")
[[ "$a" =~ ^[0-9a-f]{32}$ && "$b" =~ ^[0-9a-f]{32}$ ]] || fail "upload: no job ids ($a, $b)"
jobs_are() { [ "$(q "SELECT count(*) FROM jobs")" = "$1" ]; }
eventually jobs_are 5 || true
[ "$(q "SELECT count(*) FROM jobs WHERE state = 'queued' AND analyst = '$analyst'")" = 5 ] ||
    fail "five jobs queued for the uploader: $(q "SELECT path, state, analyst FROM jobs")"
get_job "$a" >"$work/a.queued"
get_job "$b" >"$work/b.queued"
"$bin" status --ledger "$uri" --json >"$work/status.json"
/usr/bin/python3 - "$work" "$a" <<'PY' || fail "the queued jobs"
import json, sys
work, a = sys.argv[1:]
job = json.load(open(f"{work}/a.queued"))
assert job["state"] == "queued", job
states = [f["state"] for f in job["files"]]
assert states == ["queued"] * 4 + ["failed"] * 3, states
errors = [f["error"] for f in job["files"][4:]]
assert errors[0]["code"] == "unsupported" and errors[0]["message"].startswith("file 5: "), errors
assert errors[1]["code"] == "corrupt" and errors[1]["message"].startswith("file 6"), errors
assert errors[2]["code"] == "unsupported" and errors[2]["message"].startswith("file 7: ") \
    and "PostgreSQL" in errors[2]["message"], errors
b = json.load(open(f"{work}/b.queued"))
assert [f["state"] for f in b["files"]] == ["queued"], b
status = json.load(open(f"{work}/status.json"))
assert status["jobs"]["queued"] == 5, status["jobs"]
PY
grep -q "$spool/$a/1.dcm" <<<"$(q "SELECT path FROM jobs")" || fail "the spool copies are queued by path"

# The spool holds de-identified copies only: pydicom finds no patient name or id, and none of the
# upload's UIDs, in any file there.
[ "$(stat -c %a "$spool")" = 700 ] || fail "the spool the server made is not private: $(stat -c %a "$spool")"
find "$spool" -type f | sort >"$work/spooled"
[ "$(wc -l <"$work/spooled")" = 5 ] || fail "five spool copies: $(cat "$work/spooled")"
/usr/bin/python3 - "$work/spooled" "${slices[@]}" <<'PY' || fail "the spool holds identity"
import sys, pydicom
spooled = open(sys.argv[1]).read().split()
originals = [pydicom.dcmread(p) for p in sys.argv[2:]]
uids = {str(ds[t].value) for ds in originals for t in ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID")}
names = {str(ds.PatientName) for ds in originals if str(ds.PatientName)} | {str(ds.PatientID) for ds in originals if str(ds.PatientID)}
assert uids and names, (uids, names)
for path in spooled:
    raw = open(path, "rb").read()
    ds = pydicom.dcmread(path)
    assert not str(ds.get("PatientName", "")), path
    assert str(ds.get("PatientID", "")) not in names, path  # emptied or a dummy
    assert ds.PatientIdentityRemoved == "YES", path
    for secret in uids | names:
        assert secret.encode() not in raw, (path, secret)
PY
# The copy of job A's file 2 made undecodable behind the server's back (as a bad disk would):
# the worker fails it.
cp "$work/corrupt.dcm" "$spool/$a/2.tmp" && mv "$spool/$a/2.tmp" "$spool/$a/2.dcm"

# PostgreSQL away: an upload is still accepted and spooled, the server says once that the queue
# does not answer, and when it is back says so and enqueues the upload.
as_pg "$pgbin/pg_ctl" -D "$pg/data" -m fast -w stop >/dev/null || fail "pg_ctl stop"
c=$(upload -F "file=@${slices[5]}")
[[ "$c" =~ ^[0-9a-f]{32}$ ]] || fail "upload with PostgreSQL away: no job id"
eventually grep -q "medanchor serve: the job queue: .*(tried again every poll)" "$work/serve.err" ||
    fail "serve does not say the queue is away"
eventually test -f "$spool/$c/1.dcm" || fail "the upload made while PostgreSQL was away is not spooled"
sleep 2.5  # two more polls fail: said once
[ "$(grep -c "medanchor serve: the job queue: " "$work/serve.err")" = 1 ] ||
    fail "the queue's absence is said more than once"
pg_ctl_start
eventually grep -q "the job queue answers again" "$work/serve.err" || fail "serve does not say the queue is back"
[ "$(q "SELECT count(*) FROM jobs WHERE path = '$spool/$c/1.dcm' AND state = 'queued'")" = 1 ] ||
    fail "the upload made while PostgreSQL was away is not queued"

# Killed while its jobs wait in the queue, then started again: it follows them.
kill -9 "$server_pid"
wait "$server_pid" 2>/dev/null || true
server_pid=
start_server
eventually grep -q "following 3 jobs the last run queued (6 files not finished)" "$work/serve.err" ||
    fail "the restarted server does not say it follows the queued jobs"
get_job "$a" | grep -q '"state":"queued"' || fail "job A after the restart: $(get_job "$a")"

# Every copy queued flagged de-identified (the worker analyses it as it is), and the UIDs each
# one carries, read now, before any worker takes it: the report must cite these.
[ "$(q "SELECT count(*) FROM jobs WHERE deidentified")" = 6 ] ||
    fail "the spool copies are not queued as de-identified: $(q "SELECT path, deidentified FROM jobs")"
/usr/bin/python3 - "$spool" "$work/spool.uids" <<'PY' || fail "reading the spool copies' UIDs"
import os, sys, pydicom
spool, out = sys.argv[1:]
with open(out, "w") as f:
    for root, _, names in os.walk(spool):
        for n in names:
            path = os.path.join(root, n)
            try:
                ds = pydicom.dcmread(path)
                uids = [ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID]
            except Exception:  # job A's file 2, made undecodable above
                continue
            print(path, *uids, file=f)
PY
[ "$(wc -l <"$work/spool.uids")" = 5 ] || fail "the UIDs of five spool copies: $(cat "$work/spool.uids")"

# A worker's claim shows as `analysing` and the job `running`: a claim made here, as a worker's
# (the same UPDATE's effect), whose lease expires in 4 s so that the real worker takes it after.
q "UPDATE jobs SET state = 'claimed', worker = 'elsewhere:0:1', attempts = 1, claimed_at = now(),
   heartbeat_at = now(), lease_expires_at = now() + interval '4 seconds'
   WHERE path = '$spool/$a/3.dcm'" >/dev/null
job_in() { get_job "$1" | grep -q "\"state\":\"$2\""; }
eventually job_in "$a" running || true
get_job "$a" >"$work/a.claimed"
/usr/bin/python3 - "$work/a.claimed" <<'PY' || fail "a claimed file"
import json, sys
job = json.load(open(sys.argv[1]))
assert job["state"] == "running", job
assert [f["state"] for f in job["files"][:4]] == ["queued", "queued", "analysing", "queued"], job
PY

# Job B's event stream, open while the worker runs (it stays open: the analyses wait for an
# anchorer, and there is none here).
curl -sN "${auth[@]}" "$base/api/jobs/$b/events" >"$work/b.events" &
stream_pid=$!
eventually grep -q '^data: ' "$work/b.events" || fail "job B's event stream sends nothing"
"$bin" worker --once --ledger "$uri" --analyst "$analyst" --site-key "$data/site.key" \
    --reports "$reports" --threads 1 >"$work/worker.log" 2>&1 &
worker_pid=$!
all_done() { job_in "$a" done && job_in "$b" done && job_in "$c" done; }
eventually all_done || eventually all_done || eventually all_done || true  # up to a minute
wait "$worker_pid" || fail "worker --once: exit $?"
worker_pid=
eventually grep -q '"state":"done"' "$work/b.events" || true
kill "$stream_pid" 2>/dev/null || true
wait "$stream_pid" 2>/dev/null || true
/usr/bin/python3 - "$work/b.events" <<'PY' || fail "job B's event stream"
import json, sys
events = [json.loads(l[6:]) for l in open(sys.argv[1]) if l.startswith("data: ")]
assert events[0]["state"] == "queued", events[0]
assert [f["state"] for f in events[0]["files"]] == ["queued"], events[0]
assert events[-1]["state"] == "done", events[-1]
assert all(f["state"] == "analysed" and f["anchoring"] == "recorded" for f in events[-1]["files"]), events[-1]
PY
get_job "$a" >"$work/a.done" || fail "job A"
get_job "$b" >"$work/b.done" || fail "job B"
get_job "$c" >"$work/c.done" || fail "job C"
q "SELECT id, image_hash, report_dir FROM analyses ORDER BY id" | tr '|' ' ' >"$work/analyses"
q "SELECT path, analysis_id FROM jobs WHERE state = 'done'" | tr '|' ' ' >"$work/queue.done"
for f in "${slices[@]}"; do "$bin" hash --key-file "$data/site.key" "$f"; done >"$work/hashes"
/usr/bin/python3 - "$work" "$reports" "$spool" <<'PY' || fail "the finished jobs"
import json, os, sys
work, reports, spool = sys.argv[1:]
rows = {int(i): (h, d) for i, h, d in (l.split() for l in open(f"{work}/analyses"))}
queue = {p: int(i) for p, i in (l.split() for l in open(f"{work}/queue.done"))}
hashes = [l.split()[0].split(":")[1] for l in open(f"{work}/hashes")]
ja, jb, jc = (json.load(open(f"{work}/{j}.done")) for j in ("a", "b", "c"))
assert ja["state"] == jb["state"] == jc["state"] == "done", (ja, jb, jc)
assert ja["progress"] == {"done": 7, "total": 7, "percent": 100}, ja["progress"]
analysed = []
for job, upload_index in ((ja, [0, 1, 2, 3]), (jb, [4]), (jc, [5])):
    for k, f in enumerate(job["files"][: len(upload_index)]):
        if job is ja and k == 1:
            # The worker's error, the file named, the spool path never shown.
            assert f["state"] == "failed", f
            assert f["error"]["code"] == "corrupt", f
            assert f["error"]["message"].startswith("file 2"), f
            assert spool not in f["error"]["message"], f
            continue
        assert f["state"] == "analysed", f
        i = f["analysis_id"]
        assert i in rows, (i, rows)  # a ledger row
        assert queue[f"{spool}/{job['id']}/{k + 1}.dcm"] == i  # the queue's row agrees
        h, d = rows[i]
        assert h == hashes[upload_index[k]], (h, hashes)  # keyed hash of the uploaded pixels
        assert d.startswith(reports + "/") and os.path.isfile(f"{d}/report.json"), d
        analysed.append((i, upload_index[k], d))
assert len(analysed) == 5 and len(rows) == 5, (analysed, rows)
assert all(f["state"] == "analysed" for f in jc["files"]), jc
left = [os.path.join(r, n) for r, _, ns in os.walk(spool) for n in ns]
assert left == [], left  # the copies removed once their jobs ended
with open(f"{work}/analysed", "w") as out:
    for i, k, d in analysed:
        path = next(p for p, n in queue.items() if n == i)
        print(i, k, d, path, file=out)
PY
# serve answers each analysis' report from the workers' report root.
while read -r id index dir _; do
    curl -sf "${auth[@]}" "$base/api/analyses/$id/files/report.json" | cmp -s - "$dir/report.json" ||
        fail "serve does not answer analysis $id's report"
done <"$work/analysed"
# Each report, its SR, its ledger row and its de-identified copy cite the UIDs of the copy the
# server spooled, not a second remapping of them (docs/scale.md, "UIDs"); the independent oracle:
# `medanchor deid` of the upload under the site key, run once, gives the same UIDs.
q "SELECT id, report_json FROM analyses" >"$work/reports.json"
while read -r id index dir path; do
    "$bin" deid --key-file "$data/site.key" "${slices[$index]}" "$work/once-$id.dcm" \
        </dev/null >/dev/null 2>&1 || fail "medanchor deid of upload $index"
    /usr/bin/python3 - "$id" "$path" "$work/spool.uids" "$work/once-$id.dcm" "$dir" \
        "$work/reports.json" <<'PY' || fail "the UIDs analysis $id cites"
import json, sys, pydicom
id, path, spooled, once, dir, reports = sys.argv[1:]
tags = ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID")
spool = {l.split()[0]: l.split()[1:] for l in open(spooled)}[path]
oracle = pydicom.dcmread(once)
assert spool == [str(oracle[t].value) for t in tags], (spool, [oracle[t].value for t in tags])
copy = pydicom.dcmread(f"{dir}/image.deid.dcm")
assert [str(copy[t].value) for t in tags] == spool, ([copy[t].value for t in tags], spool)
rows = dict(l.rstrip("\n").split("|", 1) for l in open(reports) if "|" in l)
for report in (json.loads(rows[id]), json.load(open(f"{dir}/report.json"))):
    cited = report["image"]["dicom"]
    assert [cited["study_instance_uid"], cited["series_instance_uid"],
            cited["sop_instance_uid"]] == spool, (cited, spool)
sr = pydicom.dcmread(f"{dir}/report.sr.dcm")
refs = set()
def walk(ds):
    for e in ds:
        if e.tag == 0x00081155:
            refs.add(str(e.value))
        elif e.VR == "SQ":
            for item in e.value:
                walk(item)
walk(sr)
assert str(sr.StudyInstanceUID) == spool[0], (sr.StudyInstanceUID, spool)
assert spool[2] in refs, (refs, spool)
PY
done <"$work/analysed"
echo "serve on a PostgreSQL ledger: ok"
