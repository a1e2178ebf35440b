# Sourced by the serve tests: start_server starts `medanchor serve` in the background on
# $base's loopback port with --data "$data" and the arguments in $serve_args, sets server_pid,
# and waits (20 s at most) until /api/health answers, else fail()s.
# REQUIRES: $bin, $base (http://127.0.0.1:PORT), $data, $work, serve_args (an array), fail().
start_server() {
    "$bin" serve --listen "${base#http://}" --data "$data" "${serve_args[@]}" \
        >"$work/serve.out" 2>>"$work/serve.err" &
    server_pid=$!
    for _ in $(seq 1 100); do
        curl -sf "$base/api/health" >/dev/null 2>&1 && return 0
        sleep 0.2
    done
    fail "serve did not answer /api/health"
}
