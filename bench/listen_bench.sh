#!/usr/bin/env bash
# `medanchor listen` throughput and latency against a real Orthanc (issue 13's benchmark). Records
# only (--no-anchor): anchoring latency has its own benchmark (bench/e2e_bench.sh). Never run by
# CTest. After a build into build/:
#   bash bench/listen_bench.sh [N]        series mode: N simulated CT slices (default 60) as three
#       series, sent (a) by one storescu association, then (b) by three storescu at once, one
#       series each, to a fresh listener each time, which analyses each series once it has been
#       quiet for --stable-after (1 s) and sends its SR back to Orthanc by C-STORE. Prints
#       instances/s received (the associations) and received and analysed (first byte to the
#       last SR found in Orthanc by QIDO-RS).
#   bash bench/listen_bench.sh --per-instance [N]   real-time latency: N slices (default 200), each
#       its own series, sent one at a time to a listener with --per-instance; for each, the time
#       from the end of its C-STORE (storescu returned) to its SR found in Orthanc by QIDO-RS
#       (polled every 20 ms, which bounds the resolution). Prints p50, p95 and the maximum.
#   bash bench/listen_bench.sh --anchor [N]   anchoring latency: the local chain (block interval
#       1 s, its default) with the contract, model and a verified radiologist set up as the tests
#       do (tests/app/chain_setup.sh); one series of N slices (default 30) to a listener that
#       anchors (records mode); from the SR found in Orthanc (every analysis recorded) to every
#       analysis `confirmed` or held for review in the ledger (polled every 100 ms).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
m=${MEDANCHOR_BIN:-$root/build/src/app/medanchor}  # another binary to compare: MEDANCHOR_BIN=...
mode=series
case "${1:-}" in --per-instance) mode=per-instance; shift ;; --anchor) mode=anchor; shift ;; esac
case $mode in series) n=${1:-60} ;; per-instance) n=${1:-200} ;; anchor) n=${1:-30} ;; esac
work=$(mktemp -d)
free_port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
o_http=$(free_port); o_dicom=$(free_port); m_port=$(free_port)
orthanc="http://127.0.0.1:$o_http"
pids=()
listen_pid=
chain_up=
trap 'for p in "${pids[@]}" $listen_pid; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
      [ -n "$chain_up" ] && "$m" devnet stop "${chain[@]}" >/dev/null 2>&1; rm -rf "$work"' EXIT
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
run=0
# A fresh listener (its own data folder and ledger) with the given extra options (records only
# unless they name a key file).
start_listen() {
    run=$((run + 1))
    local who=(--no-anchor --analyst ST2CY5V39NHDPWSXMW9QDT3HC3GD6Q6XX4CFRK9AG)
    [[ " $* " == *" --key-file "* ]] && who=()
    "$m" listen --port "$m_port" --data "$work/listen$run" --ledger "$work/ledger$run.sqlite" \
        --site-key "$work/site.key" "${who[@]}" --send-to "ORTHANC@127.0.0.1:$o_dicom" "$@" >"$work/listen$run.log" 2>&1 &
    listen_pid=$!
    until echoscu -aec MEDANCHOR 127.0.0.1 "$m_port" 2>/dev/null; do sleep 0.2; done
}
stop_listen() { kill "$listen_pid"; wait "$listen_pid" 2>/dev/null || true; listen_pid=; }
now() { date +%s.%N; }
srs() { curl -sf "$orthanc/dicom-web/instances?Modality=SR" | /usr/bin/python3 -c 'import json,sys; t=sys.stdin.read(); print(len(json.loads(t)) if t.strip() else 0)'; }
echo "medanchor listen benchmark: $(nproc) cores, $(git -C "$root" rev-parse --short HEAD), $(date -u +%FT%TZ)"

