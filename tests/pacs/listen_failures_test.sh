#!/usr/bin/env bash
# `medanchor listen` when things fail (docs/pacs.md, "Every failure"), against a real Orthanc with
# its DICOMweb plugin, DCMTK's storescu as the modality; records only (--no-anchor, no chain):
#   S. the series SR cannot be written (DATA/results is a file, as a full disk would refuse it):
#      the series stays "summary due" in the ledger; killed and restarted with the disk fixed,
#      the SR arrives, once; and, without a restart, a failed summary is tried again.
#   O. Orthanc mode, a stable series holding an instance over --max-object-mb and one that
#      de-identification refuses (Burned In Annotation YES) among good ones: the good ones are
#      analysed and the SR uploaded back; the bad ones are recorded with their reasons, counted
#      in the metrics, and the feed moves on (a later series is analysed too).
#   P. --per-instance, --keep-originals, --fhir, and a malformed object on one association: the
#      object without a Study Instance UID is answered 0xC000 and the next one is stored; each
#      instance gets its SR at once (the second citing both); each image's FHIR bundle reaches a
#      FHIR endpoint (tests/pacs/fhir_sink.py: the R4 schema fragment is the oracle) byte for byte
#      as the report's; each original is kept as received (the same data set, pydicom), mode
#      0600 — and without --keep-originals (S) nothing is kept.
#   D. --data naming a folder that holds other things: refused (exit 2), its mode unchanged; a
#      spool file no ledger row announces (S) is removed at start.
#   X. a destination that refuses for good (STOW-RS to a path Orthanc answers 404): the send is
#      given up after one attempt (`failed`, the reason in the ledger and the log, the metrics'
#      sends_dead); once the destination is fixed, `--retry-failed-sends` sends it, once.
#   R. a C-STORE destination that rejects the association (DCMTK's storescp --refuse, as a PACS
#      at its association limit does): the send is tried again, not given up; once a storescp
#      that accepts listens on that port, the SR arrives there, once. The series has 18
#      instances (two of the listener's chunks of 16): all analysed, cited, none left spooled.
# Usage: listen_failures_test.sh MEDANCHOR_BINARY SOURCE_DIR
set -euo pipefail
bin=$1
src=$2
work=$(mktemp -d)
# shellcheck source=tests/shell_support.sh
. "$(dirname "${BASH_SOURCE[0]}")/../shell_support.sh"
source "$src/tests/pacs/listen_support.sh"
r_pid=
stop_r() { if [ -n "$r_pid" ]; then kill "$r_pid" 2>/dev/null || true; wait "$r_pid" 2>/dev/null || true; fi; r_pid=; }
trap 'stop_listen; stop_orthanc; stop_r; rm -rf "$work"' EXIT
start_orthanc
"$bin" site-key new "$work/site.key" >/dev/null
"$bin" keys devnet wallet_2 --out "$work/doctor.key" >/dev/null  # names the analyst; nothing is signed
listen_common=(--data "$work/listen" --ledger "$ledger" --site-key "$work/site.key" --no-anchor
    --key-file "$work/doctor.key" --retry-after 0.5)
due_count() { sql "SELECT count(*) FROM pacs_summaries_due"; }
sr_sends() { sql "SELECT count(*) FROM pacs_sends WHERE series_uid = '$1'"; }

