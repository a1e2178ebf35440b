#!/usr/bin/python3
"""Builds the tiny test model bundles under tests/data/models/ (docs/model-bundle.md).

Deterministic: a fixed seed, fixed architectures, and a fixed set of golden inputs. Each bundle is
a folder with model.onnx (or model.ts), model.json, and for the golden-output test
golden_inputs.f32 (raw little-endian float32, NCHW, the inputs one after another) and golden.json
(their shape and the PyTorch outputs of the very module that was exported).

tiny-torchscript is a bundle as a MONAI user would wrap one (docs/model-bundle.md, "Wrapping a
MONAI bundle"): a network compiled with torch.jit.script by Debian's torch, saved as model.ts,
returning a dict of tensors, and a model.json (format medanchor-model/2, engine libtorch) written
for it. The C++ test runs it through LibTorch and matches PyTorch's outputs.

Why PyTorch is the reference: Debian 12's python3-onnx (1.12) has no reference evaluator and
onnxruntime is not packaged, so the Python reference run of "the same ONNX" is PyTorch itself on
the exact weights the exporter wrote. The C++ test (tests/inference/engine_test.cpp) runs the ONNX
through OpenCV dnn and matches these outputs to 1e-4.

Usage (Debian's python3-torch 1.13 and python3-onnx 1.12; CI never runs this):
    /usr/bin/python3 tools/models/make_test_models.py [OUT_DIR] [--only NAME]
(default tests/data/models; --only writes one bundle. Golden outputs of the ONNX bundles may move
in the 8th digit from one CPU to another; the tests' tolerances are far wider.)
"""
import argparse
import hashlib
import json
import pathlib
import sys
from typing import Dict

import onnx
import torch
import torch.nn.functional as F
from torch import nn

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "train"))
from torchscript import reproducible_hashing  # noqa: E402

SEED = 20260105
OPSET = 11
GOLDEN_COUNT = 4


class TinySoftmax(nn.Module):
    """1x32x32 -> 2 logits: two conv/relu/maxpool stages and a linear layer."""

    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(4, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2))
        self.classifier = nn.Linear(8 * 8 * 8, 2)

    def forward(self, x):
        return self.classifier(torch.flatten(self.features(x), 1))


class TinySigmoid(nn.Module):
    """3x24x32 (not square, on purpose) -> 3 independent logits, with batch norm and global
    average pooling."""

    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 6, 3, padding=1), nn.BatchNorm2d(6), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(6, 8, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1))
        self.classifier = nn.Linear(8, 3)

    def forward(self, x):
        return self.classifier(torch.flatten(self.features(x), 1))


class TinyTorchScript(nn.Module):
    """1x40x40 -> {"logits": 2 logits, "embedding": 8 features}: a network as MONAI ships one,
    compiled with torch.jit.script (the loop over blocks stays a loop), returning named outputs."""

    def __init__(self):
        super().__init__()
        self.blocks = nn.ModuleList([nn.Conv2d(1, 4, 3, padding=1), nn.Conv2d(4, 8, 3, padding=1)])
        self.norm = nn.BatchNorm2d(8)
        self.classifier = nn.Linear(8, 2)

    def forward(self, x: torch.Tensor) -> Dict[str, torch.Tensor]:
        for block in self.blocks:
            x = F.max_pool2d(F.relu(block(x)), 2)
        embedding = torch.flatten(F.adaptive_avg_pool2d(self.norm(x), 1), 1)
        return {"logits": self.classifier(embedding), "embedding": embedding}


