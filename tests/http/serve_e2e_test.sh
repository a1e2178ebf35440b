#!/usr/bin/env bash
# `medanchor users` and `medanchor serve` through the real binary, against the real local chain:
#   - `users add` prints a token once (64 hex digits); the store is 0600 and holds only the
#     token's SHA-256 (checked with sha256sum), `users list` never shows it; bad roles and
#     duplicate names exit 2;
#   - serve with a verified radiologist's key: an upload of three slices is analysed and
#     anchored, and the job's event stream goes recorded → sent → confirmed with a txid and a
#     block; the request log names routes, never the token or the uploaded file's name;
#   - the web UI in Debian's chromium (tests/web/ui.spec.mjs, Playwright), screenshots saved to
#     $MEDANCHOR_WEB_OUT;
#   - verification through the API gives the CLI's verdict object; a radiologist may not review
#     their own analysis and an auditor nothing; a second radiologist disputes one, its analyst
#     retracts it, and the chain's verdict says so;
#   - a Merkle-anchored analysis in the server's ledger is reviewed through the API with its proof
#     (review-leaf), and `verify --proof` sees the confirmation;
#   - the chain's registry through the API (/api/chain/...), every field against the CLI's reads;
#     a verifier suspends, reinstates and renews a professional, an admin sets a parameter,
#     registers and retires a model, pauses and unpauses; refusals by role (403) and by the
#     contract (409 naming ERR-SUSPENDED, ERR-MODEL-EXISTS, ERR-MODEL-RETIRED);
#   - `users remove`: the token stops working at once (401);
#   - SIGTERM with the chain down: the server finishes the accepted upload, exits 0, and the
#     analyses wait in the ledger; a restart with the chain up anchors them.
# Usage: serve_e2e_test.sh MEDANCHOR_BINARY SOURCE_DIR
set -euo pipefail
bin=$1
src=$2
work=$(mktemp -d)
source "$src/tests/http/chain_setup.sh"
fail() { echo "FAIL: $*" >&2; [ -f "$work/serve.err" ] && tail -20 "$work/serve.err" >&2; exit 1; }
base="http://127.0.0.1:$http_port"
data="$work/data"
sql() { /usr/bin/python3 -c "import sqlite3,sys; print(' '.join(str(r[0]) for r in sqlite3.connect(sys.argv[1]).execute(sys.argv[2])))" "$data/ledger.sqlite" "$1"; }

# ---- accounts -----------------------------------------------------------------------------------
token=$("$bin" users add doc --role radiologist --key-file "$work/doctor.key" --data "$data" 2>"$work/add.err")
[[ "$token" =~ ^[0-9a-f]{64}$ ]] || fail "users add prints one 64-hex token on stdout: $token"
grep -q "shown once" "$work/add.err" || fail "users add says the token is shown once"
auditor=$("$bin" users add audit --role auditor --data "$data" 2>/dev/null)
reviewer=$("$bin" users add doc2 --role radiologist --key-file "$work/doctor2.key" --data "$data" 2>/dev/null)
verifier=$("$bin" users add ver --role verifier --key-file "$work/verifier.key" --data "$data" 2>/dev/null)
admin=$("$bin" users add boss --role admin --key-file "$work/admin.key" --data "$data" 2>/dev/null)
# Removed by a browser test while its page is open.
leaver=$("$bin" users add leaver --role auditor --data "$data" 2>/dev/null)
[ "$(stat -c %a "$data/users.sqlite")" = 600 ] || fail "users.sqlite mode $(stat -c %a "$data/users.sqlite")"
digest=$(printf %s "$token" | sha256sum | cut -d' ' -f1)
grep -qa "$digest" "$data/users.sqlite" || fail "the store holds the token's SHA-256"
! grep -qa "$token" "$data/users.sqlite" || fail "the store holds the token itself"
list=$("$bin" users list --data "$data")
grep -q "^doc	radiologist	$doctor	" <<<"$list" || fail "users list: $list"
! grep -q "$token" <<<"$list" || fail "users list shows a token"
set +e
"$bin" users add x --role janitor --data "$data" >/dev/null 2>&1; rc=$?
[ "$rc" = 2 ] || fail "unknown role: expected 2, got $rc"
"$bin" users add doc --role auditor --data "$data" >/dev/null 2>&1; rc=$?
[ "$rc" = 2 ] || fail "duplicate name: expected 2, got $rc"
"$bin" users remove nobody --data "$data" >/dev/null 2>&1; rc=$?
[ "$rc" = 13 ] || fail "removing an unknown user: expected 13, got $rc"
set -e

