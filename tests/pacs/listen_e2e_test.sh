#!/usr/bin/env bash
# `medanchor listen` end to end (issue 13 phase B), against a real Orthanc (Debian's, with its
# DICOMweb plugin) and a real local chain, DCMTK's storescu as the modality. One Orthanc and one
# chain for the whole script; each scenario is a separate series (the sample slices, given one
# Series/Study UID per scenario with dcmodify):
#   A. routed: storescu -> Orthanc, Orthanc routes the series to medanchor (/modalities/.../store);
#      medanchor analyses and anchors; the series' SR comes back by C-STORE, is found by QIDO-RS,
#      cites exactly the instances the reports cite, passes dciodvfy; `medanchor verify` finds
#      every image on chain (exit 0).
#   B. the same series sent again: nothing analysed twice, no new SR.
#   C. kill -9 mid-series, restart, the rest of the series: every instance analysed once, one SR
#      citing all.
#   D. destination down, then up (STOW-RS to Orthanc while it is stopped): the SR arrives once.
#   E. Orthanc mode: a series uploaded to Orthanc over REST is found in /changes (cursor persisted
#      in the ledger), analysed, and its SR uploaded back.
#   F. an oversized object among good ones: refused with 0xA700, the others stored and analysed.
# Usage: listen_e2e_test.sh MEDANCHOR_BINARY SOURCE_DIR
set -euo pipefail
bin=$1
src=$2
work=$(mktemp -d)
fail() { echo "FAIL: $*" >&2; [ -f "$work/listen.log" ] && tail -30 "$work/listen.log" >&2; [ -n "${KEEP_WORK:-}" ] && cp -r "$work" "$KEEP_WORK"; exit 1; }
source "$src/tests/http/chain_setup.sh"
listen_pid=
orthanc_pid=
stop_listen() { [ -n "$listen_pid" ] && kill "$listen_pid" 2>/dev/null && wait "$listen_pid" 2>/dev/null; listen_pid=; }
stop_orthanc() { [ -n "$orthanc_pid" ] && kill "$orthanc_pid" 2>/dev/null && wait "$orthanc_pid" 2>/dev/null; orthanc_pid=; }
trap 'stop_listen; stop_orthanc; cleanup' EXIT

source "$src/tests/pacs/series_helpers.sh"

# ---- Orthanc ----------------------------------------------------------------------------------
o_http=$(free_port)
o_dicom=$(free_port)
m_port=$(free_port)
orthanc="http://127.0.0.1:$o_http"
mkdir -p "$work/orthanc"
cat >"$work/orthanc/cfg.json" <<JSON
{ "Name": "medanchor-listen-test", "StorageDirectory": "$work/orthanc/db",
  "IndexDirectory": "$work/orthanc/db", "HttpPort": $o_http, "DicomPort": $o_dicom,
  "DicomAet": "ORTHANC", "RemoteAccessAllowed": false, "AuthenticationEnabled": false,
  "Plugins": ["/usr/share/orthanc/plugins/libOrthancDicomWeb.so"],
  "DicomWeb": { "Enable": true, "Root": "/dicom-web/" },
  "DicomModalities": { "medanchor": ["MEDANCHOR", "127.0.0.1", $m_port],
                       "modality": ["MODALITY", "127.0.0.1", 4] },
  "DicomAlwaysAllowStore": false, "DicomCheckModalityHost": true, "DicomScuTimeout": 10,
  "StableAge": 1, "SaveJobs": false, "StorageCompression": false }
JSON
start_orthanc() {
    Orthanc "$work/orthanc/cfg.json" >>"$work/orthanc/log" 2>&1 &
    orthanc_pid=$!
    wait_for 30 "Orthanc did not start" curl -sf "$orthanc/system"
}
start_orthanc

# ---- chain, keys, listener ----------------------------------------------------------------------
chain_up || fail "chain set-up"
"$bin" site-key new "$work/site.key" >/dev/null
ledger="$work/ledger.sqlite"
listen_common=(--data "$work/listen" --ledger "$ledger" --site-key "$work/site.key"
    --key-file "$work/doctor.key" "${node[@]}" --stable-after 2 --retry-after 0.5)
start_listen() {
    "$bin" listen "${listen_common[@]}" "$@" >>"$work/listen.log" 2>&1 &
    listen_pid=$!
    if [[ " $* " == *" --port "* ]]; then
        wait_for 60 "medanchor listen did not start" echoscu -aet MODALITY -aec MEDANCHOR 127.0.0.1 "$m_port"
    else
        sleep 1
    fi
}