# ---- S: a summary that fails is not lost ----------------------------------------------------------
make_series S1 401 2
make_series S2 402 2
mkdir -p "$work/listen"
: >"$work/listen/results"  # a file where the results folder goes: every SR write fails
start_listen --stable-after 1 --port "$m_port" --send-to "ORTHANC@127.0.0.1:$o_dicom"
storescu -aet MODALITY -aec MEDANCHOR 127.0.0.1 "$m_port" "$work/series/S1"/*.dcm || fail "S: storescu"
analysed() { [ "$(sql "SELECT count(*) FROM pacs_instances WHERE analysis_id IS NOT NULL")" = "$1" ]; }
wait_for 60 "S: the series was not analysed" analysed 2
no_sr_logged() { grep -q "no SR: .*results" "$work/listen.log"; }
wait_for 30 "S: the failed SR write was not logged" no_sr_logged
[ "$(due_count)" = 1 ] || fail "S: the series is not marked summary due"
[ "$(sql "SELECT count(*) FROM pacs_sends")" = 0 ] || fail "S: a send was queued without an SR"
kill_listen
rm "$work/listen/results"
# What a process killed between a spool file and its row leaves: removed at the next start.
mkdir -p "$work/listen/spool/2.25.77"
cp "$work/series/S1/0.dcm" "$work/listen/spool/2.25.77/2.25.7701.dcm"
start_listen --stable-after 1 --port "$m_port" --send-to "ORTHANC@127.0.0.1:$o_dicom"
[ ! -e "$work/listen/spool/2.25.77" ] || fail "S: an orphan spool file was not swept at start"
grep -q "1 file(s) in the spool that no ledger row announces removed" "$work/listen.log" || fail "S: the sweep is not logged"
wait_for 60 "S: the SR did not arrive after the restart" sr_count_at_least 1
no_due() { [ "$(due_count)" = 0 ]; }
wait_for 10 "S: the summary mark was not cleared" no_due
sleep 2
[ "$(qido_sr_count)" = 1 ] || fail "S: Orthanc holds $(qido_sr_count) SRs after the restart, expected 1"
[ "$(sql "SELECT count(*), count(DISTINCT payload_sha256) FROM pacs_sends")" = "1|1" ] ||
    fail "S: expected one SR queued once"
# One set of UIDs: the SR cites what the reports cite, what their de-identified copies carry
# (dcmdump) and what the ledger's rows name.
cited=$(sr_refs "$(ls "$work/listen/results"/*/*.sr.dcm)")
reported=$(for r in "$work/listen/reports"/*/report.json; do /usr/bin/python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["image"]["dicom"]["sop_instance_uid"])' "$r"; done | sort -u)
copies=$(for c in "$work/listen/reports"/*/image.deid.dcm; do uid_of "$c" SOPInstanceUID; done | sort -u)
rows=$(sql "SELECT sop_uid FROM pacs_instances" | sort -u)
[ "$(grep -c . <<<"$cited")" = 2 ] || fail "S: the SR cites $(grep -c . <<<"$cited") instances"
[ "$cited" = "$reported" ] || fail "S: the SR cites $cited, the reports $reported"
[ "$cited" = "$copies" ] || fail "S: the SR cites $cited, the de-identified copies carry $copies"
[ "$cited" = "$rows" ] || fail "S: the SR cites $cited, the ledger's rows name $rows"
# Without a restart: the write fails, then the disk is fixed: the backoff retry sends it.
: >"$work/listen/results.blocked"
mv "$work/listen/results" "$work/listen/results.ok"
mv "$work/listen/results.blocked" "$work/listen/results"
storescu -aet MODALITY -aec MEDANCHOR 127.0.0.1 "$m_port" "$work/series/S2"/*.dcm || fail "S: storescu S2"
wait_for 60 "S: the second series was not analysed" analysed 4
one_due() { [ "$(due_count)" = 1 ]; }
wait_for 30 "S: the second series is not marked summary due" one_due
sleep 1
rm "$work/listen/results"
mv "$work/listen/results.ok" "$work/listen/results"
wait_for 60 "S: the failed summary was not tried again" sr_count_at_least 2
sleep 2
[ "$(qido_sr_count)" = 2 ] || fail "S: Orthanc holds $(qido_sr_count) SRs, expected 2"
[ "$(due_count)" = 0 ] || fail "S: a summary mark left"
[ ! -e "$work/listen/originals" ] || fail "S: originals kept without --keep-originals"
echo "S ok: an SR that could not be written is written and sent once, after a restart or a retry"
stop_listen

# ---- O: Orthanc mode, instances that never come among good ones -----------------------------------
make_series O1 403 3
/usr/bin/python3 - "$work/series/O1/1.dcm" "$work/series/O1/2.dcm" <<'PY'
import sys, pydicom
big = pydicom.dcmread(sys.argv[1])  # over 1 MiB: refused before its download
big.Rows, big.Columns = 1024, 1024
big.PixelData = bytes(1024 * 1024 * 2)
big.save_as(sys.argv[1])
burned = pydicom.dcmread(sys.argv[2])  # refused by de-identification
burned.BurnedInAnnotation = "YES"
burned.save_as(sys.argv[2])
PY
metrics_port=$(free_port)
rest_sr_count() { curl -sf -X POST "$orthanc/tools/find" -d '{"Level":"Instance","Query":{"Modality":"SR"}}' | /usr/bin/python3 -c 'import json,sys; print(len(json.load(sys.stdin)))'; }
rest_srs_at_least() { [ "$(rest_sr_count)" -ge "$1" ]; }
srs_before=$(rest_sr_count)
start_listen --stable-after 1 --orthanc "$orthanc" --max-object-mb 1 --metrics "127.0.0.1:$metrics_port"
for f in "$work/series/O1"/*.dcm; do
    curl -sf -X POST "$orthanc/instances" --data-binary @"$f" >/dev/null || fail "O: upload $f"
done
wait_for 90 "O: no SR uploaded back for the series with bad instances" rest_srs_at_least $((srs_before + 1))
[ "$(sql "SELECT count(*) FROM pacs_instances WHERE origin = 'orthanc' AND analysis_id IS NOT NULL")" = 1 ] ||
    fail "O: the good instance was not analysed (alone)"
[ "$(sql "SELECT count(*) FROM pacs_fetch_failures")" = 2 ] || fail "O: the two bad instances are not recorded"
sql "SELECT reason FROM pacs_fetch_failures" | grep -q "over the bound of 1048576" || fail "O: no reason for the oversized one"
sql "SELECT reason FROM pacs_fetch_failures" | grep -qi "burned" || fail "O: no reason for the burned-in one"
grep -q "Orthanc instance .* not taken: .*over the bound" "$work/listen.log" || fail "O: the oversized one is not in the log"
curl -sf "http://127.0.0.1:$metrics_port/metrics" >"$work/metrics.txt" || fail "O: no metrics"
grep -q "^medanchor_listen_instances_fetch_failed_total 2$" "$work/metrics.txt" || { cat "$work/metrics.txt" >&2; fail "O: metrics"; }
# The feed moved on: a later series is analysed too.
make_series O2 404 1
curl -sf -X POST "$orthanc/instances" --data-binary @"$work/series/O2/0.dcm" >/dev/null || fail "O: upload O2"
wait_for 90 "O: the feed stopped after the bad instances" rest_srs_at_least $((srs_before + 2))
echo "O ok: Orthanc mode: an oversized and a burned-in instance recorded with reasons and skipped, the rest analysed"
stop_listen

# ---- P: --per-instance, --keep-originals, --fhir, a malformed object ------------------------------
make_series P 406 2
cp "$work/series/P/0.dcm" "$work/bad.dcm"
dcmodify -nb -e "(0020,000d)" -m "(0008,0018)=$(uid_of "$work/series/P/0.dcm" SOPInstanceUID).9" "$work/bad.dcm"
fhir_port=$(free_port)
/usr/bin/python3 "$src/tests/pacs/fhir_sink.py" "$fhir_port" "$src/tests/report/fhir/fhir-r4-fragment.schema.json" "$work/fhir" &
fhir_pid=$!
trap 'stop_listen; stop_orthanc; kill $fhir_pid 2>/dev/null; rm -rf "$work"' EXIT
srs() { ls "$work/listen/results"/*/*.sr.dcm 2>/dev/null | grep -c . || true; }
srs_at_least() { [ "$(srs)" -ge "$1" ]; }
srs_before=$(srs)
start_listen --port "$m_port" --per-instance --stable-after 60 --keep-originals \
    --fhir "http://127.0.0.1:$fhir_port/fhir/Bundle"