# ---- the chain: contract, verifier, model, a verified radiologist -------------------------------
chain_up || fail "setting up the chain"

serve_args=("${node[@]}" --api "http://127.0.0.1:$api_port")
source "$src/tests/http/serve_start.sh"
upload() {
    curl -sf -H "Authorization: Bearer $token" \
        -F "file=@$src/samples/ct/ctsim-42-00000.dcm;filename=DOE^JANE.dcm" \
        -F "file=@$src/samples/ct/ctsim-42-00001.dcm;filename=DOE^JANE.dcm" \
        -F "file=@$src/samples/ct/ctsim-42-00002.dcm;filename=DOE^JANE.dcm" "$base/api/jobs"
}
job_id() { sed -e 's/.*"id":"\([0-9a-f]*\)".*/\1/'; }

# ---- upload → confirmed ------------------------------------------------------------------------
start_server
grep -q "listening on http://127.0.0.1:$http_port/" "$work/serve.out" || fail "serve prints its URL"
job=$(upload | job_id)
[[ "$job" =~ ^[0-9a-f]{32}$ ]] || fail "upload: no job id"
# The stream ends by itself once every analysis is confirmed (or held for review).
timeout 120 curl -sN -H "Authorization: Bearer $auditor" "$base/api/jobs/$job/events" >"$work/events" ||
    fail "the event stream did not end: $(tail -c 600 "$work/events")"
grep -q '"anchoring":"recorded"' "$work/events" || fail "no recorded state in the stream"
grep -q '"anchoring":"confirmed"' "$work/events" || fail "no confirmed state in the stream: $(tail -c 600 "$work/events")"
last=$(grep '^data: ' "$work/events" | tail -1)
[ "$(grep -o '"anchoring":"confirmed"' <<<"$last" | wc -l)" = 3 ] || fail "three confirmed: $last"
grep -q '"txid":"[0-9a-f]\{64\}"' <<<"$last" || fail "a txid: $last"
grep -q '"block_height":[0-9]' <<<"$last" || fail "a block: $last"
# The analysis as the chain holds it: anchored, and verify agrees.
id=$(grep -o '"analysis_id":[0-9]*' <<<"$last" | head -1 | cut -d: -f2)
curl -sf -H "Authorization: Bearer $auditor" "$base/api/analyses/$id" | grep -q '"state":"confirmed"' ||
    fail "analysis $id not confirmed"
# The log: routes only; neither the token nor the client's file name.
grep -q "POST /api/jobs 202" "$work/serve.err" || fail "the request log: $(cat "$work/serve.err")"
! grep -q "$token" "$work/serve.err" "$work/serve.out" || fail "the token is in the server's output"
! grep -q "DOE" "$work/serve.err" "$work/serve.out" || fail "the upload's file name is in the server's output"
! grep -rqa "DOE" "$data" || fail "the upload's file name is stored"

# ---- the chain's registry through the API, against the CLI's own reads ---------------------------
# Clarity notation (what `admin params --json` and `professional status --json` print) of the
# API's JSON values: the oracle is the CLI's read path, compared field by field.
cat >"$work/clarity.py" <<'PY'
import json, re, sys
def clarity(v):
    if v is None: return "none"
    if isinstance(v, bool): return "true" if v else "false"
    if isinstance(v, int): return "u%d" % v
    if re.fullmatch(r"[0-9]+", v): return "u" + v          # a uint beyond 2^53
    if re.fullmatch(r"S[TPMN][0-9A-Z]{38,40}", v): return "'" + v
    if re.fullmatch(r"[0-9a-f]{64}", v): return "0x" + v
    return json.dumps(v)