sql() { sqlite3 "$ledger" "$1"; }
# The Orthanc ids of the SR series in Orthanc (QIDO-RS: modality SR).
qido_sr_count() { curl -sf "$orthanc/dicom-web/instances?Modality=SR" | /usr/bin/python3 -c 'import json,sys; t=sys.stdin.read(); print(len(json.loads(t)) if t.strip() else 0)'; }
sr_count_at_least() { [ "$(qido_sr_count)" -ge "$1" ]; }
# Every SOP Instance UID an SR in the results folder of series DEID cites, sorted.
sr_refs() { dcmdump +P "0008,1155" "$1" | sed -e 's/.*\[\(.*\)\].*/\1/' | sort -u; }

# ---- A: routed by Orthanc ----------------------------------------------------------------------
make_series A 101 3
start_listen --port "$m_port" --send-to "ORTHANC@127.0.0.1:$o_dicom"
storescu -aet MODALITY -aec ORTHANC 127.0.0.1 "$o_dicom" "$work/series/A"/*.dcm || fail "storescu to Orthanc"
a_series=$(uid_of "$work/series/A/0.dcm" SeriesInstanceUID)
a_id=$(curl -sf -X POST "$orthanc/tools/lookup" -d "$a_series" | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["ID"])')
curl -sf -X POST "$orthanc/modalities/medanchor/store" -d "\"$a_id\"" >/dev/null || fail "Orthanc routing to medanchor"
wait_for 90 "A: the SR did not come back to Orthanc" sr_count_at_least 1
[ "$(sql "SELECT count(*) FROM pacs_instances WHERE analysis_id IS NOT NULL")" = 3 ] || fail "A: 3 instances analysed"
# The SR in Orthanc cites exactly the instances the three reports cite (de-identified).
sr_id=$(curl -sf "$orthanc/dicom-web/instances?Modality=SR" | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["00080018"]["Value"][0])')
curl -sf "$orthanc/dicom-web/instances?SOPInstanceUID=$sr_id" >/dev/null || fail "A: QIDO by SR UID"
o_sr=$(curl -sf -X POST "$orthanc/tools/lookup" -d "$sr_id" | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["ID"])')
curl -sf "$orthanc/instances/$o_sr/file" >"$work/A.sr.dcm"
dciodvfy "$work/A.sr.dcm" >"$work/A.dciodvfy" 2>&1 || true
grep -q "^Error" "$work/A.dciodvfy" && { cat "$work/A.dciodvfy" >&2; fail "A: dciodvfy errors in the SR"; }
cited=$(sr_refs "$work/A.sr.dcm")
reported=$(for r in "$work/listen/reports"/*/report.json; do /usr/bin/python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["image"]["dicom"]["sop_instance_uid"])' "$r"; done | sort -u)
[ "$cited" = "$reported" ] || fail "A: the SR cites $cited, the reports $reported"
for f in "$work/series/A"/*.dcm; do
    grep -q "$(uid_of "$f" SOPInstanceUID)" <<<"$cited" && fail "A: the SR cites an original UID"
done
# Anchored: once nothing waits, verify finds each image on chain (0), except those held for
# review below a threshold, which never reach the chain (3).
settled() { [ "$(sql "SELECT count(*) FROM analyses WHERE state IN ('pending', 'broadcast')")" = 0 ]; }
wait_for 90 "A: the analyses were not anchored" settled
check_verify() {
    local f h state code
    for f in "$work/series/$1"/*.dcm; do
        h=$(MEDANCHOR_SITE_KEY_FILE="$work/site.key" "$bin" hash "$f" | cut -d' ' -f1 | cut -d: -f2)
        state=$(sql "SELECT state FROM analyses WHERE image_hash = '$h'")
        code=0
        "$bin" verify --site-key "$work/site.key" --ledger "$ledger" "${node[@]}" "$f" >/dev/null 2>&1 || code=$?
        case "$state" in
            confirmed) [ "$code" = 0 ] || fail "$1: verify exits $code for an anchored image" ;;
            needs_review) [ "$code" = 3 ] || fail "$1: verify exits $code for an image held for review" ;;
            *) fail "$1: an image in state '$state'" ;;
        esac
    done
}
check_verify A
echo "A ok: routed series analysed, SR back in Orthanc citing the reports' instances, verify finds each on chain"

# ---- B: the same series again: nothing analysed twice -------------------------------------------
analyses_before=$(sql "SELECT count(*) FROM analyses")
storescu -aet MODALITY -aec MEDANCHOR 127.0.0.1 "$m_port" "$work/series/A"/*.dcm || fail "B: storescu"
sleep 3
[ "$(sql "SELECT count(*) FROM analyses")" = "$analyses_before" ] || fail "B: analysed twice"
[ "$(sql "SELECT count(*) FROM pacs_sends")" = 1 ] || fail "B: a second SR was queued"
echo "B ok: the same instances again: no analysis, no SR"

# ---- C: kill -9 mid-series, restart -------------------------------------------------------------
make_series C 102 6
c_series=$(uid_of "$work/series/C/0.dcm" SeriesInstanceUID)
storescu -aet MODALITY -aec MEDANCHOR 127.0.0.1 "$m_port" "$work/series/C"/{0,1,2}.dcm || fail "C: first half"
kill -9 "$listen_pid"; wait "$listen_pid" 2>/dev/null || true; listen_pid=
[ "$(sql "SELECT count(*) FROM pacs_instances WHERE analysis_id IS NULL AND error IS NULL")" = 3 ] ||
    fail "C: the 3 instances answered Success are not all spooled"
ls "$work/listen/spool"/*/*.dcm >/dev/null || fail "C: no spool file"
start_listen --port "$m_port" --send-to "ORTHANC@127.0.0.1:$o_dicom"
storescu -aet MODALITY -aec MEDANCHOR 127.0.0.1 "$m_port" "$work/series/C"/{3,4,5}.dcm || fail "C: second half"
wait_for 90 "C: the series' SR did not come back" sr_count_at_least 2
c_rows=$(sql "SELECT count(*), count(DISTINCT analysis_id) FROM pacs_instances p JOIN analyses a ON a.id = p.analysis_id WHERE p.series_uid IN (SELECT series_uid FROM pacs_instances GROUP BY series_uid HAVING count(*) = 6)")
[ "$c_rows" = "6|6" ] || fail "C: expected 6 instances with 6 analyses, got $c_rows"
[ -z "$(ls -A "$work/listen/spool")" ] || fail "C: the spool is not empty after analysis"
echo "C ok: killed mid-series and restarted: 6 instances, each analysed once, one SR"

