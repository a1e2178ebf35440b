#!/usr/bin/env bash
# medanchor against its Python peer (bench/peer/peer.py, bench/peer/README.md), side by side on
# the same N simulated CT slices (default 1000, 256x256, `medanchor simulate --seed 2024`):
#   1. the same answers: both run once, and `peer.py check` compares keyed hashes, findings,
#      confidences, model hash and the de-identified data sets, image by image;
#   2. the same clock: for each of ROUNDS rounds (default 3) and each thread count (1, 2),
#      `medanchor analyze --no-anchor`, the peer (at 2 threads in both of its parallel layouts)
#      and the floor (read + forward passes only: medanchor_bench_floor, and the peer's own) run
#      one after another, the order alternating between rounds;
#   3. the medians: images/s of each, analyze / peer (process against process, as the brief
#      asks, and against the peer's own loop clock, which leaves out Python's start, torch's
#      import and the model's load), and analyze as a fraction of the floor.
# Needs a Release build (cmake -S . -B build-release -DCMAKE_BUILD_TYPE=Release; MEDANCHOR_BUILD
# names another build folder) and Debian's python3-torch. Not part of CI. Prints figures.
#   bash bench/peer/run.sh [N] [ROUNDS]
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
build=${MEDANCHOR_BUILD:-$root/build-release}
m="$build/src/app/medanchor"
floor="$build/bench/medanchor_bench_floor"
peer=(/usr/bin/python3 "$root/bench/peer/peer.py")
n=${1:-1000}
rounds=${2:-3}
for f in "$m" "$floor"; do
    [ -x "$f" ] || { echo "run.sh: $f is missing: cmake --build $build --target medanchor medanchor_bench_floor" >&2; exit 2; }
done
/usr/bin/python3 -c 'import torch, pydicom' 2>/dev/null ||
    { echo "run.sh: needs Debian's python3-torch and python3-pydicom (apt-get install python3-torch python3-pydicom)" >&2; exit 2; }
build_type=$(sed -n 's/^CMAKE_BUILD_TYPE:STRING=//p' "$build/CMakeCache.txt")

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$m" simulate --out "$work/images" --count "$n" --seed 2024 --size 256 >/dev/null
"$m" site-key new "$work/site.key" >/dev/null 2>&1
"$m" keys new --out "$work/analyst.key" >/dev/null

