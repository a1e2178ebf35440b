#!/usr/bin/env bash
# What `medanchor analyze` promises about files (issue 11), through the real binary on real
# DICOM files, with no chain (--no-anchor, or a node on a port nothing listens on):
#   - report folders are write-once, one per (image, model, analyst): a rerun says "already
#     recorded" and leaves every file byte for byte and its mtime; a second model gets its own
#     folder; report.json is the ledger's exact bytes;
#   - the same image four times in one run (20 runs, 4 threads): one analysis, three "already
#     recorded", never an error;
#   - --out inside the input folder: a rerun skips medanchor's own output;
#   - --no-anchor needs no key with --analyst; without either it says why (16); a bad or
#     mismatched --analyst is refused (2);
#   - a batch with a missing, a truncated and a burned-in file: each is named, the good ones are
#     recorded, the exit status is the first failure's kind; no image files: 17; no site key: 16;
#   - a folder already at a report's place that the ledger does not know is never overwritten;
#   - analyze with the node down records everything and exits 20 (not-yet-anchored);
#   - two analyze processes creating one new ledger at once both succeed.
# Usage: analyze_files_test.sh MEDANCHOR_BINARY SOURCE_DIR
set -euo pipefail
bin=$1
src=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
# shellcheck source=tests/shell_support.sh
. "$(dirname "${BASH_SOURCE[0]}")/../shell_support.sh"
expect_rc() { [ "$rc" = "$1" ] || fail "$2: expected exit $1, got $rc: $out"; }
py=/usr/bin/python3

export MEDANCHOR_LEDGER="$work/ledger.sqlite"
export MEDANCHOR_SITE_KEY_FILE="$work/site.key"
unset MEDANCHOR_KEY_FILE
"$bin" site-key new "$work/site.key" >/dev/null 2>&1
"$bin" keys devnet wallet_2 --out "$work/doctor.key" >/dev/null
"$bin" keys devnet wallet_1 --out "$work/other.key" >/dev/null
doctor=$("$bin" keys show --key-file "$work/doctor.key" --json | sed -e 's/.*"address_testnet":"\([^"]*\)".*/\1/')
record=(--no-anchor --analyst "$doctor")
mkdir -p "$work/in"
cp "$src"/samples/ct/ctsim-42-0000[0-2].dcm "$work/in/"

# ---- write-once folders; a rerun touches nothing --------------------------------------------
run "$bin" analyze "$work/in" "${record[@]}" --out "$work/in/reports"
expect_rc 0 "first analysis"
folders=$(find "$work/in/reports" -mindepth 1 -maxdepth 1 -type d | wc -l)
[ "$folders" = 3 ] || fail "one folder per analysis: $folders: $(ls -a "$work/in/reports")"
first=$(find "$work/in/reports" -mindepth 1 -maxdepth 1 -type d -name '*_ct-nodule-sim-1.0.0_*' | sort | head -1)
case "$(basename "$first")" in
    [0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f]_ct-nodule-sim-1.0.0_[0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f]_"$doctor") ;;
    *) fail "folder name is not <hash16>_<model>-<version>_<sha8>_<analyst>: $first" ;;
esac
for f in report.json report.fhir.json report.sr.dcm image.deid.dcm; do
    [ -s "$first/$f" ] || fail "$first/$f missing"
done
# report.json is the ledger's copy, byte for byte: its SHA-256 is the recorded digest.
"$bin" ledger list --json >"$work/list1.jsonl"
digest=$(sha256sum "$first/report.json" | cut -c1-64)
grep -q "\"report_digest\":\"$digest\"" "$work/list1.jsonl" || fail "report.json is not the recorded report: $(cat "$work/list1.jsonl")"
grep -q "\"report_dir\":\"$first\"" "$work/list1.jsonl" || fail "the ledger does not record the folder: $(cat "$work/list1.jsonl")"
snapshot() { find "$work/in/reports" -type f -printf '%P %T@ %s\n' | sort; find "$work/in/reports" -type f -exec sha256sum {} + | sort; }
snapshot >"$work/before.txt"
sleep 1.1  # a rewrite would carry a new analyzed_at second
run "$bin" analyze "$work/in" "${record[@]}" --out "$work/in/reports"
expect_rc 0 "rerun"
[ "$(grep -c 'already recorded as #' <<<"$out")" = 3 ] || fail "rerun: 3 already recorded: $out"
grep -q "1 medanchor output folder(s) skipped" <<<"$out" || fail "--out inside the input is skipped: $out"
grep -q "analysed 3 of 3" <<<"$out" || fail "the rerun read its own output: $out"
snapshot >"$work/after.txt"
diff "$work/before.txt" "$work/after.txt" >/dev/null || fail "a rerun changed the reports: $(diff "$work/before.txt" "$work/after.txt")"
[ "$(wc -l <"$work/list1.jsonl")" = "$("$bin" ledger list --json | wc -l)" ] || fail "a rerun added to the ledger"