def unwrap(text):  # "(some 'ST...)" → "'ST..."
    m = re.fullmatch(r"\(some (.*)\)", text)
    return m.group(1) if m else text
def same(api, cli, what):
    keys = {k.replace("-", "_"): v for k, v in cli.items()}
    assert set(keys) <= set(api), (what, sorted(set(keys) - set(api)))
    for k, v in keys.items():
        assert clarity(api[k]) == unwrap(v), (what, k, api[k], v)
PY
curl -sf -H "Authorization: Bearer $auditor" "$base/api/chain/parameters" >"$work/params.api" ||
    fail "GET /api/chain/parameters"
"$bin" admin params "${node[@]}" --json >"$work/params.cli"
curl -sf -H "Authorization: Bearer $auditor" "$base/api/chain/models" >"$work/models.api" ||
    fail "GET /api/chain/models"
for who in "$doctor" "$(address "$work/verifier.key")" "$(address "$work/admin.key")"; do
    curl -sf -H "Authorization: Bearer $auditor" "$base/api/chain/professionals/$who" >>"$work/standing.api" ||
        fail "GET /api/chain/professionals/$who"
    echo >>"$work/standing.api"
done
"$bin" professional status "$doctor" "${node[@]}" --json >"$work/doctor.cli"
curl -sf -H "Authorization: Bearer $auditor" "$base/api/chain/professionals" >"$work/pros.api" ||
    fail "GET /api/chain/professionals"
/usr/bin/python3 - "$work" "$src/models/ct-nodule-sim/model.json" "$doctor" "$doctor2" \
    "$(address "$work/verifier.key")" "$(address "$work/admin.key")" <<'PY' || fail "the chain's registry: $(cat "$work"/*.api)"
import json, sys
work, manifest, doctor, doctor2, verifier, admin = sys.argv[1:]
sys.path.insert(0, work)
from clarity import same
params = json.load(open(work + "/params.api"))
same(params["parameters"], json.load(open(work + "/params.cli")), "parameters")
assert params["contract"] == admin + ".medical-analysis", params
# The reference model, registered from its bundle by the admin in chain_setup.sh.
m = json.load(open(manifest))
models = json.load(open(work + "/models.api"))
assert models["model_count"] == params["parameters"]["model_count"] >= 1, models
first = models["models"][0]
assert (first["id"], first["name"], first["version"], first["active"]) == (1, m["name"], m["version"], True), first
assert first["model_hash"] in [n["sha256"] for n in m["networks"].values()], first
assert first["registered_by"] == admin and first["registered_at"] > 1_600_000_000, first
assert models["next"] is None, models
doc, ver, adm = (json.loads(l) for l in open(work + "/standing.api"))
same(doc["professional"], json.load(open(work + "/doctor.cli")), "professional")
assert (doc["status"], doc["verifier"], doc["admin"], doc["why_inactive"]) == ("active", False, False, None), doc
assert doc["professional"]["verified_by"] == verifier, doc
assert (ver["professional"], ver["verifier"], ver["status"]) == (None, True, "not-registered"), ver
assert (adm["admin"], adm["verifier"]) == (True, False), adm
pros = {p["principal"]: p for p in json.load(open(work + "/pros.api"))["professionals"]}
assert set(pros) == {doctor, doctor2, verifier, admin}, sorted(pros)
assert pros[doctor]["accounts"] == [{"name": "doc", "role": "radiologist"}], pros[doctor]
assert pros[doctor2]["status"] == "active" and pros[verifier]["verifier"], pros
PY
"$bin" keys devnet wallet_5 --out "$work/stranger.key" >/dev/null
code=$(curl -s -o "$work/unknown" -w '%{http_code}' -H "Authorization: Bearer $auditor" \
    "$base/api/chain/professionals/$(address "$work/stranger.key")")
[ "$code" = 404 ] || fail "an unknown principal: expected 404, got $code $(cat "$work/unknown")"
code=$(curl -s -o "$work/bad" -w '%{http_code}' -H "Authorization: Bearer $auditor" "$base/api/chain/professionals/ST0NOPE")
[ "$code" = 400 ] && grep -q '"code":"invalid-argument"' "$work/bad" ||
    fail "a malformed principal: expected 400, got $code $(cat "$work/bad")"

