# Sourced by the `medanchor listen` end-to-end tests (listen_e2e_test.sh, listen_failures_test.sh):
# one real Orthanc (Debian's, with its DICOMweb plugin) on free loopback ports, the listener
# started and stopped as a child, and the helpers both scripts use.
# REQUIRES: $bin (the medanchor binary), $work (a fresh folder), free_port (tests/http/
# chain_setup.sh), and before start_listen an array listen_common of the flags every start takes.
# Sets: o_http, o_dicom (Orthanc's ports), m_port (the port Orthanc knows medanchor at), orthanc
# (its REST root), ledger; start_orthanc/stop_orthanc, start_listen ARGS.../stop_listen.
listen_pid=
orthanc_pid=
# FAIL: prints MESSAGE and the end of the listener's log; KEEP_WORK=DIR keeps the scratch folder.
fail() { echo "FAIL: $*" >&2; [ -f "$work/listen.log" ] && tail -30 "$work/listen.log" >&2; [ -n "${KEEP_WORK:-}" ] && cp -r "$work" "$KEEP_WORK"; exit 1; }
stop_listen() { [ -n "$listen_pid" ] && kill "$listen_pid" 2>/dev/null && wait "$listen_pid" 2>/dev/null; listen_pid=; }
kill_listen() { kill -9 "$listen_pid"; wait "$listen_pid" 2>/dev/null || true; listen_pid=; }
stop_orthanc() { [ -n "$orthanc_pid" ] && kill "$orthanc_pid" 2>/dev/null && wait "$orthanc_pid" 2>/dev/null; orthanc_pid=; }

# wait_for, make_series, uid_of: shared with serve --listen-dicom's e2e.
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

ledger="$work/ledger.sqlite"
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
# How many SRs Orthanc holds (QIDO-RS: modality SR).
qido_sr_count() { curl -sf "$orthanc/dicom-web/instances?Modality=SR" | /usr/bin/python3 -c 'import json,sys; t=sys.stdin.read(); print(len(json.loads(t)) if t.strip() else 0)'; }
sr_count_at_least() { [ "$(qido_sr_count)" -ge "$1" ]; }
# Every SOP Instance UID the SR file FILE cites, sorted.
sr_refs() { dcmdump +P "0008,1155" "$1" | sed -e 's/.*\[\(.*\)\].*/\1/' | sort -u; }
