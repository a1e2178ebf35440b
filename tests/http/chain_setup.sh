# Sourced by tests/http/serve_e2e_test.sh and bench/http_confirm_bench.sh: a local chain on free
# ports with medical-analysis deployed, a verifier, the reference model registered and a verified
# radiologist, and a second one who reviews the first's analyses (Clarinet's public devnet
# accounts: admin.key, verifier.key, doctor.key, doctor2.key in $work).
# REQUIRES: $bin (the medanchor binary), $src (the source root), $work (a fresh folder).
# Sets: port, api_port, http_port, chain (devnet flags), node (--node flag), doctor and doctor2
# (addresses);
# chain_up starts and sets up the chain; chain_down stops it. On exit the server in $server_pid
# (if any) is stopped, the chain too, and $work removed.
# shellcheck source=tests/shell_support.sh
. "$(dirname "${BASH_SOURCE[0]}")/../shell_support.sh"
port=$(free_port)
api_port=$(free_port)
http_port=$(free_port)
chain=(--port "$port" --api-port "$api_port" --data "$work/chain")
node=(--node "http://127.0.0.1:$port")
address() { "$bin" keys show --key-file "$1" --json | sed -e 's/.*"address_testnet":"\([^"]*\)".*/\1/'; }
"$bin" keys devnet deployer --out "$work/admin.key" >/dev/null
"$bin" keys devnet wallet_1 --out "$work/verifier.key" >/dev/null
"$bin" keys devnet wallet_2 --out "$work/doctor.key" >/dev/null
"$bin" keys devnet wallet_3 --out "$work/doctor2.key" >/dev/null
doctor=$(address "$work/doctor.key")
doctor2=$(address "$work/doctor2.key")

chain_down() { "$bin" devnet stop "${chain[@]}" >/dev/null 2>&1 || true; }
server_pid=
cleanup() {
    [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
    chain_down
    rm -rf "$work"
}
trap cleanup EXIT
# Each step's failure is returned (set -e does not hold inside a function called with ||).
chain_up() {
    "$bin" devnet start "${chain[@]}" >/dev/null &&
        "$bin" deploy "${node[@]}" --key-file "$work/admin.key" >/dev/null &&
        "$bin" admin appoint-verifier "$(address "$work/verifier.key")" "${node[@]}" \
            --key-file "$work/admin.key" >/dev/null &&
        "$bin" admin register-model --bundle "$src/models/ct-nodule-sim" "${node[@]}" \
            --key-file "$work/admin.key" >/dev/null &&
        echo "licence record" >"$work/licence.txt" &&
        "$bin" professional register --credential-file "$work/licence.txt" --specialty radiology \
            "${node[@]}" --key-file "$work/doctor.key" >/dev/null &&
        "$bin" professional verify "$doctor" --expires-in 365 --reason 1 "${node[@]}" \
            --key-file "$work/verifier.key" >/dev/null 2>&1 &&
        "$bin" professional register --credential-file "$work/licence.txt" --specialty radiology \
            "${node[@]}" --key-file "$work/doctor2.key" >/dev/null &&
        "$bin" professional verify "$doctor2" --expires-in 365 --reason 1 "${node[@]}" \
            --key-file "$work/verifier.key" >/dev/null 2>&1
}
