#!/usr/bin/env bash
# The main job, end to end on the embedded defaults: a local chain on the real Clarity VM, the
# bundled reference model and the bundled simulated CT slices (samples/ct).
#
#   start the local chain -> deploy medical-analysis -> appoint a verifier -> register the model
#   -> a radiologist registers, the verifier verifies them -> analyse the sample images
#   (de-identify, keyed hash, infer, reports, ledger) -> anchor them in one batch -> verify each
#   image back against the chain and the local reports -> serve the results: `medanchor serve`
#   on the demo's data with a radiologist and an auditor account, until Ctrl-C (or SIGTERM),
#   then stop the chain. `--no-serve` ends after the verification instead.
#
# Installs what is missing and builds first. Everything it creates lives in .medanchor/demo
# (a fresh one per run): keys of Clarinet's public devnet accounts, a site key, the ledger, the
# reports. Its chain runs on its own port, so a local chain you started yourself is untouched.
#   MEDANCHOR_DEMO_PORT      node RPC port of the demo's chain (default 20543)
#   MEDANCHOR_DEMO_API_PORT  its API port (default 20544)
#   MEDANCHOR_DEMO_HTTP_PORT the web UI and API of `medanchor serve` (default 8080)
set -euo pipefail
serve=1
for arg in "$@"; do
    case "$arg" in
        --no-serve) serve=0 ;;
        *) echo "usage: bash scripts/demo.sh [--no-serve]" >&2; exit 2 ;;
    esac
done
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

bash scripts/bootstrap.sh >/dev/null
echo "== Building medanchor"
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$(nproc)" --target medanchor >/dev/null

m="$root/build/src/app/medanchor"
work="$root/.medanchor/demo"
port=${MEDANCHOR_DEMO_PORT:-20543}
api_port=${MEDANCHOR_DEMO_API_PORT:-20544}
node=(--node "http://127.0.0.1:$port")
chain=(--port "$port" --api-port "$api_port" --data "$work/chain")
"$m" devnet stop "${chain[@]}" >/dev/null 2>&1 || true
rm -rf "$work"
mkdir -p "$work"
# The demo runs on its own settings, whatever ~/.medanchor/medanchor.toml says (docs/config.md).
: >"$work/medanchor.toml"
export MEDANCHOR_CONFIG="$work/medanchor.toml"
trap '"$m" devnet stop "${chain[@]}" >/dev/null 2>&1 || true' EXIT

step() { printf '\n== %s\n' "$*"; }
address() { "$m" keys show --key-file "$1" --json | sed -e 's/.*"address_testnet":"\([^"]*\)".*/\1/'; }

step "1. Local chain (Stacks node RPC over the Clarity VM, loopback only)"
"$m" devnet start "${chain[@]}"

step "2. Keys: Clarinet's public devnet accounts (admin, verifier, radiologist); a site key"
"$m" keys devnet deployer --out "$work/admin.key" >/dev/null
"$m" keys devnet wallet_1 --out "$work/verifier.key" >/dev/null
"$m" keys devnet wallet_2 --out "$work/radiologist.key" >/dev/null
"$m" site-key new "$work/site.key" >/dev/null
verifier=$(address "$work/verifier.key")
radiologist=$(address "$work/radiologist.key")
echo "admin $(address "$work/admin.key"), verifier $verifier, radiologist $radiologist"

step "3. Deploy medical-analysis and set it up (admin)"
"$m" deploy "${node[@]}" --key-file "$work/admin.key"
"$m" admin appoint-verifier "$verifier" "${node[@]}" --key-file "$work/admin.key"
"$m" admin register-model --bundle models/ct-nodule-sim "${node[@]}" --key-file "$work/admin.key"

step "4. The radiologist registers (salted credential hash only); the verifier verifies them"
printf 'Demo licence record: Dr Demo, radiology, licence DEMO-0001\n' >"$work/licence.txt"
"$m" professional register --credential-file "$work/licence.txt" --specialty radiology \
    "${node[@]}" --key-file "$work/radiologist.key"
"$m" professional verify "$radiologist" --expires-in 365 --reason 1 "${node[@]}" --key-file "$work/verifier.key"

step "5. Analyse the bundled sample slices and anchor the results"
"$m" analyze samples/ct --saliency --out "$work/reports" --site-key "$work/site.key" \
    --ledger "$work/ledger.sqlite" "${node[@]}" --key-file "$work/radiologist.key"

step "6. Verify each image against the chain and the local reports"
"$m" verify samples/ct --site-key "$work/site.key" --ledger "$work/ledger.sqlite" "${node[@]}" || true

step "Done"
echo "Reports (JSON, FHIR, DICOM SR, saliency, de-identified copy): $work/reports"
echo "Ledger: $work/ledger.sqlite   (medanchor ledger list --ledger $work/ledger.sqlite)"
echo "Simulated images, not patient data; the model is not for clinical use."
[ "$serve" = 1 ] || exit 0

# The demo's folder is laid out as `serve --data` expects it (ledger.sqlite, site.key,
# reports/), so the UI shows the analyses above and anchors new uploads on the same chain.
http_port=${MEDANCHOR_DEMO_HTTP_PORT:-8080}
step "7. The web UI and the REST API on the demo's data (Ctrl-C stops it and the chain)"
# The tokens go to a private file, not the terminal.
(
    umask 077
    {
        printf 'radiologist (uploads): '
        "$m" users add radiologist --role radiologist --key-file "$work/radiologist.key" --data "$work" 2>/dev/null
        printf 'auditor (reads only):  '
        "$m" users add auditor --role auditor --data "$work" 2>/dev/null
    } >"$work/demo-tokens.txt"
)
echo "Open http://127.0.0.1:$http_port/ and sign in with a token from $work/demo-tokens.txt"
echo "(demo accounts of this run: cat the file, paste a token)"
"$m" serve --data "$work" --listen "127.0.0.1:$http_port" "${node[@]}" --api "http://127.0.0.1:$api_port"
