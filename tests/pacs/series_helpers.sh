# Sourced by the listener's end-to-end tests (tests/pacs/listen_e2e_test.sh,
# tests/http/serve_listen_e2e_test.sh).
# REQUIRES: $bin (the medanchor binary), $work (a fresh folder), fail().

# Polls COMMAND every half second for up to SECONDS; fails with MESSAGE.
wait_for() {
    local seconds=$1 message=$2; shift 2
    local end=$((SECONDS + seconds))
    until "$@" >/dev/null 2>&1; do
        [ $SECONDS -ge $end ] && fail "$message (waited ${seconds}s)"
        sleep 0.5
    done
}

# A series NAME of COUNT simulated slices (seed SEED: pixels no other scenario has) in
# $work/series/NAME/0.dcm..., given one patient, study and series with dcmodify (the simulator
# makes each slice its own).
make_series() {
    local name=$1 seed=$2 count=$3
    "$bin" simulate --out "$work/sim/$name" --seed "$seed" --count "$count" --threads 2 >/dev/null
    mkdir -p "$work/series/$name"
    local study="1.2.826.0.1.3680043.10.543.$seed.$RANDOM" series="1.2.826.0.1.3680043.10.543.$seed.$RANDOM.1"
    local i=0 f
    for f in "$work/sim/$name"/*.dcm; do cp "$f" "$work/series/$name/$i.dcm"; i=$((i + 1)); done
    dcmodify -nb -m "(0010,0020)=SIM-$name" -m "(0020,000d)=$study" -m "(0020,000e)=$series" "$work/series/$name"/*.dcm
}

# The value of DICOM element NAME in FILE (dcmdump).
uid_of() { dcmdump +P "$2" "$1" | sed -e 's/.*\[\(.*\)\].*/\1/'; }
