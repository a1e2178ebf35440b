#!/usr/bin/env bash
# Time from upload to "confirmed" through `medanchor serve` on the local chain with its default
# block interval (1 s): for each round, one CT slice never seen before is uploaded, and the job's
# event stream is read until it ends (every analysis confirmed or held). Prints each round and
# the median; never run by CTest. Then, against the same server and chain, verify-by-hash of one
# confirmed slice at 1, 8 and 64 clients (BUILD_DIR/bench/medanchor_bench_http, VERIFY_REQUESTS
# per level, default 300).
# Usage: bench/http_confirm_bench.sh BUILD_DIR [ROUNDS]
set -euo pipefail
bin=$1/src/app/medanchor
rounds=${2:-10}
src=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
work=$(mktemp -d)
source "$src/tests/http/chain_setup.sh"
chain_up
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
    [ "$state" = confirmed ] && times+=("$t") && confirmed_job=$job
done
/usr/bin/python3 -c "import statistics,sys; v=[float(x) for x in sys.argv[1:]]; print(f'upload to confirmed, {len(v)} slices: median {statistics.median(v):.2f} s, min {min(v):.2f} s, max {max(v):.2f} s')" "${times[@]}"

id=$(curl -sf -H "Authorization: Bearer $token" "http://127.0.0.1:$http_port/api/jobs/$confirmed_job" |
    grep -o '"analysis_id":[0-9]*' | head -1 | cut -d: -f2)
hash=$(curl -sf -H "Authorization: Bearer $token" "http://127.0.0.1:$http_port/api/analyses/$id" |
    sed -e 's/.*"image_hash":"\([^"]*\)".*/\1/')
MEDANCHOR_BENCH_PORT=$http_port MEDANCHOR_BENCH_TOKEN=$token MEDANCHOR_BENCH_HASH=$hash \
    "$1/bench/medanchor_bench_http" "${VERIFY_REQUESTS:-300}"