# A second model is a second ledger entry with its own folder; the first is left as it was.
run "$bin" analyze "$work/in/ctsim-42-00000.dcm" "${record[@]}" --out "$work/in/reports" \
    --model "$src/tests/data/models/tiny-sigmoid"
expect_rc 0 "second model"
[ "$(find "$work/in/reports" -mindepth 1 -maxdepth 1 -type d | wc -l)" = 4 ] || fail "the second model's folder: $(ls "$work/in/reports")"
snapshot | grep -v tiny-sigmoid >"$work/after2.txt" || true
diff <(grep -v tiny-sigmoid "$work/before.txt") "$work/after2.txt" >/dev/null || fail "the second model changed the first's files"

# Another analyst is another entry and another folder, too.
other=$("$bin" keys show --key-file "$work/other.key" --json | sed -e 's/.*"address_testnet":"\([^"]*\)".*/\1/')
run "$bin" analyze "$work/in/ctsim-42-00000.dcm" --no-anchor --analyst "$other" --out "$work/in/reports"
expect_rc 0 "another analyst"
[ "$(find "$work/in/reports" -mindepth 1 -maxdepth 1 -type d -name "*_$other" | wc -l)" = 1 ] || fail "the other analyst's folder"

# A recorded analysis whose folder is gone (a crash between record and rename, or a person): the
# rerun places it again from the record, every file what the first run wrote, and says so.
mv "$first" "$work/moved-away"
run "$bin" analyze "$work/in" "${record[@]}" --out "$work/in/reports"
expect_rc 0 "rerun with a folder gone"
grep -q "its missing report folder is placed again from the record" <<<"$out" || fail "the restored folder is reported: $out"
diff -r "$work/moved-away" "$first" >/dev/null || fail "the folder placed again differs from the first run's: $(diff -r "$work/moved-away" "$first" | head -5)"
# The same pixels in another instance (another SOP Instance UID, written by pydicom): the copy
# would not be the instance the report cites, so nothing is placed and the ledger is pointed at.
rm -rf "$first"
mkdir -p "$work/other-uids"
"$py" - "$work/in" "$work/other-uids" <<'PY'
import glob, os, sys
import pydicom
for path in sorted(glob.glob(os.path.join(sys.argv[1], "*.dcm"))):
    ds = pydicom.dcmread(path)
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID + ".9"
    ds.save_as(os.path.join(sys.argv[2], os.path.basename(path)))
PY
run "$bin" analyze "$work/other-uids" "${record[@]}" --out "$work/in/reports"
expect_rc 0 "the same pixels under other UIDs"
grep -q "is missing; \`medanchor ledger show" <<<"$out" || fail "the missing folder is reported: $out"
! grep -q "placed again" <<<"$out" || fail "a folder was placed with another instance's copy: $out"
[ ! -e "$first" ] || fail "a folder was placed with another instance's copy"
# Where the run cannot make every file the record cites (a report root elsewhere, here one that
# is not the record's), it writes nothing and points at the ledger.
run "$bin" analyze "$work/in" "${record[@]}" --out "$work/elsewhere"
expect_rc 0 "rerun into another root with a folder gone"
grep -q "is missing; \`medanchor ledger show" <<<"$out" || fail "the missing folder is reported: $out"
[ ! -e "$first" ] || fail "a folder was written outside the run's report root"
[ -z "$(find "$work/elsewhere" -mindepth 1 -maxdepth 1 -type d)" ] || fail "another root got a copy of a recorded folder"
mv "$work/moved-away" "$first"

# ---- the same image four times in one run ---------------------------------------------------
one="$work/in/ctsim-42-00001.dcm"
for i in $(seq 1 20); do
    rm -rf "$work/dup" "$work/dup.sqlite"*
    run "$bin" analyze "$one" "$one" "$one" "$one" "${record[@]}" --out "$work/dup" --ledger "$work/dup.sqlite" --threads 4
    expect_rc 0 "the same image four times (run $i)"
    grep -q "1 to anchor, 0 need human review, 3 already recorded, 0 failed" <<<"$out" || fail "run $i: $out"
    [ "$(find "$work/dup" -mindepth 1 -maxdepth 1 | wc -l)" = 2 ] || fail "run $i: one folder and the marker: $(ls -a "$work/dup")"
done

# ---- the analyst without a key --------------------------------------------------------------
run "$bin" analyze "$one" --no-anchor --out "$work/r2" --ledger "$work/r2.sqlite"
expect_rc 16 "--no-anchor with neither --analyst nor a key"
grep -q -- "--analyst" <<<"$out" || fail "the message should say --analyst: $out"
run "$bin" analyze "$one" --no-anchor --analyst NOT-A-PRINCIPAL --out "$work/r2" --ledger "$work/r2.sqlite"
expect_rc 2 "a malformed --analyst"
run "$bin" analyze "$one" --no-anchor --analyst "$doctor" --key-file "$work/other.key" --out "$work/r2" --ledger "$work/r2.sqlite"
expect_rc 2 "--analyst that is not the key's principal"
run "$bin" analyze "$one" --no-anchor --key-file "$work/doctor.key" --out "$work/r2" --ledger "$work/r2.sqlite"
expect_rc 0 "--no-anchor with the key"

