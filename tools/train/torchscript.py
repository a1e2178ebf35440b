#!/usr/bin/python3
"""Writes the TorchScript network (model.ts) of the reference model from its ONNX network.

The reference bundle (models/ct-nodule-sim) carries one network in two formats: model.onnx, run by
OpenCV dnn, and model.ts, run by LibTorch (docs/model-bundle.md). Both must compute the same
function with the same weights, so model.ts is built FROM model.onnx: the ONNX graph is checked to
be the architecture train.py exports (four conv 3x3 -> ReLU -> max pool 2 blocks, batch norm folded
into each convolution by the exporter, global average pool, linear), its weights are copied into an
equivalent PyTorch module, the module is compiled with torch.jit.script and saved. The manifest is
then rewritten in format medanchor-model/2, listing both networks with their SHA-256 and naming
the engine that runs by default.

    /usr/bin/python3 tools/train/torchscript.py [--bundle models/ct-nodule-sim] [--engine libtorch]

train.py calls write_networks() after its ONNX export, so a retrained bundle gets both files the
same way. Checks before writing: the TorchScript module reproduces the golden logits of the bundle
(golden.json: PyTorch's outputs of the trained module on samples/ct) to 1e-5. Needs Debian's
python3-torch, python3-onnx, python3-numpy and python3-pydicom (tools/train/apt-packages.txt).
"""
import argparse
import hashlib
import json
import os
import sys

import numpy as np
import onnx
import torch
import torch.nn as nn
import torch.nn.functional as F
from onnx import numpy_helper

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
CHANNELS = [1, 16, 32, 64, 64]
# The ONNX graph train.py's export produces, node by node.
EXPECTED_OPS = ["Conv", "Relu", "MaxPool"] * 4 + ["GlobalAveragePool", "Flatten", "Gemm"]
ENGINES = {"opencv-dnn": ("onnx", "model.onnx"), "libtorch": ("torchscript", "model.ts")}
# The engine the reference bundle runs by default: the faster one on the reference model, measured
# (docs/model-bundle.md, "Engines").
DEFAULT_ENGINE = "libtorch"