storescu -v --no-halt -aet MODALITY -aec MEDANCHOR 127.0.0.1 "$m_port" "$work/bad.dcm" "$work/series/P/0.dcm" \
    >"$work/P.log" 2>&1 || true
grep -qi "0xc000\|Cannot understand\|CannotUnderstand" "$work/P.log" || { cat "$work/P.log" >&2; fail "P: no 0xC000 for the object without a Study Instance UID"; }
wait_for 30 "P: no SR for the first instance with --per-instance (--stable-after 60)" srs_at_least $((srs_before + 1))
storescu -aet MODALITY -aec MEDANCHOR 127.0.0.1 "$m_port" "$work/series/P/1.dcm" || fail "P: storescu"
wait_for 30 "P: no second SR with --per-instance" srs_at_least $((srs_before + 2))
p_series=$(sql "SELECT series_uid FROM pacs_instances ORDER BY rowid DESC LIMIT 1")
[ "$(sql "SELECT count(*) FROM pacs_instances WHERE series_uid = '$p_series'")" = 2 ] || fail "P: the malformed object was recorded"
for sr in "$work/listen/results/$p_series"/*.sr.dcm; do
    n=$(sr_refs "$sr" | grep -c .)
    [ "$n" = 1 ] || [ "$n" = 2 ] || fail "P: an SR citing $n instances"
done
[ "$(ls "$work/listen/results/$p_series"/*.sr.dcm | wc -l)" = 2 ] || fail "P: expected two SRs of the series"
fhir_in() { [ "$(ls "$work/fhir"/*.json 2>/dev/null | grep -c .)" -ge 2 ]; }
wait_for 30 "P: the FHIR bundles did not arrive" fhir_in
sleep 1
[ -z "$(ls "$work/fhir"/*.invalid.json 2>/dev/null)" ] || fail "P: a bundle the FHIR R4 schema refuses: $(ls "$work/fhir"/*.invalid.json)"
[ "$(ls "$work/fhir"/*.json | wc -l)" = 2 ] || fail "P: expected one bundle per image"
for dir in $(sql "SELECT a.report_dir FROM pacs_instances p JOIN analyses a ON a.id = p.analysis_id WHERE p.series_uid = '$p_series'"); do
    found=
    for b in "$work/fhir"/*.json; do cmp -s "$b" "$dir/report.fhir.json" && found=1; done
    [ -n "$found" ] || fail "P: the FHIR endpoint did not get $dir/report.fhir.json as it is"
done
[ "$(sql "SELECT count(*) FROM pacs_sends WHERE kind = 'fhir' AND state = 'sent'")" = 2 ] || fail "P: FHIR sends not all sent"
[ "$(ls "$work/listen/originals"/*.dcm | wc -l)" = 2 ] || fail "P: expected the two originals kept (not the refused one)"
for f in "$work/listen/originals"/*.dcm; do
    [ "$(stat -c %a "$f")" = 600 ] || fail "P: $f has mode $(stat -c %a "$f")"
done
/usr/bin/python3 - "$work/listen/originals" "$work/series/P" <<'PY' || fail "P: an original is not the data set sent"
import os, sys, pydicom
sent = {}
for name in os.listdir(sys.argv[2]):
    ds = pydicom.dcmread(os.path.join(sys.argv[2], name))
    sent[ds.SOPInstanceUID] = ds
for name in os.listdir(sys.argv[1]):
    kept = pydicom.dcmread(os.path.join(sys.argv[1], name))
    if kept != sent[kept.SOPInstanceUID]:
        sys.exit(f"{name} differs from what was sent")
PY
echo "P ok: per instance, an SR at once each; a malformed object answered 0xC000, the next stored; FHIR bundles valid and as written; originals kept as sent, 0600"
stop_listen

# ---- D: --data naming a folder of other things -------------------------------------------------
mkdir -p "$work/foreign"
echo "someone's notes" >"$work/foreign/notes.txt"
chmod 755 "$work/foreign"
code=0
timeout 60 "$bin" listen --data "$work/foreign" --ledger "$work/foreign-ledger.sqlite" --site-key "$work/site.key" \
    --no-anchor --key-file "$work/doctor.key" --port 0 >"$work/D.log" 2>&1 || code=$?
[ "$code" = 2 ] || { cat "$work/D.log" >&2; fail "D: listen exits $code for a foreign --data, expected 2"; }
grep -q "foreign: not empty and holds no listener state" "$work/D.log" || { cat "$work/D.log" >&2; fail "D: the message"; }
[ "$(stat -c %a "$work/foreign")" = 755 ] || fail "D: the foreign folder's mode was changed"
[ ! -e "$work/foreign/spool" ] || fail "D: a spool was made in the foreign folder"
echo "D ok: a foreign --data refused, untouched"

# ---- X: a destination that refuses for good -------------------------------------------------------
make_series X 405 1
start_listen --stable-after 1 --port "$m_port" --stow "$orthanc/dicomweb2" --metrics "127.0.0.1:$metrics_port"
storescu -aet MODALITY -aec MEDANCHOR 127.0.0.1 "$m_port" "$work/series/X"/*.dcm || fail "X: storescu"
dead() { [ "$(sql "SELECT count(*) FROM pacs_sends WHERE state = 'failed' AND attempts = 1 AND last_error LIKE '%HTTP 404%'")" = 1 ]; }
wait_for 60 "X: the refused send was not given up as failed" dead
sleep 2
[ "$(sql "SELECT attempts FROM pacs_sends WHERE state = 'failed'")" = 1 ] || fail "X: a refused send was tried again"
grep -q "failed for good (attempt 1" "$work/listen.log" || fail "X: the dead letter is not in the log"
curl -sf "http://127.0.0.1:$metrics_port/metrics" >"$work/metrics.txt" || fail "X: no metrics"
grep -q "^medanchor_listen_sends_dead 1$" "$work/metrics.txt" || { cat "$work/metrics.txt" >&2; fail "X: sends_dead"; }
stop_listen
# The destination fixed (Orthanc's DICOMweb root moved to where the send goes), then retried.
stop_orthanc
sed -i -e 's|"Root": "/dicom-web/"|"Root": "/dicomweb2/"|' "$work/orthanc/cfg.json"
start_orthanc
srs_before=$(rest_sr_count)
start_listen --stable-after 1 --port "$m_port" --stow "$orthanc/dicomweb2" --retry-failed-sends
wait_for 60 "X: the retried send did not arrive" rest_srs_at_least $((srs_before + 1))
sent_x() { [ "$(sql "SELECT state FROM pacs_sends WHERE destination LIKE 'stow:%dicomweb2'")" = sent ]; }
wait_for 10 "X: the retried send is not marked sent" sent_x
sleep 2
[ "$(rest_sr_count)" = $((srs_before + 1)) ] || fail "X: the SR arrived more than once"
echo "X ok: a send refused for good is given up with its reason, and sent once when retried"
stop_listen

# ---- R: a destination that rejects the association, then accepts ----------------------------------
make_series R 407 18
r_port=$(free_port)
storescp --refuse "$r_port" >"$work/refusing.log" 2>&1 &
r_pid=$!
start_listen --stable-after 1 --port "$m_port" --send-to "DEST@127.0.0.1:$r_port"
storescu -aet MODALITY -aec MEDANCHOR 127.0.0.1 "$m_port" "$work/series/R"/*.dcm || fail "R: storescu"
r_retrying() { [ "$(sql "SELECT count(*) FROM pacs_sends WHERE destination LIKE '%:$r_port' AND state = 'pending' AND attempts >= 2 AND last_error LIKE '%association rejected%'")" = 1 ]; }
wait_for 60 "R: the rejected send is not being tried again" r_retrying
stop_r
mkdir "$work/r_in"
storescp -od "$work/r_in" "$r_port" >"$work/accepting.log" 2>&1 &
r_pid=$!
r_received() { [ "$(find "$work/r_in" -type f | wc -l)" -ge 1 ]; }
wait_for 90 "R: the SR did not arrive once the destination accepts" r_received
sent_r() { [ "$(sql "SELECT state FROM pacs_sends WHERE destination LIKE '%:$r_port'")" = sent ]; }
wait_for 10 "R: the send is not marked sent" sent_r
sleep 2
[ "$(find "$work/r_in" -type f | wc -l)" = 1 ] || fail "R: the SR arrived more than once"
[ "$(dcmdump +P 0008,0060 "$(find "$work/r_in" -type f)" | sed -e 's/.*\[\(.*\)\].*/\1/')" = SR ] || fail "R: what arrived is not an SR"
r_series=$(sql "SELECT series_uid FROM pacs_instances ORDER BY rowid DESC LIMIT 1")
[ "$(sql "SELECT count(*) FROM pacs_instances WHERE series_uid = '$r_series' AND analysis_id IS NOT NULL")" = 18 ] ||
    fail "R: not all 18 instances analysed: $(sql "SELECT sop_uid, error FROM pacs_instances WHERE series_uid = '$r_series'")"
[ "$(sr_refs "$(find "$work/r_in" -type f)" | wc -l)" = 18 ] || fail "R: the SR does not cite the 18 instances"
[ -z "$(find "$work/listen/spool" -type f 2>/dev/null)" ] || fail "R: instances left spooled: $(find "$work/listen/spool" -type f)"
echo "R ok: a rejected association is tried again, and the SR sent once when it is accepted; 18 instances in two chunks"
stop_listen
stop_r
echo "PASS"
