#!/usr/bin/env bash
# Merkle anchor mode end to end through the real binary on a real local chain (issue 14):
#   - analyze --anchor-mode merkle with a root not yet due: recorded, nothing anchored, exit 20;
#   - sync --anchor-mode merkle anchors what waits in one root; each report folder gets
#     anchor.proof.json; a second sync sends nothing;
#   - verify IMAGE --proof FILE with only the image, the site key and the node (no ledger): valid
#     (0); --proof alone (the image hash from the leaf): valid; verify IMAGE without --proof finds
#     the proof beside its report through the ledger; without ledger or proof it says the proof is
#     needed and where the site keeps it (3);
#   - a proof with one sibling changed, or with a changed confidence: 3; a proof that holds for a
#     root never anchored (leaf 0 alone, its own root): 3; a report beside the proof that differs
#     from the anchored digest: 5; a file that is not a proof: 14;
#   - review --proof by a colleague (confirmed; a proof that does not hold is refused, 12) and
#     retract --proof by the analyst, after which verify says disputed (15).
# Usage: merkle_e2e_test.sh MEDANCHOR_BINARY SOURCE_DIR
set -euo pipefail
bin=$1
src=$2
work=$(mktemp -d)
# shellcheck source=tests/shell_support.sh
. "$(dirname "${BASH_SOURCE[0]}")/../shell_support.sh"
port=$(free_port)
api_port=$(free_port)
chain=(--port "$port" --api-port "$api_port" --data "$work/chain")
node=(--node "http://127.0.0.1:$port")
cleanup() { "$bin" devnet stop "${chain[@]}" >/dev/null 2>&1 || true; rm -rf "$work"; }
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
# shellcheck source=tests/app/chain_setup.sh
. "$(dirname "$0")/chain_setup.sh"
# run EXPECTED_RC DESCRIPTION COMMAND...: the command's output in $out.
expect() {
    local want=$1 what=$2
    shift 2
    set +e
    out=$("$@" 2>&1)
    local rc=$?
    set -e
    [ "$rc" = "$want" ] || fail "$what: expected exit $want, got $rc: $out"
}

export MEDANCHOR_LEDGER="$work/ledger.sqlite"
export MEDANCHOR_SITE_KEY_FILE="$work/site.key"
"$bin" site-key new "$work/site.key" >/dev/null
"$bin" simulate --out "$work/images" --seed 21 --count 3 >/dev/null

start_chain_with_radiologist

# Merkle mode, a root due only after an hour: recorded, waiting for its root, exit 20.
expect 20 "analyze, root not due" "$bin" analyze "$work/images" --out "$work/reports" "${node[@]}" \
    --key-file "$work/doctor.key" --anchor-mode merkle --root-every 3600
