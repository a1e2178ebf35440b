#!/usr/bin/env bash
# `medanchor listen` throughput and latency against a real Orthanc: N simulated CT slices (one
# series, default 60) sent by storescu straight to the listener, which analyses the series once
# it has been quiet for --stable-after (1 s here) and sends its SR back to Orthanc by C-STORE.
# Prints: instances/s received (storescu's whole association), instances/s received and analysed
# (first byte to the SR's arrival), and the time from the last instance to the SR found in
# Orthanc by QIDO-RS (of which --stable-after is 1 s). Records only (--no-anchor): anchoring has
# its own benchmarks. Never run by CTest.
#   bash bench/listen_bench.sh [N]          (after a build into build/)
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
m="$root/build/src/app/medanchor"
n=${1:-60}
work=$(mktemp -d)
free_port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
o_http=$(free_port); o_dicom=$(free_port); m_port=$(free_port)
orthanc="http://127.0.0.1:$o_http"
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done; rm -rf "$work"' EXIT
cat >"$work/cfg.json" <<JSON
{ "Name": "bench", "StorageDirectory": "$work/db", "IndexDirectory": "$work/db",
  "HttpPort": $o_http, "DicomPort": $o_dicom, "DicomAet": "ORTHANC", "RemoteAccessAllowed": false,
  "AuthenticationEnabled": false, "Plugins": ["/usr/share/orthanc/plugins/libOrthancDicomWeb.so"],
  "DicomWeb": { "Enable": true, "Root": "/dicom-web/" },
  "DicomModalities": { "medanchor": ["MEDANCHOR", "127.0.0.1", $m_port] },
  "DicomAlwaysAllowStore": false, "DicomCheckModalityHost": true }
JSON
Orthanc "$work/cfg.json" >"$work/orthanc.log" 2>&1 & pids+=($!)
until curl -sf "$orthanc/system" >/dev/null; do sleep 0.2; done
"$m" site-key new "$work/site.key" >/dev/null 2>&1
"$m" simulate --out "$work/sim" --seed 77 --count "$n" >/dev/null
study="1.2.826.0.1.3680043.10.543.77.$RANDOM"
dcmodify -nb -m "(0010,0020)=BENCH" -m "(0020,000d)=$study" -m "(0020,000e)=$study.1" "$work/sim"/*.dcm
"$m" listen --port "$m_port" --data "$work/listen" --ledger "$work/ledger.sqlite" \
    --site-key "$work/site.key" --no-anchor --analyst ST2CY5V39NHDPWSXMW9QDT3HC3GD6Q6XX4CFRK9AG \
    --stable-after 1 --send-to "ORTHANC@127.0.0.1:$o_dicom" >"$work/listen.log" 2>&1 & pids+=($!)
until echoscu -aec MEDANCHOR 127.0.0.1 "$m_port" 2>/dev/null; do sleep 0.2; done
now() { date +%s.%N; }
srs() { curl -sf "$orthanc/dicom-web/instances?Modality=SR" | /usr/bin/python3 -c 'import json,sys; t=sys.stdin.read(); print(len(json.loads(t)) if t.strip() else 0)'; }
t0=$(now)
storescu -aec MEDANCHOR 127.0.0.1 "$m_port" "$work/sim"/*.dcm
t1=$(now)
until [ "$(srs)" -ge 1 ]; do sleep 0.05; done
t2=$(now)
/usr/bin/python3 - "$n" "$t0" "$t1" "$t2" <<'PY'
import sys
n, t0, t1, t2 = int(sys.argv[1]), *map(float, sys.argv[2:])
print(f"{n} instances, one series, stable-after 1 s")
print(f"received (one storescu association): {n / (t1 - t0):.1f} instances/s ({t1 - t0:.2f} s)")
print(f"received and analysed, SR in Orthanc: {n / (t2 - t0):.1f} instances/s ({t2 - t0:.2f} s)")
print(f"last instance to SR found in Orthanc: {t2 - t1:.2f} s (stable-after 1 s included)")
PY