class TinyHang(nn.Module):
    """A forward pass that never returns (a float counter stops growing at 2**24 and stays
    non-negative): the stand-in for a network or a read that hangs, for the worker's watchdog test
    (tests/app/queue_cli_test.sh). No golden outputs, for want of an output."""

    def __init__(self):
        super().__init__()
        self.classifier = nn.Linear(1, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n = torch.zeros(1)
        while bool(n[0] >= 0):
            n = n + 1
        return self.classifier(n.expand(x.shape[0], 1))


def export(module, shape, path):
    dummy = torch.zeros((1,) + shape)
    torch.onnx.export(module, dummy, str(path), opset_version=OPSET, input_names=["image"],
                      output_names=["logits"],
                      dynamic_axes={"image": {0: "batch"}, "logits": {0: "batch"}},
                      do_constant_folding=True)
    onnx.checker.check_model(onnx.load(str(path)))


def write_bundle(out, name, module, shape, manifest_extra, torchscript=False, golden=True):
    folder = out / name
    folder.mkdir(parents=True, exist_ok=True)
    module.eval()
    if torchscript:
        module = torch.jit.script(module)
        module.save(str(folder / "model.ts"))
        digest = hashlib.sha256((folder / "model.ts").read_bytes()).hexdigest()
        network = {"format": "medanchor-model/2", "name": name, "version": "1.0.0",
                   "engine": "libtorch", "networks": {"torchscript": {"sha256": digest}}}
    else:
        export(module, shape, folder / "model.onnx")
        digest = hashlib.sha256((folder / "model.onnx").read_bytes()).hexdigest()
        network = {"format": "medanchor-model/1", "name": name, "version": "1.0.0",
                   "model_sha256": digest}

    # Golden inputs: standard normal, the range a normalised image takes.
    generator = torch.Generator().manual_seed(SEED + 1)
    inputs = torch.randn((GOLDEN_COUNT,) + shape, generator=generator)
    if golden:
        with torch.no_grad():
            outputs = module(inputs)
        if isinstance(outputs, dict):
            outputs = outputs[manifest_extra["output"]["name"]]
        (folder / "golden_inputs.f32").write_bytes(inputs.numpy().astype("<f4").tobytes())
        golden = {"input_shape": [GOLDEN_COUNT] + list(shape),
                  "outputs": [[float(v) for v in row] for row in outputs.tolist()],
                  "reference": f"PyTorch {torch.__version__} forward of the exported module"}
        (folder / "golden.json").write_text(json.dumps(golden, indent=1) + "\n")

    manifest = {
        **network,
        **manifest_extra,
        "provenance": {
            "training_data": "none: random weights (seeded), for tests only",
            "generator": "tools/models/make_test_models.py",
            "seed": SEED,
            "torch": torch.__version__,
            **({"torchscript": "torch.jit.script"} if torchscript else {"opset": OPSET}),
        },
    }
    (folder / "model.json").write_text(json.dumps(manifest, indent=2) + "\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out", nargs="?", type=pathlib.Path,
                    default=pathlib.Path(__file__).resolve().parents[2] / "tests" / "data" / "models")
    ap.add_argument("--only", choices=["tiny-softmax", "tiny-sigmoid", "tiny-torchscript", "tiny-hang"])
    args = ap.parse_args()
    reproducible_hashing()  # model.ts bytes do not depend on Python's string hashing
    out = args.out
    torch.manual_seed(SEED)
    torch.use_deterministic_algorithms(True)
    softmax = TinySoftmax()
    sigmoid = TinySigmoid()
    scripted = TinyTorchScript()  # made after the others: their weights stay as they were
    # Non-trivial batch-norm statistics, so the exported (folded) normalisation is exercised.
    with torch.no_grad():
        bn = sigmoid.features[1]
        bn.running_mean.copy_(torch.linspace(-0.5, 0.5, 6))
        bn.running_var.copy_(torch.linspace(0.5, 2.0, 6))
        bn.weight.copy_(torch.linspace(0.8, 1.2, 6))
        bn.bias.copy_(torch.linspace(-0.1, 0.1, 6))

    with torch.no_grad():
        bn = scripted.norm
        bn.running_mean.copy_(torch.linspace(-0.2, 0.3, 8))
        bn.running_var.copy_(torch.linspace(0.6, 1.5, 8))
    bundles = {}
    bundles["tiny-softmax"] = lambda: write_bundle(out, "tiny-softmax", softmax, (1, 32, 32), {
        "task": {"type": "classification", "activation": "softmax",
                 "labels": [{"code": "class-a", "display": "Class A"},
                            {"code": "class-b", "display": "Class B"}]},
        "input": {"name": "image", "layout": "NCHW", "channels": 1, "height": 32, "width": 32,
                  "dtype": "float32"},
        "output": {"name": "logits", "kind": "logits"},
        "preprocessing": {
            "modalities": ["*"],
            "window": {"type": "percentile", "low": 0.5, "high": 99.5},
            "resize": {"policy": "stretch", "interpolation": "area"},
            "normalize": {"mean": [0.5], "std": [0.25]},
            "channels": "replicate"},
        "calibration": {"method": "temperature", "temperature": 1.5},
        "min_confidence_bp": 6000,
    })
    bundles["tiny-sigmoid"] = lambda: write_bundle(out, "tiny-sigmoid", sigmoid, (3, 24, 32), {
        "task": {"type": "classification", "activation": "sigmoid",
                 "labels": [{"code": "finding-x", "display": "Finding X"},
                            {"code": "finding-y", "display": "Finding Y"},
                            {"code": "finding-z", "display": "Finding Z"}]},
        "input": {"name": "image", "layout": "NCHW", "channels": 3, "height": 24, "width": 32,
                  "dtype": "float32"},
        "output": {"name": "logits", "kind": "logits"},
        "preprocessing": {
            "modalities": ["CT", "MR", "OT"],
            "window": {"type": "percentile", "low": 1, "high": 99},
            "resize": {"policy": "letterbox", "interpolation": "linear"},
            "normalize": {"mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]},
            "channels": "replicate"},
        "calibration": {"method": "none"},
        "min_confidence_bp": 5000,
    })
    # The two TorchScript bundles: a 1x40x40 CT input, two labels.
    ct40 = {
        "task": {"type": "classification", "activation": "softmax",
                 "labels": [{"code": "normal", "display": "Normal"},
                            {"code": "abnormal", "display": "Abnormal"}]},
        # TorchScript takes its input by position; the name is recorded only.
        "input": {"name": "image", "layout": "NCHW", "channels": 1, "height": 40, "width": 40,
                  "dtype": "float32"},
        # tiny-torchscript's forward returns a dict: the logits are its "logits" entry.
        "output": {"name": "logits", "kind": "logits"},
        "preprocessing": {
            "modalities": ["CT", "OT"],
            "window": {"type": "fixed", "center": 40, "width": 400},
            "resize": {"policy": "letterbox", "interpolation": "area"},
            "normalize": {"mean": [0.5], "std": [0.5]},
            "channels": "replicate"},
    }
    bundles["tiny-torchscript"] = lambda: write_bundle(out, "tiny-torchscript", scripted, (1, 40, 40), {
        **ct40,
        "calibration": {"method": "temperature", "temperature": 1.2},
        "min_confidence_bp": 7000,
    }, torchscript=True)
    hang = TinyHang()  # made last: the others' weights stay as they were
    bundles["tiny-hang"] = lambda: write_bundle(out, "tiny-hang", hang, (1, 40, 40), {
        **ct40,
        "calibration": {"method": "none"},
        "min_confidence_bp": 5000,
    }, torchscript=True, golden=False)
    for name, write in bundles.items():
        if args.only in (None, name):
            write()


if __name__ == "__main__":
    main()
