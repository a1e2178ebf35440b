#!/usr/bin/env bash
# `medanchor listen` on a PostgreSQL ledger (docs/pacs.md, "On a PostgreSQL ledger"; docs/scale.md,
# "listen"): a real PostgreSQL 15 started here in a temporary folder, DCMTK's storescu as the
# modality and storescp as the PACS that takes the SR, a real `medanchor worker`; no chain.
#   - a series of 4 slices and one instance whose pixels cannot be decoded is received and
#     de-identified into the spool (--spool, outside --data) as today; once stable, its 5
#     instances are queued (`status --json`: 5 queued, the jobs flagged de-identified, their
#     paths the absolute spool files) and nothing is analysed by the listener (no analysis row);
#   - the listener is killed (-9) while the jobs wait and started again: nothing is queued twice;
#     then PostgreSQL is restarted under it (pg_ctl stop -m fast, start): it reconnects;
#   - `worker --once` does the jobs: 4 done, the bad instance's job failed (`corrupt: ...`);
#   - the listener follows them: the 4 instances analysed with the workers' analyses, the bad one
#     failed with its job's error, the spool emptied, and the series SR arrives at storescp once,
#     citing exactly the instances the workers' reports cite (dcmdump of the SR against the
#     ledger's report_json, read with psql); the listener sent no transaction (the anchorer's).
# Usage: listen_queue_e2e_test.sh MEDANCHOR_BINARY SOURCE_DIR
set -euo pipefail
bin=$1
src=$2
work=$(mktemp -d)
# shellcheck source=tests/shell_support.sh
. "$src/tests/shell_support.sh"  # free_port
# fail, wait_for, make_series, uid_of, sr_refs, start_listen/kill_listen/stop_listen.
source "$src/tests/pacs/listen_support.sh"
# shellcheck source=tests/app/postgres_setup.sh
source "$src/tests/app/postgres_setup.sh"
pacs_pid=
trap 'stop_listen; [ -n "$pacs_pid" ] && kill "$pacs_pid" 2>/dev/null; stop_postgres; rm -rf "$work"' EXIT

start_postgres scans
ledger=$uri
sql() { "${psql[@]}" -d scans -c "$1"; }
"$bin" site-key new "$work/site.key" >/dev/null
"$bin" keys devnet wallet_2 --out "$work/doctor.key" >/dev/null  # names the analyst; nothing is signed
who=(--ledger "$uri" --site-key "$work/site.key" --key-file "$work/doctor.key")

pacs_port=$(free_port)
mkdir -p "$work/pacs"
storescp -aet PACS -od "$work/pacs" "$pacs_port" >"$work/pacs.log" 2>&1 &
pacs_pid=$!

make_series Q 1501 5
# Instance 4 claims 4096 rows its pixel data does not hold: received and de-identified as any
# other, it cannot be decoded, so its job fails.
dcmodify -nb -m "(0028,0010)=4096" "$work/series/Q/4.dcm"

listen_common=(--data "$work/listen" --spool "$work/shared/spool" "${who[@]}" --stable-after 1
    --send-to "PACS@127.0.0.1:$pacs_port")