# ---- D: destination down, then up (STOW-RS) ---------------------------------------------------
stop_listen
start_listen --port "$m_port" --stow "$orthanc/dicom-web"
make_series D 103 2
stop_orthanc
storescu -aet MODALITY -aec MEDANCHOR 127.0.0.1 "$m_port" "$work/series/D"/*.dcm || fail "D: storescu"
failed_attempt() { [ "$(sql "SELECT count(*) FROM pacs_sends WHERE destination LIKE 'stow:%' AND state = 'pending' AND attempts >= 1")" = 1 ]; }
wait_for 60 "D: no failed STOW-RS attempt while Orthanc is down" failed_attempt
start_orthanc
sent() { [ "$(sql "SELECT count(*) FROM pacs_sends WHERE destination LIKE 'stow:%' AND state = 'sent'")" = 1 ]; }
wait_for 60 "D: the SR was not sent once Orthanc was up" sent
sleep 2
[ "$(qido_sr_count)" = 3 ] || fail "D: Orthanc holds $(qido_sr_count) SRs, expected 3 (A, C, D once)"
echo "D ok: STOW-RS while Orthanc is down retried, the SR arrived once"

# ---- E: Orthanc mode -----------------------------------------------------------------------------
stop_listen
start_listen --orthanc "$orthanc"
make_series E 104 2
for f in "$work/series/E"/*.dcm; do
    curl -sf -X POST "$orthanc/instances" --data-binary @"$f" >/dev/null || fail "E: upload"
done
wait_for 90 "E: no SR uploaded back in Orthanc mode" sr_count_at_least 4
cursor=$(sql "SELECT seq FROM pacs_cursors")
[ "$cursor" -gt 0 ] || fail "E: no persisted cursor"
[ "$(sql "SELECT count(*) FROM pacs_instances WHERE origin = 'orthanc' AND analysis_id IS NOT NULL")" = 2 ] ||
    fail "E: the 2 new instances were not analysed from Orthanc (earlier series skipped as known)"
echo "E ok: Orthanc mode: /changes followed from a persisted cursor ($cursor), SR uploaded back"

# ---- F: an oversized object among good ones ------------------------------------------------------
stop_listen
start_listen --port "$m_port" --max-object-mb 1
make_series F 105 1
/usr/bin/python3 - "$work/series/F/0.dcm" "$work/series/F/big.dcm" <<'PY'
import sys, pydicom
ds = pydicom.dcmread(sys.argv[1])
ds.SOPInstanceUID = ds.SOPInstanceUID + ".9"
ds.Rows, ds.Columns = 1024, 1024
ds.PixelData = bytes(1024 * 1024 * 2)
ds.save_as(sys.argv[2])
PY
storescu -v --no-halt -aet MODALITY -aec MEDANCHOR 127.0.0.1 "$m_port" "$work/series/F/big.dcm" "$work/series/F/0.dcm" \
    >"$work/F.log" 2>&1 || true
grep -q "0xa700\|Refused: OutOfResources\|Out of Resources" "$work/F.log" || { cat "$work/F.log" >&2; fail "F: no 0xA700 for the oversized object"; }
f_done() { [ "$(sql "SELECT count(*) FROM pacs_instances WHERE analysis_id IS NOT NULL")" = 14 ]; }
wait_for 60 "F: the good instance after the oversized one was not analysed" f_done
[ "$(sql "SELECT count(*) FROM pacs_instances")" = 14 ] || fail "F: the oversized instance was recorded"
echo "F ok: the oversized object refused (0xA700), the good one in the same association analysed"
# ---- G, H: --reference-originals, three senders at once, a series in two bursts, metrics ------
stop_listen
metrics_port=$(free_port)
start_listen --port "$m_port" --send-to "ORTHANC@127.0.0.1:$o_dicom" --reference-originals \
    --metrics "127.0.0.1:$metrics_port"
# The SRs in the original study STUDY (with --reference-originals the SR joins it), newest last.
study_srs() { curl -sf "$orthanc/dicom-web/studies/$1/instances?Modality=SR" | /usr/bin/python3 -c 'import json,sys; t=sys.stdin.read(); print("\n".join(m["00080018"]["Value"][0] for m in (json.loads(t) if t.strip() else [])))'; }
study_has_srs() { [ "$(study_srs "$1" | grep -c .)" -ge "$2" ]; }
sr_file() { local id; id=$(curl -sf -X POST "$orthanc/tools/lookup" -d "$1" | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["ID"])'); curl -sf "$orthanc/instances/$id/file" >"$2"; }
originals() { for f in "$@"; do uid_of "$f" SOPInstanceUID; done | sort -u; }
for h in H1 H2 H3; do make_series "$h" "$((200 + ${h#H}))" 2; done
senders=()
for h in H1 H2 H3; do
    storescu -aet MODALITY -aec MEDANCHOR 127.0.0.1 "$m_port" "$work/series/$h"/*.dcm &
    senders+=($!)
done
for p in "${senders[@]}"; do wait "$p" || fail "H: a storescu failed"; done
for h in H1 H2 H3; do
    study=$(uid_of "$work/series/$h/0.dcm" StudyInstanceUID)
    wait_for 90 "H: no SR in $h's study" study_has_srs "$study" 1
    sr_file "$(study_srs "$study" | head -1)" "$work/$h.sr.dcm"
    [ "$(sr_refs "$work/$h.sr.dcm")" = "$(originals "$work/series/$h"/*.dcm)" ] ||
        fail "H: $h's SR does not cite exactly its original instances"
done
echo "H ok: three senders at once, three SRs, each citing its series' original instances"

make_series G 300 2
g_study=$(uid_of "$work/series/G/0.dcm" StudyInstanceUID)
storescu -aet MODALITY -aec MEDANCHOR 127.0.0.1 "$m_port" "$work/series/G/0.dcm" || fail "G: first burst"
wait_for 60 "G: no SR after the first burst" study_has_srs "$g_study" 1
storescu -aet MODALITY -aec MEDANCHOR 127.0.0.1 "$m_port" "$work/series/G/1.dcm" || fail "G: second burst"
wait_for 60 "G: no second SR after the second burst" study_has_srs "$g_study" 2
for sr in $(study_srs "$g_study"); do
    sr_file "$sr" "$work/G.sr.dcm"
    case "$(sr_refs "$work/G.sr.dcm" | grep -c .)" in
        1) [ "$(sr_refs "$work/G.sr.dcm")" = "$(originals "$work/series/G/0.dcm")" ] || fail "G: the first SR" ;;
        2) [ "$(sr_refs "$work/G.sr.dcm")" = "$(originals "$work/series/G"/*.dcm)" ] || fail "G: the second SR" ;;
        *) fail "G: an SR citing $(sr_refs "$work/G.sr.dcm" | grep -c .) instances" ;;
    esac
done
echo "G ok: two bursts: an SR of the first, then one of the whole series"

curl -sf "http://127.0.0.1:$metrics_port/metrics" >"$work/metrics.txt" || fail "metrics: no answer"
grep -q "^medanchor_listen_instances_received_total 8$" "$work/metrics.txt" || { cat "$work/metrics.txt" >&2; fail "metrics: instances received"; }
grep -q "^medanchor_listen_series_analysed_total 5$" "$work/metrics.txt" || { cat "$work/metrics.txt" >&2; fail "metrics: series analysed"; }
grep -q "^medanchor_anchoring_lag_seconds [0-9]" "$work/metrics.txt" || fail "metrics: anchoring lag"
echo "metrics ok"
echo "PASS"
