#!/usr/bin/env bash
# The main job end to end through the real binary on a real local chain (issue 6's tests):
#   - set-up as an operator does it (deploy, verifier, model from its bundle, a verified radiologist);
#   - analyse a folder with the chain down: every analysis is recorded and stays pending;
#   - start the chain, `sync`: every analysis anchored exactly once (one per image on chain), and a
#     second sync sends nothing;
#   - verify: the untouched images are found with matching local reports; a copy with one pixel
#     changed is not found (exit 3);
#   - the reports: FHIR validates against the R4 schema, the DICOM SR is read by dsrdump;
#   - a suspended radiologist's new analysis is refused with the contract's error named.
# Usage: analyze_e2e_test.sh MEDANCHOR_BINARY SOURCE_DIR
set -euo pipefail
bin=$1
src=$2
work=$(mktemp -d)
free_port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
port=$(free_port)
api_port=$(free_port)
chain=(--port "$port" --api-port "$api_port" --data "$work/chain")
node=(--node "http://127.0.0.1:$port")
cleanup() { "$bin" devnet stop "${chain[@]}" >/dev/null 2>&1 || true; rm -rf "$work"; }
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
address() { "$bin" keys show --key-file "$1" --json | sed -e 's/.*"address_testnet":"\([^"]*\)".*/\1/'; }
count_json() { grep -c "$1" || true; }

export MEDANCHOR_LEDGER="$work/ledger.sqlite"
export MEDANCHOR_SITE_KEY_FILE="$work/site.key"
"$bin" site-key new "$work/site.key" >/dev/null
"$bin" keys devnet deployer --out "$work/admin.key" >/dev/null
"$bin" keys devnet wallet_1 --out "$work/verifier.key" >/dev/null
"$bin" keys devnet wallet_2 --out "$work/doctor.key" >/dev/null
verifier=$(address "$work/verifier.key")
doctor=$(address "$work/doctor.key")

# Four simulated slices and a one-pixel-modified copy of the first (kept outside the folder).
"$bin" simulate --out "$work/images" --seed 9 --count 4 >/dev/null
/usr/bin/python3 - "$work/images/ctsim-9-00000.dcm" "$work/modified.dcm" <<'EOF'
import sys, pydicom
ds = pydicom.dcmread(sys.argv[1])
data = bytearray(ds.PixelData)
data[2 * (128 * 256 + 128)] ^= 1  # one pixel in the middle, one grey level
ds.PixelData = bytes(data)
ds.save_as(sys.argv[2])
EOF

"$bin" devnet start "${chain[@]}" >/dev/null || fail "devnet start"
"$bin" deploy "${node[@]}" --key-file "$work/admin.key" >/dev/null || fail "deploy"
"$bin" admin appoint-verifier "$verifier" "${node[@]}" --key-file "$work/admin.key" >/dev/null
"$bin" admin register-model --bundle "$src/models/ct-nodule-sim" "${node[@]}" --key-file "$work/admin.key" \
    >/dev/null || fail "register-model --bundle"
echo "licence record" >"$work/licence.txt"
"$bin" professional register --credential-file "$work/licence.txt" --specialty radiology "${node[@]}" \
    --key-file "$work/doctor.key" >/dev/null || fail "professional register"
"$bin" professional verify "$doctor" --expires-in 365 --reason 1 "${node[@]}" --key-file "$work/verifier.key" \
    >/dev/null || fail "professional verify"
# The model must not send anything below threshold; lower the bar so every slice is anchorable.
"$bin" admin set-min-confidence 0 "${node[@]}" --key-file "$work/admin.key" >/dev/null

# Analyse with the chain down: recorded, nothing anchored, nothing lost.
"$bin" devnet stop "${chain[@]}" >/dev/null
set +e
out=$("$bin" analyze "$work/images" --no-anchor --out "$work/reports" "${node[@]}" --key-file "$work/doctor.key" 2>&1)
rc=$?
set -e
[ "$rc" = 0 ] || fail "analyze --no-anchor with the chain down: exit $rc: $out"
grep -q "skipped" <<<"$out" || fail "truth.csv should be skipped: $out"
set +e
out=$("$bin" sync "${node[@]}" --key-file "$work/doctor.key" 2>&1)
rc=$?
set -e
[ "$rc" = 9 ] || fail "sync with the chain down should be a network error (9), got $rc: $out"

"$bin" devnet start "${chain[@]}" >/dev/null || fail "devnet restart"
"$bin" sync "${node[@]}" --key-file "$work/doctor.key" >"$work/sync1.txt" 2>&1 || fail "sync: $(cat "$work/sync1.txt")"
"$bin" sync "${node[@]}" --key-file "$work/doctor.key" --json >"$work/sync2.txt" 2>&1 || fail "second sync"

# Exactly once: each image has one analysis on chain, and its local report matches.
"$bin" verify "$work/images" "${node[@]}" --json >"$work/verify.jsonl" || fail "verify: $(cat "$work/verify.jsonl")"
[ "$(count_json '"total":1,' <"$work/verify.jsonl")" = 4 ] || fail "every image anchored once: $(cat "$work/verify.jsonl")"
[ "$(count_json 'local report matches' <"$work/verify.jsonl")" = 4 ] || fail "local reports match: $(cat "$work/verify.jsonl")"
set +e
"$bin" verify "$work/modified.dcm" "${node[@]}" >"$work/verify-mod.txt" 2>&1
rc=$?
set -e
[ "$rc" = 3 ] || fail "a one-pixel change must find nothing (exit 3), got $rc: $(cat "$work/verify-mod.txt")"

# The reports: FHIR against the R4 schema fragment, the SR through dsrdump.
fhir=$(find "$work/reports" -name report.fhir.json -print -quit)
sr=$(find "$work/reports" -name report.sr.dcm -print -quit)
[ -n "$fhir" ] && [ -n "$sr" ] || fail "reports missing"
/usr/bin/python3 "$src/tests/report/fhir/validate.py" "$src/tests/report/fhir/fhir-r4-fragment.schema.json" "$fhir" >/dev/null || fail "FHIR does not validate"
# (grep -q on a pipe would close it early and, under pipefail, fail on dsrdump's SIGPIPE.)
dump=$(dsrdump "$sr" 2>/dev/null) || fail "dsrdump cannot read the SR"
grep -q "ct-nodule-sim" <<<"$dump" || fail "the SR does not name the model: $dump"

# Suspension: the next analysis is refused and the contract's error is named.
"$bin" professional suspend "$doctor" --reason 2 "${node[@]}" --key-file "$work/verifier.key" >/dev/null \
    || fail "professional suspend"
mkdir -p "$work/more"
cp "$src/samples/ct/ctsim-42-00003.dcm" "$work/more/"  # 99.9 %: well above every threshold
set +e
out=$("$bin" analyze "$work/more" --out "$work/reports" "${node[@]}" --key-file "$work/doctor.key" 2>&1)
rc=$?
set -e
[ "$rc" != 0 ] || fail "a suspended professional's analysis was accepted: $out"
grep -q "ERR-SUSPENDED" <<<"$out" || fail "contract error not named: $out"
echo "analyze end to end: ok"