start_listen --port "$m_port"
grep -q "queued for \`medanchor worker\`s" "$work/listen.log" || fail "the listener does not say it queues"
storescu -aet MODALITY -aec MEDANCHOR 127.0.0.1 "$m_port" "$work/series/Q"/*.dcm || fail "storescu"

status_jobs() { "$bin" status --ledger "$uri" --json | /usr/bin/python3 -c 'import json,sys; j=json.load(sys.stdin)["jobs"]; print(j[sys.argv[1]])' "$1"; }
queued_is() { [ "$(status_jobs queued)" = "$1" ]; }
wait_for 30 "the series' instances were not queued" queued_is 5
[ "$(sql "SELECT count(*) FROM analyses")" = 0 ] || fail "the listener analysed instances itself"
[ "$(sql "SELECT count(*) FROM jobs WHERE deidentified AND path LIKE '$work/shared/spool/%'")" = 5 ] ||
    fail "the jobs do not name the spool files as de-identified: $(sql "SELECT path, deidentified FROM jobs")"
[ "$(sql "SELECT count(*) FROM pacs_instances WHERE analysis_id IS NULL AND error IS NULL")" = 5 ] ||
    fail "the instances are not all spooled"
[ "$(ls "$work/shared/spool"/*/*.dcm | wc -l)" = 5 ] || fail "the spool does not hold the 5 instances"
# Nothing identifying in the spool the workers read: the patient ID is gone.
for f in "$work/shared/spool"/*/*.dcm; do
    [ "$(uid_of "$f" PatientID)" != "SIM-Q" ] || fail "a spool file keeps the patient ID"
done

# Killed while its jobs wait, started again: the jobs are found, none queued twice.
kill_listen
start_listen --port "$m_port"
sleep 3
[ "$(sql "SELECT count(*) FROM jobs")" = 5 ] || fail "jobs queued again after the restart"
# PostgreSQL restarted under the listener (every session ends): it reconnects and goes on.
restart_postgres 1

"$bin" worker "${who[@]}" --reports "$work/shared/reports" --once --threads 2 >"$work/worker.log" 2>&1 ||
    fail "worker --once: $(tail -5 "$work/worker.log")"
[ "$(status_jobs done)" = 4 ] || fail "jobs done: $(status_jobs done), expected 4"
[ "$(status_jobs failed)" = 1 ] || fail "jobs failed: $(status_jobs failed), expected 1"
sql "SELECT last_error FROM jobs WHERE state = 'failed'" | grep -q "^corrupt: .*4.*\.dcm" ||
    fail "the bad instance's job error: $(sql "SELECT last_error FROM jobs WHERE state = 'failed'")"

sr_arrived() { ls "$work/pacs"/SR* >/dev/null 2>&1; }
wait_for 30 "the SR did not arrive at the PACS" sr_arrived
settled() { [ "$(sql "SELECT count(*) FROM pacs_instances WHERE analysis_id IS NULL AND error IS NULL")" = 0 ]; }
wait_for 10 "instances still spooled" settled
[ "$(sql "SELECT count(*) FROM pacs_instances WHERE analysis_id IS NOT NULL")" = 4 ] ||
    fail "expected 4 instances analysed"
sql "SELECT error FROM pacs_instances WHERE error IS NOT NULL" | grep -q "^corrupt: " ||
    fail "the bad instance's row: $(sql "SELECT error FROM pacs_instances WHERE error IS NOT NULL")"
# Each analysed instance points at the analysis of its own job.
[ "$(sql "SELECT count(*) FROM pacs_instances i JOIN jobs j ON j.path LIKE '%/' || i.sop_uid || '.dcm' WHERE i.analysis_id = j.analysis_id")" = 4 ] ||
    fail "an instance points at another analysis than its job's"
[ -z "$(ls -A "$work/shared/spool")" ] || fail "the spool is not empty: $(ls -R "$work/shared/spool")"
[ "$(ls "$work/pacs"/SR* | wc -l)" = 1 ] || fail "the PACS holds $(ls "$work/pacs"/SR* | wc -l) SRs, expected 1"
[ "$(sql "SELECT state FROM pacs_sends")" = sent ] || fail "the send is not marked sent"

# The SR cites exactly the instances the workers' reports cite: the de-identified UIDs the rows
# name (the oracle: dcmdump of what storescp received, the reports' JSON from psql).
cited=$(sr_refs "$(ls "$work/pacs"/SR*)")
reported=$(sql "SELECT report_json FROM analyses" | /usr/bin/python3 -c 'import json,sys; [print(json.loads(l)["image"]["dicom"]["sop_instance_uid"]) for l in sys.stdin if l.strip()]' | sort -u)
rows=$(sql "SELECT sop_uid FROM pacs_instances WHERE analysis_id IS NOT NULL" | sort -u)
[ "$(grep -c . <<<"$cited")" = 4 ] || fail "the SR cites $(grep -c . <<<"$cited") instances, expected 4"
[ "$cited" = "$reported" ] || fail "the SR cites $cited, the workers' reports $reported"
[ "$cited" = "$rows" ] || fail "the SR cites $cited, the ledger's rows $rows"
# The workers analysed the spooled copies as they are: no UID remapped a second time.
copies=$(for c in "$work/shared/reports"/*/image.deid.dcm; do uid_of "$c" SOPInstanceUID; done | sort -u)
[ "$cited" = "$copies" ] || fail "the reports' de-identified copies carry $copies, the SR cites $cited"
[ "$(sql "SELECT count(*) FROM transactions")" = 0 ] || fail "the listener anchored on the ledger"
stop_listen
echo "ok: listen on a PostgreSQL ledger queues each stable series for the workers and sends its SR"
