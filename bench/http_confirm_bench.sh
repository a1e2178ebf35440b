#!/usr/bin/env bash
# Time from upload to "confirmed" through `medanchor serve` on the local chain with its default
# block interval (1 s): for each round, one CT slice never seen before is uploaded, and the job's
# event stream is read until it ends (every analysis confirmed or held). Prints each round and
# the median; never run by CTest.
# Usage: bench/http_confirm_bench.sh BUILD_DIR [ROUNDS]
set -euo pipefail
bin=$1/src/app/medanchor
rounds=${2:-10}
src=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
work=$(mktemp -d)
free_port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
port=$(free_port) api_port=$(free_port) http_port=$(free_port)
chain=(--port "$port" --api-port "$api_port" --data "$work/chain")
node=(--node "http://127.0.0.1:$port")
server_pid=
cleanup() {
    [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
    "$bin" devnet stop "${chain[@]}" >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT
address() { "$bin" keys show --key-file "$1" --json | sed -e 's/.*"address_testnet":"\([^"]*\)".*/\1/'; }
"$bin" keys devnet deployer --out "$work/admin.key" >/dev/null
"$bin" keys devnet wallet_1 --out "$work/verifier.key" >/dev/null
"$bin" keys devnet wallet_2 --out "$work/doctor.key" >/dev/null
"$bin" devnet start "${chain[@]}" >/dev/null
"$bin" deploy "${node[@]}" --key-file "$work/admin.key" >/dev/null
"$bin" admin appoint-verifier "$(address "$work/verifier.key")" "${node[@]}" --key-file "$work/admin.key" >/dev/null
"$bin" admin register-model --bundle "$src/models/ct-nodule-sim" "${node[@]}" --key-file "$work/admin.key" >/dev/null
echo "licence" >"$work/licence.txt"
"$bin" professional register --credential-file "$work/licence.txt" --specialty radiology "${node[@]}" \
    --key-file "$work/doctor.key" >/dev/null
"$bin" professional verify "$(address "$work/doctor.key")" --expires-in 365 --reason 1 "${node[@]}" \
    --key-file "$work/verifier.key" >/dev/null 2>&1
token=$("$bin" users add doc --role radiologist --key-file "$work/doctor.key" --data "$work/data" 2>/dev/null)
"$bin" simulate --out "$work/images" --seed 11 --count "$rounds" >/dev/null
"$bin" serve --listen "127.0.0.1:$http_port" --data "$work/data" "${node[@]}" \
    --api "http://127.0.0.1:$api_port" >/dev/null 2>&1 &
server_pid=$!
until curl -sf "http://127.0.0.1:$http_port/api/health" >/dev/null 2>&1; do sleep 0.2; done

times=()
for f in "$work"/images/*.dcm; do
    start=$(date +%s.%N)
    job=$(curl -sf -H "Authorization: Bearer $token" -F "file=@$f" "http://127.0.0.1:$http_port/api/jobs" |
        sed -e 's/.*"id":"\([0-9a-f]*\)".*/\1/')
    last=$(curl -sN -H "Authorization: Bearer $token" "http://127.0.0.1:$http_port/api/jobs/$job/events" |
        grep '^data: ' | tail -1)
    end=$(date +%s.%N)
    state=$(grep -o '"anchoring":"[a-z_]*"' <<<"$last" | cut -d'"' -f4)
    t=$(/usr/bin/python3 -c "print(f'{$end - $start:.2f}')")
    echo "$(basename "$f"): $state after $t s"
    [ "$state" = confirmed ] && times+=("$t")
done
/usr/bin/python3 -c "import statistics,sys; v=[float(x) for x in sys.argv[1:]]; print(f'upload to confirmed, {len(v)} slices: median {statistics.median(v):.2f} s, min {min(v):.2f} s, max {max(v):.2f} s')" "${times[@]}"
