#!/usr/bin/env bash
# `medanchor serve --listen-dicom` end to end (docs/pacs.md, "In medanchor serve"): the DICOM
# listener inside the web server, against the real local chain, DCMTK's echoscu/storescu as the
# modality and DCMTK's storescp as the PACS the SR goes back to:
#   - C-ECHO succeeds on the listener's port;
#   - a three-instance series sent in two bursts: /api/pacs/series shows it `receiving` with 2
#     instances, then `summarised` with 3 of 3 analysed, its worst finding and its SR `sent`;
#     the detail lists the three instances with links to analyses that reach `confirmed` on chain;
#   - the SR arrives at the storescp destination (modality SR, citing the instances of the three
#     analyses the API links to);
#   - /api/metrics carries the listener's counters (the names of `listen --metrics`);
#   - the web UI's PACS page in Debian's chromium (tests/web/pacs.spec.mjs), screenshots saved to
#     $MEDANCHOR_WEB_OUT; the page left open shows a series sent meanwhile and follows it to
#     Summarised by itself;
#   - SIGTERM: serve exits 0 and an instance stored just before is spooled, analysed after a
#     restart.
# Usage: serve_listen_e2e_test.sh MEDANCHOR_BINARY SOURCE_DIR
set -euo pipefail
bin=$1
src=$2
work=$(mktemp -d)
source "$src/tests/http/chain_setup.sh"
fail() { echo "FAIL: $*" >&2; [ -f "$work/serve.err" ] && tail -30 "$work/serve.err" >&2; exit 1; }
source "$src/tests/pacs/series_helpers.sh"
base="http://127.0.0.1:$http_port"
data="$work/data"
dicom_port=$(free_port)
dest_port=$(free_port)
dest_pid=
trap '[ -n "$dest_pid" ] && kill "$dest_pid" 2>/dev/null; cleanup' EXIT

token=$("$bin" users add pacs --role radiologist --key-file "$work/doctor.key" --data "$data" 2>/dev/null)
auditor=$("$bin" users add audit --role auditor --data "$data" 2>/dev/null)
chain_up || fail "setting up the chain"

# The PACS the SR goes back to: DCMTK's storescp, one file per instance received.
mkdir -p "$work/dest"
storescp -aet DEST --output-directory "$work/dest" "$dest_port" >"$work/dest.log" 2>&1 &
dest_pid=$!

serve_args=("${node[@]}" --api "http://127.0.0.1:$api_port" --listen-dicom "MEDANCHOR@$dicom_port"
    --listen-as pacs --allow-ae MODALITY --stable-after 4 --retry-after 0.5
    --send-to "DEST@127.0.0.1:$dest_port")
source "$src/tests/http/serve_start.sh"
start_server
grep -q "DICOM MEDANCHOR@127.0.0.1:$dicom_port" "$work/serve.out" || fail "serve names its DICOM port: $(cat "$work/serve.out")"
echoscu -aet MODALITY -aec MEDANCHOR 127.0.0.1 "$dicom_port" || fail "C-ECHO"
! echoscu -aet STRANGER -aec MEDANCHOR 127.0.0.1 "$dicom_port" 2>/dev/null || fail "an AE title not allowed was accepted"

get() { curl -sf -H "Authorization: Bearer $auditor" "$base$1"; }
# A field of the first series in /api/pacs/series, by a Python expression on `s`.
first() { get /api/pacs/series | /usr/bin/python3 -c "import json,sys; l=json.load(sys.stdin)['series']; s=l[0] if l else None; print($1)"; }

make_series S 401 3
storescu -aet MODALITY -aec MEDANCHOR 127.0.0.1 "$dicom_port" "$work/series/S"/{0,1}.dcm || fail "storescu, first burst"
state=$(first 's["state"], s["instances"]["received"], s["instances"]["analysed"]')
[ "$state" = "receiving 2 0" ] || fail "after the first burst: expected 'receiving 2 0', got '$state'"
storescu -aet MODALITY -aec MEDANCHOR 127.0.0.1 "$dicom_port" "$work/series/S/2.dcm" || fail "storescu, second burst"
summarised() { [ "$(first 's["state"], s["instances"]["received"], s["instances"]["analysed"], s["instances"]["failed"]')" = "summarised 3 3 0" ]; }
wait_for 90 "the series was not summarised: $(get /api/pacs/series)" summarised
series=$(first 's["series_uid"]')
[[ "$series" =~ ^2\.25\.[0-9]+$ ]] || fail "the series UID is not de-identified: $series"
[ "$series" != "$(uid_of "$work/series/S/0.dcm" SeriesInstanceUID)" ] || fail "the original series UID is shown"
[ "$(first 's["worst"]["finding"] in ("nodule-present", "nodule-absent")')" = True ] || fail "no worst finding: $(get /api/pacs/series)"
sent() { [ "$(first 's["sends"][0]["state"] if s["sends"] else ""')" = sent ]; }
wait_for 60 "the SR was not sent: $(get /api/pacs/series)" sent
[ "$(first 's["sends"][0]["destination"]')" = "dimse:DEST@127.0.0.1:$dest_port" ] || fail "the send's destination"