if [ $mode = anchor ]; then
    bin=$m src=$root
    fail() { echo "listen_bench: $*" >&2; exit 1; }
    port=$(free_port); api_port=$(free_port)
    chain=(--port "$port" --api-port "$api_port" --data "$work/chain")
    node=(--node "http://127.0.0.1:$port" --api "http://127.0.0.1:$api_port")
    source "$root/tests/app/chain_setup.sh"
    chain_up=1
    start_chain_with_radiologist
    study="1.2.826.0.1.3680043.10.543.78.$RANDOM"
    dcmodify -nb -m "(0010,0020)=BENCH" -m "(0020,000d)=$study" -m "(0020,000e)=$study.1" "$work/sim"/*.dcm
    start_listen --stable-after 1 --key-file "$work/doctor.key" "${node[@]}"
    storescu -aec MEDANCHOR 127.0.0.1 "$m_port" "$work/sim"/*.dcm
    until [ "$(srs)" -ge 1 ]; do sleep 0.05; done
    t1=$(now)
    settled() { [ "$(sqlite3 "$work/ledger$run.sqlite" "SELECT count(*) FROM analyses WHERE state IN ('confirmed', 'needs_review')")" = "$n" ]; }
    until settled; do sleep 0.1; done
    t2=$(now)
    confirmed=$(sqlite3 "$work/ledger$run.sqlite" "SELECT count(*) FROM analyses WHERE state = 'confirmed'")
    txs=$(sqlite3 "$work/ledger$run.sqlite" "SELECT count(DISTINCT txid) FROM analyses WHERE state = 'confirmed'")
    stop_listen
    /usr/bin/python3 - "$n" "$t1" "$t2" "$confirmed" "$txs" <<'PY'
import sys
n, t1, t2 = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3])
print(f"{n} slices, one series, anchoring on the local chain (block interval 1 s)")
print(f"SR in Orthanc to every analysis settled: {t2 - t1:.2f} s "
      f"({sys.argv[4]} confirmed in {sys.argv[5]} transaction(s), the rest held for review)")
PY
    exit 0
fi

if [ $mode = per-instance ]; then
    # Each slice its own study and series (simulate makes each slice its own already).
    start_listen --per-instance
    : >"$work/latency.txt"
    i=0
    for f in "$work/sim"/*.dcm; do
        i=$((i + 1))
        storescu -aec MEDANCHOR 127.0.0.1 "$m_port" "$f"
        t1=$(now)
        until [ "$(srs)" -ge "$i" ]; do sleep 0.02; done
        echo "$(now) $t1" >>"$work/latency.txt"
    done
    stop_listen
    /usr/bin/python3 - "$work/latency.txt" <<'PY'
import statistics, sys
lat = sorted(float(a) - float(b) for a, b in (l.split() for l in open(sys.argv[1])))
q = statistics.quantiles(lat, n=100, method="inclusive")
print(f"{len(lat)} slices one at a time, --per-instance: end of C-STORE to SR found in Orthanc")
print(f"p50 {q[49]:.3f} s, p95 {q[94]:.3f} s, max {lat[-1]:.3f} s")
PY
    exit 0
fi

# Three series of n/3 slices each (the rest in the last).
mkdir -p "$work/s1" "$work/s2" "$work/s3"
k=0
for f in "$work/sim"/*.dcm; do
    s=$((k * 3 / n + 1)); mv "$f" "$work/s$s/"; k=$((k + 1))
done
for s in 1 2 3; do
    study="1.2.826.0.1.3680043.10.543.77.$s$RANDOM"
    dcmodify -nb -m "(0010,0020)=BENCH$s" -m "(0020,000d)=$study" -m "(0020,000e)=$study.1" "$work/s$s"/*.dcm
done
before=0
measure() {  # LABEL SENDERS
    start_listen --stable-after 1
    local t0 t1 t2
    t0=$(now)
    if [ "$2" = 1 ]; then
        storescu -aec MEDANCHOR 127.0.0.1 "$m_port" "$work"/s{1,2,3}/*.dcm
    else
        local senders=() p
        for s in 1 2 3; do storescu -aec MEDANCHOR 127.0.0.1 "$m_port" "$work/s$s"/*.dcm & senders+=($!); done
        for p in "${senders[@]}"; do wait "$p"; done
    fi
    t1=$(now)
    until [ "$(srs)" -ge $((before + 3)) ]; do sleep 0.05; done
    t2=$(now)
    before=$((before + 3))
    stop_listen
    /usr/bin/python3 - "$n" "$t0" "$t1" "$t2" "$1" <<'PY'
import sys
n, t0, t1, t2 = int(sys.argv[1]), *map(float, sys.argv[2:5])
print(f"{sys.argv[5]}: received {n / (t1 - t0):.1f} instances/s ({t1 - t0:.2f} s); "
      f"received and analysed, 3 SRs in Orthanc: {n / (t2 - t0):.1f} instances/s ({t2 - t0:.2f} s)")
PY
}
echo "$n instances in three series, stable-after 1 s"
measure "1 sender (one association)" 1
measure "3 senders at once" 3
