#!/usr/bin/python3
"""Writes a ResNet-18-shaped model bundle with random weights, for the inference benchmark only.

    /usr/bin/python3 tools/models/make_resnet18.py [OUT]    # default build/bench-models/resnet18

ResNet-18 (He et al. 2016: 7x7 stem, 4 stages of 2 basic blocks, 64-512 channels), 3 x 224 x 224
input, 2 outputs, 11.2 M parameters, random weights from a fixed seed: the size of network a site
might bring, to measure what medanchor's engine does with one. Not a model: it predicts nothing.
Needs Debian's python3-torch (tools/train/apt-packages.txt). 45 MB, so not committed.
"""
import hashlib
import json
import os
import sys

import torch
import torch.nn as nn

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


class Block(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.down = None
        if stride != 1 or cin != cout:
            self.down = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        y = torch.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return torch.relu(y + (x if self.down is None else self.down(x)))


class ResNet18(nn.Module):
    def __init__(self, classes=2):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 64, 7, 2, 3, bias=False), nn.BatchNorm2d(64), nn.ReLU(),
                                  nn.MaxPool2d(3, 2, 1))
        layers, cin = [], 64
        for cout, stride in [(64, 1), (128, 2), (256, 2), (512, 2)]:
            layers += [Block(cin, cout, stride), Block(cout, cout, 1)]
            cin = cout
        self.layers = nn.Sequential(*layers)
        self.fc = nn.Linear(512, classes)

    def forward(self, x):
        x = self.layers(self.stem(x))
        return self.fc(torch.flatten(nn.functional.adaptive_avg_pool2d(x, 1), 1))


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "build", "bench-models", "resnet18")
    os.makedirs(out, exist_ok=True)
    torch.manual_seed(18)
    model = ResNet18()
    # Random batch-norm statistics too: with the defaults every fused bias would be the same zero
    # vector, which the exporter shares through Identity nodes that OpenCV 4.6 cannot import.
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.weight.uniform_(0.5, 1.5)
                m.bias.normal_(0, 0.1)
                m.running_mean.normal_(0, 0.1)
                m.running_var.uniform_(0.5, 1.5)
    model.eval()
    onnx_path = os.path.join(out, "model.onnx")
    torch.onnx.export(model, torch.zeros(1, 3, 224, 224), onnx_path, input_names=["image"],
                      output_names=["logits"], dynamic_axes={"image": {0: "batch"}, "logits": {0: "batch"}},
                      opset_version=11, do_constant_folding=True)
    sha = hashlib.sha256(open(onnx_path, "rb").read()).hexdigest()
    manifest = {
        "format": "medanchor-model/1", "name": "resnet18-random", "version": "0.0.0", "model_sha256": sha,
        "task": {"type": "classification", "activation": "softmax",
                 "labels": [{"code": "a", "display": "class a"}, {"code": "b", "display": "class b"}]},
        "input": {"name": "image", "layout": "NCHW", "channels": 3, "height": 224, "width": 224, "dtype": "float32"},
        "output": {"name": "logits", "kind": "logits"},
        "preprocessing": {"modalities": ["*"], "window": {"type": "percentile", "low": 0.5, "high": 99.5},
                          "resize": {"policy": "stretch", "interpolation": "area"},
                          "normalize": {"mean": [0.5], "std": [0.25]}, "channels": "replicate"},
        "calibration": {"method": "none"},
        "min_confidence_bp": 0,
        "provenance": {"purpose": "benchmark only: random weights, predicts nothing",
                       "parameters": sum(p.numel() for p in model.parameters())},
    }
    with open(os.path.join(out, "model.json"), "w") as f:
        json.dump(manifest, f, indent=2)
        f.write("\n")
    print(f"wrote {out} ({os.path.getsize(onnx_path)} bytes)")


if __name__ == "__main__":
    main()