grep -q "waiting for their root" <<<"$out" || fail "the summary says analyses wait for their root: $out"
waiting=$("$bin" ledger list --state pending | wc -l)
[ "$waiting" -ge 2 ] || fail "at least two analyses wait: $("$bin" ledger list)"
ls "$work"/reports/*/anchor.proof.json >/dev/null 2>&1 && fail "no proof before the root is anchored"

# sync anchors what waits now, in one root, and writes a proof beside each report.
"$bin" sync --anchor-mode merkle "${node[@]}" --key-file "$work/doctor.key" --json >"$work/sync1.json" 2>&1 ||
    fail "sync: $(cat "$work/sync1.json")"
grep -q '"roots":1,' "$work/sync1.json" || fail "one root: $(cat "$work/sync1.json")"
grep -q "\"proofs\":$waiting," "$work/sync1.json" || fail "a proof per analysis: $(cat "$work/sync1.json")"
"$bin" sync --anchor-mode merkle "${node[@]}" --key-file "$work/doctor.key" --json >"$work/sync2.json" 2>&1
grep -q '"sent":0,' "$work/sync2.json" || fail "a second sync sends nothing: $(cat "$work/sync2.json")"
[ "$("$bin" ledger list --state confirmed | wc -l)" = "$waiting" ] || fail "all confirmed: $("$bin" ledger list)"

# The proofs of leaves 0 and 1, and the images they prove (found by their keyed hash).
proof_of_index() { grep -l "\"index\": $1," "$work"/reports/*/anchor.proof.json | head -1; }
p0=$(proof_of_index 0)
p1=$(proof_of_index 1)
[ -n "$p0" ] && [ -n "$p1" ] || fail "proofs of leaves 0 and 1: $(ls "$work"/reports/*)"
image_of() {
    local hash
    hash=$(/usr/bin/python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["leaf"]["image_hash"])' "$1")
    for f in "$work"/images/*.dcm; do
        if "$bin" hash "$f" --json 2>/dev/null | grep -q "$hash"; then echo "$f"; return; fi
    done
}
i0=$(image_of "$p0")
[ -n "$i0" ] || fail "the image of leaf 0"

# Handed over: the image, the site key and the node; no ledger.
export MEDANCHOR_LEDGER="$work/no-ledger.sqlite"
expect 0 "verify --proof without the ledger" "$bin" verify "$i0" --proof "$p0" "${node[@]}"
grep -q "VERIFIED" <<<"$out" || fail "verified: $out"
grep -q "of Merkle root #1" <<<"$out" || fail "the root is named: $out"
expect 0 "verify --proof alone" "$bin" verify --proof "$p0" "${node[@]}" --json
grep -q '"verdict":"valid"' <<<"$out" || fail "valid: $out"
grep -q "no image given" <<<"$out" || fail "--proof alone says no image was checked: $out"
[ -e "$work/no-ledger.sqlite" ] && fail "verify made a ledger"
expect 3 "verify without ledger or proof" "$bin" verify "$i0" "${node[@]}"
grep -q "anchor.proof.json" <<<"$out" || fail "the proof file is named: $out"
grep -q "\-\-proof" <<<"$out" || fail "--proof is named: $out"
export MEDANCHOR_LEDGER="$work/ledger.sqlite"
expect 0 "verify finds the proof beside the report" "$bin" verify "$i0" "${node[@]}"
grep -q "$p0" <<<"$out" || fail "the local proof is used: $out"

# Altered proofs (outside the report folder: the folders are the site's, written once).
alter() { # alter PROOF OUT PYTHON-STATEMENT (p is the proof's JSON)
    /usr/bin/python3 - "$1" "$2" "$3" <<'EOF'
import json, sys
p = json.load(open(sys.argv[1]))
exec(sys.argv[3])
json.dump(p, open(sys.argv[2], "w"), indent=2)
EOF
}
alter "$p0" "$work/sibling.json" 'p["path"][0] = ("0" if p["path"][0][0] != "0" else "1") + p["path"][0][1:]'
expect 3 "one sibling changed" "$bin" verify "$i0" --proof "$work/sibling.json" "${node[@]}"
grep -q "DOES NOT HOLD" <<<"$out" || fail "the proof does not hold: $out"
alter "$p0" "$work/confidence.json" 'p["leaf"]["confidence"] = str(int(p["leaf"]["confidence"]) + 1)'
expect 3 "a changed confidence" "$bin" verify "$i0" --proof "$work/confidence.json" "${node[@]}"
# Leaf 1's first sibling is leaf 0's hash: leaf 0 alone is a one-leaf tree whose root it is. The
# proof holds, but nobody anchored that root.
sibling=$(/usr/bin/python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["path"][0])' "$p1")
alter "$p0" "$work/unanchored.json" "p['size'] = 1; p['path'] = []; p['root'] = '$sibling'"
expect 3 "a root never anchored" "$bin" verify "$i0" --proof "$work/unanchored.json" "${node[@]}"
grep -q "ERR-UNKNOWN-ROOT" <<<"$out" || fail "the contract's refusal is named: $out"
grep -q "path leads from the leaf to its root\|path leads from the leaf to root" <<<"$out" || fail "the proof itself held: $out"
# A report beside a proof that differs from the anchored digest.
mkdir "$work/handed"
cp "$p0" "$work/handed/anchor.proof.json"
cp "$(dirname "$p0")/report.json" "$work/handed/report.json"
sed -i 's/"schema"/"schema" /' "$work/handed/report.json"
expect 5 "a report beside the proof that differs" "$bin" verify "$i0" --proof "$work/handed/anchor.proof.json" "${node[@]}"
echo '{"format": "medanchor-merkle-proof/1"}' >"$work/broken.json"
expect 14 "not a proof" "$bin" verify "$i0" --proof "$work/broken.json" "${node[@]}"
grep -q "broken.json" <<<"$out" || fail "the file is named: $out"
head -c 20000 /dev/zero | tr '\0' ' ' >"$work/big.json"
expect 7 "a proof file over 16 KiB" "$bin" verify "$i0" --proof "$work/big.json" "${node[@]}"
mkfifo "$work/fifo.json"
expect 2 "a FIFO as proof file (read without waiting)" "$bin" verify "$i0" --proof "$work/fifo.json" "${node[@]}"
# A proof naming another contract is checked where verify asks, and says so.
alter "$p0" "$work/elsewhere.json" "p['anchor']['contract'] = '$doctor.medical-analysis'"
expect 0 "a proof naming another contract" "$bin" verify "$i0" --proof "$work/elsewhere.json" "${node[@]}"
grep -q "the proof names devnet contract $doctor.medical-analysis; checked on devnet" <<<"$out" \
    || fail "the other contract is said: $out"

# Review and retraction of a leaf from the CLI, with its proof. A colleague confirms leaf 1; a
# review with a proof that does not hold is refused by the contract (12) and changes nothing;
# the analyst retracts leaf 0, which verify then calls disputed (15).
"$bin" keys devnet wallet_3 --out "$work/colleague.key" >/dev/null
colleague=$(address "$work/colleague.key")
"$bin" professional register --credential-file "$work/licence.txt" --specialty radiology "${node[@]}" \
    --key-file "$work/colleague.key" >/dev/null || fail "colleague register"
"$bin" professional verify "$colleague" --expires-in 365 --reason 1 "${node[@]}" --key-file "$work/verifier.key" \
    >/dev/null 2>&1 || fail "colleague verify"
echo "agree" >"$work/note.txt"
i1=$(image_of "$p1")
expect 12 "a review with a proof that does not hold" "$bin" review --proof "$work/sibling.json" --dispute \
    --note-file "$work/note.txt" "${node[@]}" --api "http://127.0.0.1:$api_port" --key-file "$work/colleague.key"
grep -q "ERR-INVALID-PROOF" <<<"$out" || fail "the contract's refusal is named: $out"
expect 0 "review --proof" "$bin" review --proof "$p1" --confirm --note-file "$work/note.txt" "${node[@]}" \
    --key-file "$work/colleague.key"
expect 0 "verify a confirmed leaf" "$bin" verify "$i1" --proof "$p1" "${node[@]}" --json
grep -q '"confirmations":1,' <<<"$out" || fail "one confirmation: $out"
grep -q '"status":"confirmed"' <<<"$out" || fail "status confirmed: $out"
expect 0 "retract --proof" "$bin" retract --proof "$p0" --reason 3 "${node[@]}" --key-file "$work/doctor.key"
expect 15 "verify a retracted leaf" "$bin" verify "$i0" --proof "$p0" "${node[@]}"
grep -q "retracted" <<<"$out" || fail "retracted: $out"

echo "merkle end to end: ok"