# ---- the web UI in Debian's chromium (tests/web/, Playwright) ------------------------------------
[ -x /usr/bin/chromium ] || fail "/usr/bin/chromium is missing (scripts/apt-packages.txt lists it)"
web_out=${MEDANCHOR_WEB_OUT:-$work/web}
mkdir -p "$web_out"
(cd "$src" && MEDANCHOR_URL="$base" MEDANCHOR_TOKEN_RADIOLOGIST="$token" MEDANCHOR_TOKEN_AUDITOR="$auditor" \
    MEDANCHOR_TOKEN_REVIEWER="$reviewer" MEDANCHOR_TOKEN_VERIFIER="$verifier" MEDANCHOR_TOKEN_ADMIN="$admin" \
    MEDANCHOR_TOKEN_LEAVER="$leaver" MEDANCHOR_BIN="$bin" MEDANCHOR_DATA="$data" \
    MEDANCHOR_WEB_OUT="$web_out" node_modules/.bin/playwright test -c tests/web/playwright.config.mjs) ||
    fail "the browser tests (screenshots and traces in $web_out)"
for page in analyse result review verify verify-changed peer-review review-auditor auditor registry registry-verifier registry-admin; do
    [ -s "$web_out/$page.png" ] || fail "no screenshot of the $page page"
done

# ---- verify, review and retract through the API ------------------------------------------------
hash=$(curl -sf -H "Authorization: Bearer $auditor" "$base/api/analyses/$id" | sed -e 's/.*"image_hash":"hmac-sha256:\([0-9a-f]*\)".*/\1/')
[[ "$hash" =~ ^[0-9a-f]{64}$ ]] || fail "the analysis' image hash: $hash"
# The verdict object is the CLI's (`verify --json`), field for field (the local report's check
# included: both read the server's ledger).
curl -sf -H "Authorization: Bearer $auditor" "$base/api/verify/hmac-sha256:$hash" >"$work/verdict.api"
"$bin" verify --hash "hmac-sha256:$hash" --ledger "$data/ledger.sqlite" "${node[@]}" \
    --api "http://127.0.0.1:$api_port" --json >"$work/verdict.cli" || true
/usr/bin/python3 - "$work/verdict.api" "$work/verdict.cli" <<'PY' || fail "API and CLI verdicts differ: $(cat "$work/verdict.api") / $(cat "$work/verdict.cli")"
import json, sys
api, cli = (json.load(open(p)) for p in sys.argv[1:])
api.pop("image"); cli.pop("image")  # the label: "hash" here, "--hash" there
assert api == cli, (api, cli)
assert api["verdict"] == "valid", api
PY
# The uploader may not review their own analysis; the second radiologist (the browser test
# confirmed analysis $id already) disputes another; the auditor may not; the uploader retracts.
other=$(sql "select id from analyses where state='confirmed' and id != $id order by id limit 1")
code=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
    -d '{"decision":"confirm","note":"mine"}' "$base/api/analyses/$other/review")
[ "$code" = 403 ] || fail "reviewing one's own analysis: expected 403, got $code"
code=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $auditor" -H 'Content-Type: application/json' \
    -d '{"decision":"confirm","note":"x"}' "$base/api/analyses/$other/review")
[ "$code" = 403 ] || fail "an auditor reviewing: expected 403, got $code"
curl -sf -H "Authorization: Bearer $reviewer" -H 'Content-Type: application/json' \
    -d '{"decision":"dispute","note":"the nodule is a vessel"}' "$base/api/analyses/$other/review" >"$work/review" ||
    fail "the second radiologist's dispute: $(cat "$work/review")"
grep -q '"status":"success"' "$work/review" || fail "dispute: $(cat "$work/review")"
curl -sf -H "Authorization: Bearer $token" -H 'Content-Type: application/json' -d '{"reason":3}' \
    "$base/api/analyses/$other/retract" >"$work/retract" || fail "retract: $(cat "$work/retract")"
