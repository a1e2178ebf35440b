#!/usr/bin/env bash
# The deployment examples of docs/scale.md are valid: the systemd units pass `systemd-analyze
# verify` with no message at all (an unknown key is only a warning there: any output fails here),
# their ExecStart pointed at the built binary; the Kubernetes manifest parses as YAML (python3-yaml)
# into the objects docs/scale.md names, the worker's args run the `worker` subcommand with the
# options the binary accepts, and no Secret holds a key's bytes.
# Usage: deploy_files_test.sh MEDANCHOR_BINARY SOURCE_DIR
set -euo pipefail
bin=$(realpath "$1")
src=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

for f in "$src"/deploy/systemd/*; do
    sed "s|/usr/bin/medanchor|$bin|" "$f" >"$work/$(basename "$f")"
done
cp "$work/medanchor-worker@.service" "$work/medanchor-worker@1.service"
out=$(cd "$work" && systemd-analyze verify --man=no ./medanchor-worker@1.service \
    ./medanchor-anchorer.service 2>&1) || fail "systemd-analyze verify: $out"
[ -z "$out" ] || fail "systemd-analyze verify says: $out"
# The options the units pass exist (CLI11 refuses an unknown one with exit 2).
"$bin" worker --help | grep -q -- "--reports" || fail "worker --reports"
grep -q -- "--threads 1" "$src/deploy/systemd/medanchor-worker@.service" || fail "unit args"
"$bin" anchorer --help | grep -q -- "--key-file" || fail "anchorer --key-file"

/usr/bin/python3 - "$src/deploy/k8s/medanchor.yaml" <<'PY' || fail "the Kubernetes manifest"
import sys, yaml
docs = list(yaml.safe_load_all(open(sys.argv[1])))
kinds = [d["kind"] for d in docs]
for k in ("Deployment", "StatefulSet", "Secret", "PersistentVolumeClaim", "Service"):
    assert k in kinds, (k, kinds)
worker = next(d for d in docs if d["kind"] == "Deployment" and d["metadata"]["name"] == "medanchor-worker")
anchorer = next(d for d in docs if d["kind"] == "Deployment" and d["metadata"]["name"] == "medanchor-anchorer")
a = anchorer["spec"]["template"]["spec"]["containers"][0]
assert a["args"][0] == "anchorer" and "--key-file" in a["args"], a["args"]
assert anchorer["spec"]["replicas"] >= 2, "a standby beside the elected writer"
# Secrets are mounted 0400 root-owned: a pod running as a non-root user reads its key files only
# through fsGroup (kubelet gives the group read access).
for d in (worker, anchorer):
    sc = d["spec"]["template"]["spec"]["securityContext"]
    assert sc.get("runAsNonRoot") and sc.get("fsGroup") is not None, (d["metadata"]["name"], sc)
c = worker["spec"]["template"]["spec"]["containers"][0]
assert c["args"][0] == "worker" and "--reports" in c["args"], c["args"]
assert worker["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] >= 60
pvc = next(d for d in docs if d["kind"] == "PersistentVolumeClaim")
assert pvc["spec"]["accessModes"] == ["ReadWriteMany"], "the report root is shared"
secret = next(d for d in docs if d["kind"] == "Secret")
assert set(secret.get("stringData", {})) <= {"ledger"}, "no key bytes in the example"
PY
echo "ok: systemd units and the Kubernetes manifest"
