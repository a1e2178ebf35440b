#!/usr/bin/env bash
# The main job end to end with a PostgreSQL ledger (issue 15 phase A), through the real binary on
# a real local chain and a real PostgreSQL 15 started here in a temporary folder (a Unix socket
# only, trust authentication for this test server only; as root, run as the `postgres` user):
#   - `analyze --ledger postgresql://...` of three simulated slices records and anchors them;
#   - `verify` with the same ledger finds each on chain and matches its report;
#   - psql, an independent client, finds the three rows confirmed and schema version 3 (2: the Merkle tables, 3: the job queue);
#   - a second analyze records nothing twice; `ledger list`, $MEDANCHOR_LEDGER and the
#     configuration file take the URI, and `config show` hides its password;
#   - Merkle mode on PostgreSQL: `sync --anchor-mode merkle` anchors recorded analyses in a root,
#     and `medanchor anchorer --anchor-mode merkle` more; each proof is written beside its report
#     and `verify --proof` accepts it;
#   - the URI's password is in no output; a server that cannot be reached is exit 9.
# Usage: postgres_e2e_test.sh MEDANCHOR_BINARY SOURCE_DIR
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
cleanup() {
    "$bin" devnet stop "${chain[@]}" >/dev/null 2>&1 || true
    stop_postgres
    rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
# shellcheck source=tests/app/postgres_setup.sh
. "$(dirname "$0")/postgres_setup.sh"
# shellcheck source=tests/app/chain_setup.sh
. "$(dirname "$0")/chain_setup.sh"

start_postgres scans
secret="pw-e2e-31337"
uri="postgresql://medanchor:$secret@/scans?host=$pg&port=$pg_port"

export MEDANCHOR_SITE_KEY_FILE="$work/site.key"
"$bin" site-key new "$work/site.key" >/dev/null
"$bin" simulate --out "$work/images" --seed 9 --count 4 >/dev/null
rm -f "$work/images/truth.csv" "$work/images/ctsim-9-00000.dcm"

start_chain_with_radiologist

# Analyse and anchor, the ledger in PostgreSQL.
out=$("$bin" analyze "$work/images" --out "$work/reports" --ledger "$uri" "${node[@]}" \
    --key-file "$work/doctor.key" 2>&1) || fail "analyze --ledger postgresql://: $out"
grep -q "$secret" <<<"$out" && fail "the password is printed: $out"

# psql, an independent client, sees the rows: three analyses, all confirmed, with on-chain ids.
[ "$("${psql[@]}" -d scans -c "SELECT count(*) FROM analyses")" = 3 ] || fail "three rows"
[ "$("${psql[@]}" -d scans -c "SELECT count(*) FROM analyses WHERE state = 'confirmed' AND onchain_id IS NOT NULL")" = 3 ] \
    || fail "three confirmed: $("${psql[@]}" -d scans -c "SELECT id, state, last_error FROM analyses")"
[ "$("${psql[@]}" -d scans -c "SELECT count(*) FROM transactions WHERE state = 'success'")" -ge 1 ] || fail "a transaction"
[ "$("${psql[@]}" -d scans -c "SELECT version FROM medanchor_schema")" = 3 ] || fail "schema version 3"

# verify with the same ledger: every image found on chain once, its local report matching.
"$bin" verify "$work/images" "${node[@]}" --ledger "$uri" --json >"$work/verify.jsonl" 2>&1 \
    || fail "verify: $(cat "$work/verify.jsonl")"
[ "$(grep -c '"total":1,' "$work/verify.jsonl" || true)" = 3 ] || fail "each image once: $(cat "$work/verify.jsonl")"
[ "$(grep -c 'report.json matches the anchored digest' "$work/verify.jsonl" || true)" = 3 ] \
    || fail "local reports match: $(cat "$work/verify.jsonl")"

# Again: nothing recorded twice. The ledger through $MEDANCHOR_LEDGER.
out=$(MEDANCHOR_LEDGER="$uri" "$bin" analyze "$work/images" --out "$work/reports" "${node[@]}" \
    --key-file "$work/doctor.key" 2>&1) || fail "second analyze: $out"
grep -q "already recorded" <<<"$out" || fail "second analyze finds them recorded: $out"
[ "$("${psql[@]}" -d scans -c "SELECT count(*) FROM analyses")" = 3 ] || fail "still three rows"
[ "$(MEDANCHOR_LEDGER="$uri" "$bin" ledger list --state confirmed | wc -l)" = 3 ] || fail "ledger list"
printf 'ledger = "%s"\n' "$uri" >"$work/medanchor.toml"
[ "$("$bin" --config "$work/medanchor.toml" ledger list --state confirmed | wc -l)" = 3 ] \
    || fail "ledger list with the URI from the configuration file"
out=$(MEDANCHOR_LEDGER="$uri" "$bin" config show 2>&1) || fail "config show: $out"
grep -q "postgresql://" <<<"$out" || fail "config show names the ledger: $out"
grep -q "$secret" <<<"$out" && fail "config show prints the password: $out"

# Merkle mode on PostgreSQL: recorded analyses anchored in a root by sync, then more by the
# elected writer; each leaf's proof beside its report, checked by verify --proof.
record_more() {
    "$bin" simulate --out "$work/$1" --seed "$2" --count 3 >/dev/null
    rm -f "$work/$1/truth.csv"
    out=$("$bin" analyze "$work/$1" --out "$work/reports" --ledger "$uri" --no-anchor \
        --analyst "$doctor" 2>&1) || fail "analyze --no-anchor: $out"
}
q() { "${psql[@]}" -d scans -c "$1"; }
record_more merkle1 10
out=$("$bin" sync --anchor-mode merkle --ledger "$uri" "${node[@]}" --key-file "$work/doctor.key" 2>&1) \
    || fail "sync --anchor-mode merkle on PostgreSQL: $out"
grep -q "$secret" <<<"$out" && fail "the password is printed: $out"
[ "$(q "SELECT count(*) FROM merkle_roots WHERE state = 'confirmed'")" = 1 ] \
    || fail "one root confirmed: $(q "SELECT state, last_error FROM merkle_roots") $out"
record_more merkle2 11
"$bin" anchorer --anchor-mode merkle --root-every 0 --interval 0.5 --ledger "$uri" "${node[@]}" \
    --key-file "$work/doctor.key" >"$work/anchorer.log" 2>&1 &
writer=$!
for _ in $(seq 1 300); do
    [ "$(q "SELECT count(*) FROM merkle_roots WHERE state = 'confirmed'")" = 2 ] && break
    sleep 0.1
done
kill -TERM "$writer"
wait "$writer" || fail "anchorer exit on SIGTERM: $(cat "$work/anchorer.log")"
[ "$(q "SELECT count(*) FROM merkle_roots WHERE state = 'confirmed'")" = 2 ] \
    || fail "a second root by the anchorer: $(cat "$work/anchorer.log")"
[ "$(q "SELECT count(*) FROM analyses a JOIN merkle_leaves l ON l.analysis_id = a.id WHERE a.state = 'confirmed'")" \
    = "$(q "SELECT count(*) FROM merkle_leaves")" ] || fail "every leaf's analysis confirmed"
# Proofs are written on the pass after a root is confirmed: the writer may have stopped first.
"$bin" sync --anchor-mode merkle --ledger "$uri" "${node[@]}" --key-file "$work/doctor.key" >/dev/null 2>&1 \
    || fail "sync after the anchorer"
mapfile -t proofs < <(find "$work/reports" -name anchor.proof.json)
[ "${#proofs[@]}" = "$(q "SELECT count(*) FROM merkle_leaves")" ] || fail "a proof per leaf: ${#proofs[@]}"
verified=0
for f in "$work"/merkle1/*.dcm "$work"/merkle2/*.dcm; do
    h=$("$bin" hash "$f" | cut -d' ' -f1 | sed -e 's/^hmac-sha256://')
    p=$(grep -l "$h" "${proofs[@]}" | head -1 || true)
    [ -n "$p" ] || continue
    "$bin" verify "$f" --proof "$p" "${node[@]}" >/dev/null || fail "verify --proof $p"
    verified=$((verified + 1))
done
[ "$verified" = "${#proofs[@]}" ] || fail "verify --proof of each proof: $verified of ${#proofs[@]}"

# A server that cannot be reached: exit 9, no password.
set +e
out=$("$bin" ledger list --ledger "postgresql://medanchor:$secret@/scans?host=$work/nowhere&port=$pg_port" 2>&1)
rc=$?
set -e
[ "$rc" = 9 ] || fail "unreachable PostgreSQL: expected 9, got $rc: $out"
grep -q "$secret" <<<"$out" && fail "the password is printed: $out"
echo "ok: analyze, verify, ledger list, sync and the anchorer (records and Merkle) on a PostgreSQL ledger"