# ---- per-file errors: each named, the others recorded, the first one's kind ------------------
mkdir -p "$work/batch"
cp "$src/samples/ct/ctsim-42-00003.dcm" "$work/batch/a-good.dcm"
head -c 400 "$src/samples/ct/ctsim-42-00004.dcm" >"$work/batch/b-truncated.dcm"
$py - "$src/samples/ct/ctsim-42-00005.dcm" "$work/batch/c-burned.dcm" <<'EOF'
import sys, pydicom
ds = pydicom.dcmread(sys.argv[1])
ds.BurnedInAnnotation = "YES"
ds.save_as(sys.argv[2])
EOF
cp "$src/samples/ct/ctsim-42-00002.dcm" "$work/batch/d-good.dcm"
run "$bin" analyze "$work/batch" "$work/batch/missing.dcm" "${record[@]}" --out "$work/r3" --ledger "$work/r3.sqlite"
expect_rc 14 "first failure truncated (corrupt)"
for f in b-truncated.dcm c-burned.dcm missing.dcm; do
    grep -q "medanchor: $work/batch/$f" <<<"$out" || fail "$f is not named: $out"
done
grep -q "Burned In Annotation" <<<"$out" || fail "the burned-in refusal says why: $out"
[ "$("$bin" ledger list --ledger "$work/r3.sqlite" | wc -l)" = 2 ] || fail "the two good files are recorded: $out"
run "$bin" analyze "$work/batch/missing.dcm" "$work/batch/b-truncated.dcm" "${record[@]}" --out "$work/r3" --ledger "$work/r3.sqlite"
expect_rc 13 "first failure missing (not-found)"
mkdir -p "$work/empty"
echo "notes" >"$work/empty/readme.txt"
run "$bin" analyze "$work/empty" "${record[@]}" --out "$work/r3" --ledger "$work/r3.sqlite"
expect_rc 17 "no image files"
run "$bin" analyze "$one" "${record[@]}" --site-key "$work/absent.key" --out "$work/r3" --ledger "$work/r3.sqlite"
expect_rc 16 "no site key"

# ---- a folder at a report's place that this ledger does not know: never overwritten ---------
taken=$(basename "$first")
mkdir -p "$work/r4/$taken"
echo "someone else's" >"$work/r4/$taken/report.json"
run "$bin" analyze "$work/in" "${record[@]}" --out "$work/r4" --ledger "$work/r4.sqlite"
expect_rc 2 "a folder that is in the way"
grep -q "exists but is not in the ledger" <<<"$out" || fail "the refusal says why: $out"
[ "$(cat "$work/r4/$taken/report.json")" = "someone else's" ] || fail "an unknown folder was overwritten"
[ "$("$bin" ledger list --ledger "$work/r4.sqlite" | wc -l)" = 2 ] || fail "the other two are recorded"

# ---- the node down: everything recorded, exit 20 ---------------------------------------------
dead=$($py -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
run "$bin" analyze "$work/in" --key-file "$work/doctor.key" --node "http://127.0.0.1:$dead" --out "$work/r5" --ledger "$work/r5.sqlite"
expect_rc 20 "the node down"
grep -q "3 analyses recorded and waiting to be anchored" <<<"$out" || fail "says how many wait: $out"
grep -q "medanchor sync" <<<"$out" || fail "says that sync anchors them: $out"
[ "$("$bin" ledger list --ledger "$work/r5.sqlite" --state pending | wc -l)" = 3 ] || fail "all three pending"

# ---- two processes, one new ledger ----------------------------------------------------------
for round in 1 2 3; do
    rm -rf "$work/r6"*
    set +e
    "$bin" analyze "$work/in" "${record[@]}" --out "$work/r6a" --ledger "$work/r6.sqlite" >"$work/a.txt" 2>&1 &
    a=$!
    "$bin" analyze "$work/in" "${record[@]}" --out "$work/r6b" --ledger "$work/r6.sqlite" >"$work/b.txt" 2>&1 &
    b=$!
    wait $a; rca=$?
    wait $b; rcb=$?
    set -e
    [ "$rca" = 0 ] && [ "$rcb" = 0 ] || fail "round $round: two processes on a new ledger: $rca $rcb: $(cat "$work/a.txt" "$work/b.txt")"
    [ "$("$bin" ledger list --ledger "$work/r6.sqlite" | wc -l)" = 3 ] || fail "round $round: each image once"
done
echo "analyze files: ok"