echo "medanchor analyze --no-anchor vs the Python peer: $n simulated CT slices (256x256), reference model"
echo "machine: $(nproc) CPU(s),$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2); load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "medanchor: $build_type build ($build); engine: $(sed -n 's/.*"engine": "\(.*\)".*/\1/p' "$root/models/ct-nodule-sim/model.json") (the bundle's default)"
echo "peer: $(/usr/bin/python3 -c 'import sys, torch, pydicom; print(f"Python {sys.version.split()[0]}, torch {torch.__version__}, pydicom {pydicom.__version__}")')"

analyze() {  # threads out; exit 20 (not-yet-anchored) is what --no-anchor may answer
    local rc=0
    "$m" analyze "$work/images" --no-anchor --threads "$1" --site-key "$work/site.key" \
        --ledger "$2.sqlite" --out "$2" --key-file "$work/analyst.key" >"$2.log" 2>&1 || rc=$?
    if [ "$rc" -ne 0 ] && [ "$rc" -ne 20 ]; then
        echo "run.sh: medanchor analyze exited $rc:" >&2
        tail -5 "$2.log" >&2
        exit 1
    fi
}

echo "== 1. Same answers"
analyze 2 "$work/check-medanchor"
"${peer[@]}" run "$work/images" --out "$work/check-peer" --site-key "$work/site.key" --workers 2 >/dev/null
"${peer[@]}" check "$work/check-peer" "$work/check-medanchor"

echo "== 2. Timing: $rounds round(s), alternating"
results="$work/results.tsv"
: >"$results"
record() {  # name threads seconds (the round: $round)
    echo -e "$1\t$2\t$3\t$round" >>"$results"
    awk -v name="$1" -v t="$2" -v s="$3" -v n="$n" \
        'BEGIN { printf "  %-36s threads %d: %7.2f s  %6.1f images/s\n", name, t, s, n / s }'
}
json_seconds() {  # the "seconds" of a JSON line; fails on none
    local s
    s=$(sed -n 's/.*"seconds": *\([0-9.]*\).*/\1/p')
    [ -n "$s" ] || { echo "run.sh: no timing in the output" >&2; return 1; }
    echo "$s"
}
# Before each timed run: the last run's files removed and the disk quiet again. On a file system
# mounted with `discard` (this VM's), removing thousands of files sends the discards in the
# background, and a run started at once pays for them: round-to-round swings of up to 2x.
settle() {
    rm -rf "$@"
    sync
    sleep 2
}
run_medanchor() {  # timed as a whole process, start to exit
    settle "$work/out" "$work/out.sqlite"
    local start end
    start=$(date +%s.%N)
    analyze "$1" "$work/out"
    end=$(date +%s.%N)
    record "medanchor analyze --no-anchor" "$1" "$(awk -v s="$start" -v e="$end" 'BEGIN { printf "%.4f", e - s }')"
}
run_peer() {
    local layouts=("0 1")
    [ "$1" -gt 1 ] && layouts=("1 1" "2 1" "0 $1")
    for layout in "${layouts[@]}"; do
        read -r workers torch <<<"$layout"
        settle "$work/peer-out"
        local s start end
        start=$(date +%s.%N)
        s=$("${peer[@]}" run "$work/images" --out "$work/peer-out" --site-key "$work/site.key" \
            --workers "$workers" --torch-threads "$torch" | json_seconds)
        end=$(date +%s.%N)
        # Like with like: the whole process, as medanchor is timed; and the peer's own clock,
        # which starts after Python, torch and the warm model are loaded (its best light).
        record "peer (workers $workers, torch $torch)" "$1" "$(awk -v s="$start" -v e="$end" 'BEGIN { printf "%.4f", e - s }')"
        record "peer loop only (workers $workers, torch $torch)" "$1" "$s"
    done
}
run_floor() {
    local s
    settle
    s=$("$floor" "$work/images" --threads "$1" | json_seconds)
    record "floor: medanchor read + forward" "$1" "$s"
    settle
    s=$("${peer[@]}" floor "$work/images" --workers $(($1 > 1 ? $1 : 0)) | json_seconds)
    record "floor: peer read + forward" "$1" "$s"
}
for round in $(seq 1 "$rounds"); do
    for threads in 1 2; do
        echo "round $round, $threads thread(s)"
        if [ $((round % 2)) -eq 1 ]; then
            run_medanchor "$threads"; run_peer "$threads"; run_floor "$threads"
        else
            run_floor "$threads"; run_peer "$threads"; run_medanchor "$threads"
        fi
    done
done

echo "== 3. Medians over $rounds round(s) ($build_type build; load average now $(cut -d' ' -f1-3 /proc/loadavg))"
/usr/bin/python3 - "$results" "$n" <<'EOF'
import collections, statistics, sys
rows = [line.rstrip("\n").split("\t") for line in open(sys.argv[1])]
n = int(sys.argv[2])
med = collections.defaultdict(list)
by_round = collections.defaultdict(dict)
for name, threads, seconds, rnd in rows:
    med[(name, int(threads))].append(float(seconds))
    by_round[rnd][(name, int(threads))] = float(seconds)
rate = {k: n / statistics.median(v) for k, v in med.items()}
for threads in (1, 2):
    print(f"threads {threads}:")
    for (name, t), r in sorted(rate.items()):
        if t == threads:
            print(f"  {name:36s} {r:7.1f} images/s")
    m = rate[("medanchor analyze --no-anchor", threads)]
    peers = {k: v for k, v in rate.items() if k[1] == threads and k[0].startswith("peer (")}
    best_name, best = max(peers.items(), key=lambda kv: kv[1])
    loops = {k: v for k, v in rate.items() if k[1] == threads and k[0].startswith("peer loop")}
    loop_name, loop = max(loops.items(), key=lambda kv: kv[1])
    floor = rate[("floor: medanchor read + forward", threads)]
    print(f"  medanchor / peer at its best, process against process ({best_name[0]}): {m / best:.2f}x")
    print(f"  medanchor process / peer's own loop clock at its best ({loop_name[0]}): {m / loop:.2f}x")
    print(f"  medanchor analyze is {100 * m / floor:.0f}% of its floor (read + forward only)")
# Rounds drift with the machine (a shared VM): the two thread counts compared within each round.
a = "medanchor analyze --no-anchor"
ratios = [r[(a, 1)] / r[(a, 2)] for r in by_round.values() if (a, 1) in r and (a, 2) in r]
print("medanchor analyze, 2 threads / 1 thread, each round: " +
      ", ".join(f"{x:.2f}x" for x in ratios) + f"; median {statistics.median(ratios):.2f}x")
EOF