grep -q '"status":"success"' "$work/retract" || fail "retract: $(cat "$work/retract")"
ohash=$(curl -sf -H "Authorization: Bearer $auditor" "$base/api/analyses/$other" | sed -e 's/.*"image_hash":"hmac-sha256:\([0-9a-f]*\)".*/\1/')
verdict=$(curl -sf -H "Authorization: Bearer $auditor" "$base/api/verify/hmac-sha256:$ohash")
grep -q '"status":"retracted"' <<<"$verdict" || fail "the retracted analysis: $verdict"
grep -q '"disputes":1' <<<"$verdict" || fail "the dispute on chain: $verdict"
grep -q '"verdict":"disputed"' <<<"$verdict" || fail "nothing valid: $verdict"

# ---- a Merkle-anchored analysis is reviewed with its proof --------------------------------------
# A third radiologist (no account here, so no anchoring service of the server's) anchors one slice
# in a Merkle root into the server's ledger; the second radiologist reviews it through the API:
# review-leaf with the proof beside its report, never review-analysis of the id its root shares.
"$bin" keys devnet wallet_4 --out "$work/doctor3.key" >/dev/null
"$bin" professional register --credential-file "$work/licence.txt" --specialty radiology \
    "${node[@]}" --key-file "$work/doctor3.key" >/dev/null || fail "register a third radiologist"
"$bin" professional verify "$(address "$work/doctor3.key")" --expires-in 365 --reason 1 "${node[@]}" \
    --key-file "$work/verifier.key" >/dev/null 2>&1 || fail "verify the third radiologist"
mkdir -p "$work/leaf"
cp "$src/samples/ct/ctsim-42-00003.dcm" "$work/leaf/"  # 99.9 %: above every threshold
"$bin" analyze "$work/leaf" --anchor-mode merkle --root-every 0 --ledger "$data/ledger.sqlite" \
    --site-key "$data/site.key" --out "$work/leaf-reports" "${node[@]}" --key-file "$work/doctor3.key" \
    >"$work/leaf.txt" 2>&1 || fail "analyze --anchor-mode merkle: $(cat "$work/leaf.txt")"
proof=$(find "$work/leaf-reports" -name anchor.proof.json -print -quit)
[ -n "$proof" ] || fail "no proof file beside the leaf's report: $(cat "$work/leaf.txt")"
leaf_id=$(sql "SELECT analysis_id FROM merkle_leaves")
[ -n "$leaf_id" ] || fail "no Merkle leaf in the server's ledger"
curl -sf -H "Authorization: Bearer $reviewer" -H 'Content-Type: application/json' \
    -d '{"decision":"confirm","note":"agree"}' "$base/api/analyses/$leaf_id/review" >"$work/leaf-review" ||
    fail "reviewing a Merkle-anchored analysis: $(cat "$work/leaf-review")"
grep -q '"action":"confirm leaf 0 of Merkle root #' "$work/leaf-review" ||
    fail "the review went as review-leaf: $(cat "$work/leaf-review")"
grep -q '"status":"success"' "$work/leaf-review" || fail "leaf review: $(cat "$work/leaf-review")"
"$bin" verify --proof "$proof" --site-key "$data/site.key" "${node[@]}" --json >"$work/leaf-verify" 2>&1 ||
    fail "verify --proof after the review: $(cat "$work/leaf-verify")"
grep -q '"confirmations":1' "$work/leaf-verify" || fail "the leaf's confirmation on chain: $(cat "$work/leaf-verify")"

# ---- the registry's writes: verifier and admin acts, refusals by role and by the contract --------
post() {  # post TOKEN PATH BODY OUTFILE → the HTTP status
    curl -s -o "$4" -w '%{http_code}' -H "Authorization: Bearer $1" -H 'Content-Type: application/json' \
        -d "$3" "$base$2"
}
standing() { curl -sf -H "Authorization: Bearer $auditor" "$base/api/chain/professionals/$1"; }
# By role: a radiologist may not suspend, a verifier may not pause, an auditor may do neither.
for who in "$token" "$auditor"; do
    code=$(post "$who" "/api/chain/professionals/$doctor2/suspend" '{"reason":4}' "$work/w")
    [ "$code" = 403 ] && grep -q '"code":"permission"' "$work/w" || fail "suspend without the role: $code $(cat "$work/w")"