# The SR at the destination cites exactly the instances of the three analyses the API links
# (each report's de-identified SOP Instance UID).
sr_at_dest() { ls "$work/dest"/SR* >/dev/null 2>&1; }
wait_for 30 "no SR at the storescp destination" sr_at_dest
sr=$(ls "$work/dest"/SR* | head -1)
[ "$(uid_of "$sr" Modality)" = SR ] || fail "the object received is not an SR"
get "/api/pacs/series/$series" >"$work/detail.json" || fail "GET /api/pacs/series/{uid}"
ids=$(/usr/bin/python3 -c 'import json,sys; print(" ".join(str(i["analysis_id"]) for i in json.load(open(sys.argv[1]))["instance_list"]))' "$work/detail.json")
[ "$(wc -w <<<"$ids")" = 3 ] || fail "the detail lists analyses $ids"
reported=$(for id in $ids; do get "/api/analyses/$id/files/report.json" | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["image"]["dicom"]["sop_instance_uid"])'; done | sort -u)
cited=$(dcmdump +P "0008,1155" "$sr" | sed -e 's/.*\[\(.*\)\].*/\1/' | sort -u)
[ "$cited" = "$reported" ] || fail "the SR cites $cited, the linked reports $reported"
for f in "$work/series/S"/*.dcm; do
    ! grep -q "$(uid_of "$f" SOPInstanceUID)" "$work/detail.json" || fail "the API shows an original SOP Instance UID"
done
# Each instance's analysis reaches the chain (or is held for review, which never does).
anchored() {
    get "/api/pacs/series/$series" | /usr/bin/python3 -c 'import json,sys; d=json.load(sys.stdin); sys.exit(0 if all(i["anchoring"] in ("confirmed", "needs_review") for i in d["instance_list"]) else 1)'
}
wait_for 120 "the instances' analyses were not anchored: $(get "/api/pacs/series/$series")" anchored
echo "series ok: receiving 2 -> summarised 3/3, SR sent to storescp citing the linked analyses' instances, anchored"

get /api/pacs/stats >"$work/stats.json" || fail "GET /api/pacs/stats"
grep -q '"instances_received":3' "$work/stats.json" || fail "stats: $(cat "$work/stats.json")"
get /api/metrics >"$work/metrics.txt" || fail "GET /api/metrics"
for m in "medanchor_listen_instances_received_total 3" "medanchor_listen_series_analysed_total 1" \
    "medanchor_listen_sends_total 1" "medanchor_listen_sends_pending 0"; do
    grep -q "^$m$" "$work/metrics.txt" || { cat "$work/metrics.txt" >&2; fail "metrics: no '$m'"; }
done
echo "metrics ok"

# ---- the PACS page in Debian's chromium (tests/web/pacs.spec.mjs, Playwright) --------------------
[ -x /usr/bin/chromium ] || fail "/usr/bin/chromium is missing (scripts/apt-packages.txt lists it)"
web_out=${MEDANCHOR_WEB_OUT:-$work/web}
mkdir -p "$web_out"
# The second browser test sends series U itself while the page is open.
make_series U 403 1
(cd "$src" && MEDANCHOR_URL="$base" MEDANCHOR_TOKEN_AUDITOR="$auditor" MEDANCHOR_PACS_SERIES="$series" \
    MEDANCHOR_PACS_NEXT="$work/series/U/0.dcm" MEDANCHOR_DICOM_PORT="$dicom_port" \
    MEDANCHOR_WEB_OUT="$web_out" node_modules/.bin/playwright test -c tests/web/playwright.config.mjs tests/web/pacs.spec.mjs) ||
    fail "the browser tests (screenshots and traces in $web_out)"
for page in pacs pacs-series; do
    [ -s "$web_out/$page.png" ] || fail "no screenshot of the $page page"
done
echo "web ok"

# ---- SIGTERM: nothing spooled is lost -----------------------------------------------------------
make_series T 402 1
storescu -aet MODALITY -aec MEDANCHOR 127.0.0.1 "$dicom_port" "$work/series/T/0.dcm" || fail "storescu before SIGTERM"
kill -TERM "$server_pid"
code=0
wait "$server_pid" || code=$?
server_pid=
[ "$code" = 0 ] || fail "serve exited $code on SIGTERM"
ls "$work/data/pacs/spool"/*/*.dcm >/dev/null 2>&1 || fail "the instance stored before SIGTERM is not spooled"
start_server
t_done() { [ "$(get /api/pacs/series | /usr/bin/python3 -c 'import json,sys; print(sum(s["instances"]["analysed"] for s in json.load(sys.stdin)["series"]))')" = 5 ]; }
wait_for 90 "the spooled instance was not analysed after the restart: $(get /api/pacs/series)" t_done
echo "SIGTERM ok: the spooled instance analysed after the restart"
echo PASS
