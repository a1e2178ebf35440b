#!/usr/bin/env bash
# End-to-end throughput of `medanchor analyze`: N simulated CT slices (default 200) decoded,
# de-identified, hashed, classified by the reference model, reported (JSON, FHIR, DICOM SR),
# recorded and anchored in batches of 50 on a local chain, at 1 and at 2 threads. Prints figures.
#   bash bench/e2e_bench.sh [N]          (after a build into build/)
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
m="$root/build/src/app/medanchor"
n=${1:-200}
work=$(mktemp -d)
port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
chain=(--port "$port" --data "$work/chain")
node=(--node "http://127.0.0.1:$port")
trap '"$m" devnet stop "${chain[@]}" >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
address() { "$m" keys show --key-file "$1" --json | sed -e 's/.*"address_testnet":"\([^"]*\)".*/\1/'; }

"$m" devnet start "${chain[@]}" >/dev/null
"$m" keys devnet deployer --out "$work/admin.key" >/dev/null
"$m" keys devnet wallet_1 --out "$work/verifier.key" >/dev/null
"$m" keys devnet wallet_2 --out "$work/doctor.key" >/dev/null
"$m" site-key new "$work/site.key" >/dev/null 2>&1
"$m" deploy "${node[@]}" --key-file "$work/admin.key" >/dev/null
"$m" admin appoint-verifier "$(address "$work/verifier.key")" "${node[@]}" --key-file "$work/admin.key" >/dev/null
"$m" admin register-model --bundle "$root/models/ct-nodule-sim" "${node[@]}" --key-file "$work/admin.key" >/dev/null
echo "licence" >"$work/licence.txt"
"$m" professional register --credential-file "$work/licence.txt" --specialty radiology "${node[@]}" \
    --key-file "$work/doctor.key" >/dev/null
"$m" professional verify "$(address "$work/doctor.key")" --expires-in 365 "${node[@]}" \
    --key-file "$work/verifier.key" >/dev/null
"$m" simulate --out "$work/images" --seed 2024 --count "$n" >/dev/null

echo "medanchor analyze, $n simulated CT slices (256x256), reference model, anchored in batches of 50"
echo "$(nproc) CPU(s): $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2-)"
for threads in 1 2; do
    start=$(date +%s.%N)
    "$m" analyze "$work/images" --threads "$threads" --site-key "$work/site.key" \
        --ledger "$work/ledger-$threads.sqlite" --out "$work/reports-$threads" "${node[@]}" \
        --key-file "$work/doctor.key" >"$work/analyze-$threads.txt"
    end=$(date +%s.%N)
    summary=$(grep '^anchoring:' "$work/analyze-$threads.txt")
    awk -v s="$start" -v e="$end" -v n="$n" -v t="$threads" -v sum="$summary" \
        'BEGIN { printf "threads %d: %.1f s, %.1f analyses/s, %.1f ms per analysis  [%s]\n", t, e - s, n / (e - s), 1000 * (e - s) / n, sum }'
done