done
code=$(post "$verifier" /api/chain/pause '{}' "$work/w")
[ "$code" = 403 ] || fail "a verifier pausing: expected 403, got $code"
# The verifier suspends the second radiologist: the contract and the CLI's read say so.
code=$(post "$verifier" "/api/chain/professionals/$doctor2/suspend" '{"reason":4}' "$work/w")
[ "$code" = 200 ] && grep -q '"status":"success"' "$work/w" || fail "suspend: $code $(cat "$work/w")"
standing "$doctor2" | grep -q '"status":"inactive".*"why_inactive":{"code":1025,"name":"ERR-SUSPENDED"' ||
    fail "the suspension in the standing: $(standing "$doctor2")"
"$bin" professional status "$doctor2" "${node[@]}" --json | grep -q '"suspended":"true"' ||
    fail "the CLI does not see the suspension"
# Suspending again is the contract's refusal, by name.
code=$(post "$verifier" "/api/chain/professionals/$doctor2/suspend" '{"reason":4}' "$work/w")
[ "$code" = 409 ] && grep -q '"contract_error":{"code":1025,"name":"ERR-SUSPENDED"' "$work/w" &&
    grep -q '"code":"contract"' "$work/w" || fail "a second suspension: expected 409 ERR-SUSPENDED, got $code $(cat "$work/w")"
code=$(post "$verifier" "/api/chain/professionals/$doctor2/reinstate" '{"reason":5}' "$work/w")
[ "$code" = 200 ] || fail "reinstate: $code $(cat "$work/w")"
standing "$doctor2" | grep -q '"status":"active"' || fail "reinstated: $(standing "$doctor2")"
# Renewed for 30 days from the chain's clock (a shortening, allowed to its grantor).
code=$(post "$verifier" "/api/chain/professionals/$doctor2/verify" '{"expires_in_days":30,"reason":2}' "$work/w")
[ "$code" = 200 ] || fail "verify: $code $(cat "$work/w")"
# The admin: the global minimum, a model registered and retired, pause and unpause.
code=$(post "$admin" /api/chain/parameters '{"min_confidence":5100}' "$work/w")
[ "$code" = 200 ] || fail "set min_confidence: $code $(cat "$work/w")"
"$bin" admin params "${node[@]}" --json | grep -q '"min-confidence":"u5100"' || fail "the CLI does not see min-confidence 5100"
mhash=$(printf 'a model that is not the reference' | sha256sum | cut -d' ' -f1)
code=$(post "$admin" /api/chain/models "{\"model_hash\":\"$mhash\",\"name\":\"e2e-model\",\"version\":\"0.1\",\"min_confidence\":6000}" "$work/w")
[ "$code" = 200 ] || fail "register a model: $code $(cat "$work/w")"
code=$(post "$admin" /api/chain/models "{\"model_hash\":\"$mhash\",\"name\":\"again\",\"version\":\"0.2\",\"min_confidence\":6000}" "$work/w")
[ "$code" = 409 ] && grep -q '"name":"ERR-MODEL-EXISTS"' "$work/w" || fail "the same hash twice: $code $(cat "$work/w")"
curl -sf -H "Authorization: Bearer $auditor" "$base/api/chain/models?start=2&limit=1" >"$work/m2"
grep -q "\"id\":2,\"active\":true,.*\"model_hash\":\"$mhash\",.*\"name\":\"e2e-model\"" "$work/m2" || fail "model 2: $(cat "$work/m2")"
code=$(post "$admin" /api/chain/models/2/retire '' "$work/w")
[ "$code" = 200 ] || fail "retire model 2: $code $(cat "$work/w")"
curl -sf -H "Authorization: Bearer $auditor" "$base/api/chain/models?start=2" | grep -q '"id":2,"active":false' ||
    fail "model 2 is not retired"