class FoldedNoduleNet(nn.Module):
    """train.NoduleNet in inference form: each convolution carries its folded batch norm."""

    def __init__(self):
        super().__init__()
        self.convs = nn.ModuleList(nn.Conv2d(a, b, 3, padding=1) for a, b in zip(CHANNELS, CHANNELS[1:]))
        self.head = nn.Linear(CHANNELS[-1], 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for conv in self.convs:
            x = F.max_pool2d(F.relu(conv(x)), 2)
        return self.head(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


def from_onnx(onnx_path):
    """The FoldedNoduleNet holding model.onnx's weights; refuses a graph of another shape."""
    graph = onnx.load(onnx_path).graph
    ops = [n.op_type for n in graph.node]
    if ops != EXPECTED_OPS:
        sys.exit(f"torchscript: {onnx_path}: graph is {ops}, not the ct-nodule-sim architecture")
    weights = {i.name: torch.from_numpy(numpy_helper.to_array(i).copy()) for i in graph.initializer}
    model = FoldedNoduleNet()
    convs = [n for n in graph.node if n.op_type == "Conv"]
    gemm = graph.node[-1]
    attrs = {a.name: onnx.helper.get_attribute_value(a) for a in gemm.attribute}
    if attrs.get("transB") != 1 or attrs.get("alpha", 1.0) != 1.0 or attrs.get("beta", 1.0) != 1.0:
        sys.exit(f"torchscript: {onnx_path}: Gemm attributes {attrs} are not a plain linear layer")
    with torch.no_grad():
        for conv, node in zip(model.convs, convs):
            conv.weight.copy_(weights[node.input[1]])
            conv.bias.copy_(weights[node.input[2]])
        model.head.weight.copy_(weights[gemm.input[1]])
        model.head.bias.copy_(weights[gemm.input[2]])
    return model.eval()


def reproducible_hashing():
    """Re-runs this process with PYTHONHASHSEED=0 unless it already has it: torch.jit.script writes
    a module's constants in set order, which follows Python's per-process string hashing, so without
    a fixed seed the same module saves to different bytes (and a different SHA-256) each run."""
    if os.environ.get("PYTHONHASHSEED") != "0":
        os.execve(sys.executable, [sys.executable] + sys.argv, {**os.environ, "PYTHONHASHSEED": "0"})


def sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def write_torchscript(bundle):
    """Writes bundle/model.ts from bundle/model.onnx; returns the scripted module."""
    scripted = torch.jit.script(from_onnx(os.path.join(bundle, "model.onnx")))
    scripted.save(os.path.join(bundle, "model.ts"))
    return scripted


def networks_fields(bundle, engine):
    """The manifest's "engine" and "networks" (format medanchor-model/2) for the files present."""
    networks = {fmt: {"sha256": sha256(os.path.join(bundle, name))}
                for fmt, name in ENGINES.values() if os.path.exists(os.path.join(bundle, name))}
    if ENGINES[engine][0] not in networks:
        sys.exit(f"torchscript: {bundle}: engine {engine} needs {ENGINES[engine][1]}")
    return {"engine": engine, "networks": networks}


def manifest_v2(manifest, bundle, engine):
    """`manifest` (format 1 or 2) in format 2, key order kept, with the networks of `bundle`."""
    out = {}
    for key, value in manifest.items():
        if key == "format":
            out["format"] = "medanchor-model/2"
        elif key in ("model_sha256", "engine", "networks"):
            continue
        else:
            out[key] = value
        if key == "version":
            out.update(networks_fields(bundle, engine))
    framework = out.get("provenance", {}).get("framework")
    if framework and "TorchScript" not in framework:
        out["provenance"]["framework"] = f"{framework}; TorchScript (torch.jit.script, torch {torch.__version__})"
    return out


def check_golden(bundle, scripted, tolerance=1e-5):
    """The TorchScript module reproduces golden.json's logits on samples/ct (the C++ test's cases)."""
    sys.path.insert(0, os.path.dirname(__file__))
    import train  # noqa: E402 (the one preprocessing of the training pipeline)
    with open(os.path.join(bundle, "model.json")) as f:
        norm = json.load(f)["preprocessing"]["normalize"]
    with open(os.path.join(bundle, "golden.json")) as f:
        cases = json.load(f)["cases"]
    worst = 0.0
    for case in cases:
        x = train.preprocess(os.path.join(ROOT, case["file"]), norm["mean"][0], norm["std"][0])
        with torch.inference_mode():
            got = scripted(torch.from_numpy(x)[None, None]).numpy()[0]
        worst = max(worst, float(np.abs(got - np.array(case["logits"], dtype=np.float32)).max()))
    if worst > tolerance:
        sys.exit(f"torchscript: model.ts differs from golden.json by {worst} (> {tolerance})")
    return worst


def write_networks(bundle, engine):
    """model.ts from model.onnx, checked against golden.json, and model.json in format 2."""
    scripted = write_torchscript(bundle)
    worst = check_golden(bundle, scripted)
    path = os.path.join(bundle, "model.json")
    with open(path) as f:
        manifest = json.load(f)
    with open(path, "w") as f:
        json.dump(manifest_v2(manifest, bundle, engine), f, indent=2)
        f.write("\n")
    return worst


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bundle", default=os.path.join(ROOT, "models", "ct-nodule-sim"))
    ap.add_argument("--engine", choices=sorted(ENGINES), default=DEFAULT_ENGINE,
                    help="the engine that runs by default (docs/model-bundle.md says why)")
    args = ap.parse_args()
    reproducible_hashing()
    torch.set_num_threads(1)
    worst = write_networks(args.bundle, args.engine)
    print(f"wrote {args.bundle}/model.ts (sha256 {sha256(os.path.join(args.bundle, 'model.ts'))}); "
          f"largest difference from golden.json {worst:.2e}; model.json: medanchor-model/2, engine {args.engine}")


if __name__ == "__main__":
    main()