code=$(post "$admin" /api/chain/models/2/retire '' "$work/w")
[ "$code" = 409 ] && grep -q '"name":"ERR-MODEL-RETIRED"' "$work/w" || fail "retiring twice: $code $(cat "$work/w")"
# Appoint the first radiologist a verifier, and dismiss them.
code=$(post "$admin" "/api/chain/verifiers/$doctor" '' "$work/w")
[ "$code" = 200 ] || fail "appoint a verifier: $code $(cat "$work/w")"
standing "$doctor" | grep -q '"verifier":true' || fail "not a verifier: $(standing "$doctor")"
code=$(curl -s -o "$work/w" -w '%{http_code}' -X DELETE -H "Authorization: Bearer $admin" "$base/api/chain/verifiers/$doctor")
[ "$code" = 200 ] || fail "dismiss a verifier: $code $(cat "$work/w")"
standing "$doctor" | grep -q '"verifier":false' || fail "still a verifier: $(standing "$doctor")"
code=$(post "$admin" /api/chain/pause '' "$work/w")
[ "$code" = 200 ] || fail "pause: $code $(cat "$work/w")"
curl -sf -H "Authorization: Bearer $auditor" "$base/api/chain/parameters" | grep -q '"paused":true' || fail "not paused"
code=$(post "$admin" /api/chain/unpause '' "$work/w")
[ "$code" = 200 ] || fail "unpause: $code $(cat "$work/w")"
curl -sf -H "Authorization: Bearer $auditor" "$base/api/chain/parameters" | grep -q '"paused":false' || fail "still paused"

# ---- users remove: the token stops working ------------------------------------------------------
"$bin" users remove audit --data "$data"
code=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $auditor" "$base/api/ledger")
[ "$code" = 401 ] || fail "a removed user's token: expected 401, got $code"

# ---- SIGTERM with the chain down, restart with it up --------------------------------------------
"$bin" devnet stop "${chain[@]}" >/dev/null
# The chain's view with the node down: a prompt 502 naming the problem, never a hang.
code=$(timeout 30 curl -s -o "$work/down" -w '%{http_code}' -H "Authorization: Bearer $token" "$base/api/chain/parameters") ||
    fail "GET /api/chain/parameters with the node down did not answer in 30 s"
[ "$code" = 502 ] && grep -q '"code":"network"' "$work/down" ||
    fail "the chain's view with the node down: expected 502 network, got $code $(cat "$work/down")"
# Two slices never uploaded before (the browser test sent all six samples).
"$bin" simulate --out "$work/more" --seed 7 --count 2 >/dev/null
before=$(sql "select count(*) from analyses")
job=$(curl -sf -H "Authorization: Bearer $token" -F "file=@$work/more/ctsim-7-00000.dcm" \
    -F "file=@$work/more/ctsim-7-00001.dcm" "$base/api/jobs" | job_id)
kill -TERM "$server_pid"
set +e
wait "$server_pid"
rc=$?
set -e
server_pid=
[ "$rc" = 0 ] || fail "serve after SIGTERM: exit $rc"
grep -q "stopping" "$work/serve.err" || fail "serve says it stops"
# Both images of the accepted upload are recorded; what is fit to anchor waits (one of the two
# may be held for review by the model's threshold).
[ "$(sql "select count(*) from analyses")" = $((before + 2)) ] || fail "the accepted upload was not finished"
newest=$(sql "select state from analyses order by id desc limit 2")
grep -q pending <<<"$newest" || fail "nothing of the accepted upload waits for the chain: $newest"
"$bin" devnet start "${chain[@]}" >/dev/null || fail "devnet start again"
start_server
for _ in $(seq 1 120); do
    waiting=$(sql "select count(*) from analyses where state in ('pending','broadcast')")
    [ "$waiting" = 0 ] && break
    sleep 0.5
done
[ "$waiting" = 0 ] || fail "after the restart, the pending analyses are anchored: $waiting still wait"
newest=$(sql "select state from analyses order by id desc limit 2")
grep -q confirmed <<<"$newest" || fail "the restart anchored nothing: $newest"
echo "serve end to end: ok"
