#!/usr/bin/python3
"""Trains medanchor's reference model, ct-nodule-sim, from simulated CT and writes its bundle.

One command, one seed, the same bundle (docs/model-bundle.md, models/ct-nodule-sim/MODEL_CARD.md):

    bash tools/train/train.sh            # = /usr/bin/python3 tools/train/train.py --seed 1

Steps: `medanchor simulate` writes three disjoint simulated sets (train, validation, test: seeds
derived from --seed); each slice is read with pydicom and preprocessed exactly as the bundle's
manifest tells the C++ pipeline to (window -> area resize -> normalise); a small CNN is trained
(PyTorch, CPU, deterministic); a temperature is fitted on the validation set; the test set gives the
model card's figures (AUC, sensitivity and specificity, expected calibration error); the network is
exported to ONNX (opset 11, which Debian's OpenCV 4.6 dnn reads) and golden outputs are written for
the C++ test. Needs Debian's python3-torch, python3-numpy and python3-pydicom
(tools/train/apt-packages.txt) and a built `medanchor`.
"""
import argparse
import csv
import datetime
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time

import numpy as np
import pydicom
import torch
import torch.nn as nn
import torch.nn.functional as F

import torchscript

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))

NAME = "ct-nodule-sim"
VERSION = "1.0.0"
SIZE = 128          # network input, pixels
SIM_SIZE = 256      # simulated slice, pixels (resized 2:1 with area interpolation)
WINDOW = (-600.0, 1500.0)  # lung window, centre and width in HU
MIN_CONFIDENCE_BP = 7000
LABELS = [
    {"code": "nodule-absent", "display": "No lung nodule seen"},
    {"code": "nodule-present", "display": "Lung nodule present"},
]


def log(msg):
    print(f"[train {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def simulate(medanchor, out, seed, count, threads):
    if os.path.exists(os.path.join(out, "truth.csv")):
        log(f"reusing {out}")
    else:
        log(f"simulating {count} slices, seed {seed} -> {out}")
        subprocess.run([medanchor, "simulate", "--out", out, "--seed", str(seed), "--count", str(count),
                        "--size", str(SIM_SIZE), "--threads", str(threads), "--force"], check=True)
    with open(os.path.join(out, "truth.csv")) as f:
        rows = list(csv.DictReader(f))
    return [os.path.join(out, r["file"]) for r in rows], np.array([int(r["nodule"]) for r in rows])


def window01(hu):
    centre, width = WINDOW
    return np.clip((hu - (centre - width / 2.0)) / width, 0.0, 1.0).astype(np.float32)


def preprocess(path, mean, std):
    """Exactly the C++ pipeline for this manifest: Modality LUT, window, 2:1 area resize, normalise."""
    ds = pydicom.dcmread(path)
    hu = ds.pixel_array.astype(np.float32) * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
    x = window01(hu)
    h, w = x.shape
    x = x.reshape(h // 2, 2, w // 2, 2).mean(axis=(1, 3), dtype=np.float32)
    return ((x - mean) / std).astype(np.float32)


def load(paths, mean, std):
    return np.stack([preprocess(p, mean, std) for p in paths])[:, None, :, :]


class NoduleNet(nn.Module):
    """Four conv blocks (3x3 conv, batch norm, ReLU, 2x2 max pool), global average pool, linear."""

    def __init__(self):
        super().__init__()
        chans = [1, 16, 32, 64, 64]
        self.blocks = nn.ModuleList(
            nn.Sequential(nn.Conv2d(a, b, 3, padding=1, bias=False), nn.BatchNorm2d(b), nn.ReLU(), nn.MaxPool2d(2))
            for a, b in zip(chans, chans[1:]))
        self.head = nn.Linear(chans[-1], len(LABELS))

    def forward(self, x):
        for b in self.blocks:
            x = b(x)
        return self.head(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


def predict_logits(model, x, batch=256):
    model.eval()
    with torch.no_grad():
        return torch.cat([model(torch.from_numpy(x[i:i + batch])) for i in range(0, len(x), batch)]).numpy()


def softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def auc(scores, labels):
    """Area under the ROC curve by the Mann-Whitney U statistic (ties count one half)."""
    order = np.argsort(scores, kind="mergesort")
    ranks = np.empty(len(scores))
    sorted_scores = scores[order]
    i = 0
    while i < len(scores):
        j = i
        while j + 1 < len(scores) and sorted_scores[j + 1] == sorted_scores[i]:
            j += 1
        ranks[order[i:j + 1]] = (i + j) / 2.0 + 1
        i = j + 1
    pos = labels == 1
    n_pos, n_neg = pos.sum(), (~pos).sum()
    return float((ranks[pos].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def ece(probs, labels, bins=10):
    """Expected calibration error of the reported finding's confidence, equal-width bins."""
    conf = probs.max(axis=1)
    correct = probs.argmax(axis=1) == labels
    total = 0.0
    for k in range(bins):
        lo, hi = k / bins, (k + 1) / bins
        sel = (conf > lo) & (conf <= hi) if k else (conf >= lo) & (conf <= hi)
        if sel.any():
            total += sel.mean() * abs(conf[sel].mean() - correct[sel].mean())
    return float(total)


def fit_temperature(logits, labels):
    """The temperature minimising the validation negative log-likelihood (golden-section search)."""
    def nll(t):
        p = softmax(logits / t)
        return -np.mean(np.log(np.clip(p[np.arange(len(labels)), labels], 1e-12, None)))
    lo, hi = 0.05, 20.0
    g = (np.sqrt(5) - 1) / 2
    a, b = hi - g * (hi - lo), lo + g * (hi - lo)
    for _ in range(100):
        if nll(a) < nll(b):
            hi, b = b, a
            a = hi - g * (hi - lo)
        else:
            lo, a = a, b
            b = lo + g * (hi - lo)
    return float(round((lo + hi) / 2, 4))


def metrics(logits, labels, temperature):
    p = softmax(logits / temperature)
    decided = p.argmax(axis=1)
    pos, neg = labels == 1, labels == 0
    confident = p.max(axis=1) * 10000 >= MIN_CONFIDENCE_BP

    def share(hits):  # None when nothing was selected
        return round(float(hits.mean()), 4) if hits.size else None

    return {
        "n": int(len(labels)),
        "prevalence": round(float(pos.mean()), 4),
        "auc": round(auc(p[:, 1], labels), 4),
        "accuracy": round(float((decided == labels).mean()), 4),
        "sensitivity": round(float((decided[pos] == 1).mean()), 4),
        "specificity": round(float((decided[neg] == 0).mean()), 4),
        "ece": round(ece(p, labels), 4),
        "ece_uncalibrated": round(ece(softmax(logits), labels), 4),
        "share_at_or_above_min_confidence": round(float(confident.mean()), 4),
        "accuracy_at_or_above_min_confidence": share(decided[confident] == labels[confident]),
        "sensitivity_at_or_above_min_confidence": share(decided[confident & pos] == 1),
        "specificity_at_or_above_min_confidence": share(decided[confident & neg] == 0),
    }


def model_card(m, t, seeds, counts):
    pct = lambda v: "n/a" if v is None else f"{100 * v:.1f} %"
    return f"""# Model card: {m['name']} {m['version']}

**Not for clinical use.** This model was trained and tested on simulated CT only. It has never seen
a patient's image and says nothing about real lungs. It exists so that medanchor's pipeline runs
end to end out of the box, with a model whose behaviour is measured and stated honestly.

## What it does
Reads one axial chest CT slice (DICOM, Hounsfield units) and says whether a lung nodule is present:
`nodule-present` or `nodule-absent`, with a calibrated confidence. Bundle: `model.onnx` (ONNX opset
11, sha256 `{m['model_sha256']}`), `model.ts` (the same weights as TorchScript, for LibTorch; its
sha256 is in model.json), `model.json` (docs/model-bundle.md).

- Input: 1 x 1 x 128 x 128 float32; lung window centre {WINDOW[0]:g} HU, width {WINDOW[1]:g} HU to [0, 1],
  area resize from 256 x 256, normalised with mean {m['preprocessing']['normalize']['mean'][0]} and std
  {m['preprocessing']['normalize']['std'][0]}.
- Network: {m['provenance']['architecture']}.
- Calibration: temperature scaling, T = {m['calibration']['temperature']}, fitted on the validation set
  (negative log-likelihood).
- Bundle threshold: {m['min_confidence_bp']} basis points. Below it a result is "needs human review" and is not anchored.

## Training data
`medanchor simulate` (docs/ctsim.md): randomised thorax phantoms (body, fat, ribs, lungs with
vessels, heart, aorta, spine), half of them with one nodule of 4-18 mm diameter and -450 to +80 HU
in a lung, projected (parallel beam, 240 views), photon noise at 5,000 to 200,000 photons per ray,
filtered back-projection, 256 x 256 over 360 mm. Three disjoint sets, by seed:

| set | seed | slices |
| --- | --- | --- |
| train | {seeds['train']} | {counts['train']} |
| validation (early checks, temperature) | {seeds['validation']} | {counts['validation']} |
| test (the figures below) | {seeds['test']} | {counts['test']} |

Training: AdamW, one-cycle learning rate (max 3e-3), batch 64, left-right mirroring, cross-entropy,
on CPU with deterministic algorithms. Reproduce with `bash tools/train/train.sh` (seed 1): the
simulated sets are identical byte for byte; the weights are deterministic for a given machine and
thread count, but another CPU or thread count may round differently, giving figures that differ
in the last digits (retraining took about 25 minutes on 2 cores).

## Measured on the held-out simulated test set (n = {t['n']}, prevalence {pct(t['prevalence'])})

| measure | value |
| --- | --- |
| AUC (nodule-present probability) | {t['auc']:.4f} |
| accuracy (argmax) | {pct(t['accuracy'])} |
| sensitivity / specificity (argmax, i.e. p >= 0.5) | {pct(t['sensitivity'])} / {pct(t['specificity'])} |
| share of slices at or above the bundle threshold ({m['min_confidence_bp']} bp) | {pct(t['share_at_or_above_min_confidence'])} |
| accuracy / sensitivity / specificity among those | {pct(t['accuracy_at_or_above_min_confidence'])} / {pct(t['sensitivity_at_or_above_min_confidence'])} / {pct(t['specificity_at_or_above_min_confidence'])} |
| expected calibration error (10 bins), calibrated | {t['ece']:.4f} |
| expected calibration error before temperature scaling | {t['ece_uncalibrated']:.4f} |

The C++ test `ReferenceModel.AucOnFreshSimulatedData` generates a new simulated set with a seed
never used here and checks, through medanchor's own decoding, preprocessing and inference, that the
AUC is at least the figure above minus 0.05.

## Limits
- Simulated anatomy and physics only: no real scanner, reconstruction kernel, motion, beam
  hardening, scatter, contrast agent, disease other than a single round nodule, or children.
- Small and faint nodules (under about 6 mm, or ground-glass near -450 HU at low dose) are the
  misses; vessels seen end-on are the false alarms.
- One slice at a time; no 3-D context.
"""


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seed", type=int, default=1, help="the one seed everything derives from (default 1)")
    ap.add_argument("--medanchor", default=os.path.join(ROOT, "build", "src", "app", "medanchor"))
    ap.add_argument("--work", default=os.path.join(ROOT, "build", "train"), help="simulated sets, kept between runs")
    ap.add_argument("--out", default=os.path.join(ROOT, "models", NAME), help="the bundle folder written")
    ap.add_argument("--train", type=int, default=6000)
    ap.add_argument("--val", type=int, default=2000)
    ap.add_argument("--test", type=int, default=1000)
    ap.add_argument("--epochs", type=int, default=24)
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    args = ap.parse_args()
    torchscript.reproducible_hashing()  # model.ts bytes must not depend on Python's hash seed
    if not os.access(args.medanchor, os.X_OK):
        sys.exit(f"train: {args.medanchor} is not an executable; build first (cmake --build build)")

    torch.manual_seed(args.seed)
    np.random.seed(args.seed)
    torch.set_num_threads(args.threads)
    torch.use_deterministic_algorithms(True)
    seeds = {"train": 1000 * args.seed + 1, "validation": 1000 * args.seed + 2, "test": 1000 * args.seed + 3}
    counts = {"train": args.train, "validation": args.val, "test": args.test}
    sets = {k: simulate(args.medanchor, os.path.join(args.work, f"{k}-{s}-{counts[k]}"), s, counts[k], args.threads)
            for k, s in seeds.items()}

    # Normalisation from the training set's windowed, resized pixels.
    probe = np.stack([preprocess(p, 0.0, 1.0) for p in sets["train"][0][:500]])
    mean, std = round(float(probe.mean()), 3), round(float(probe.std()), 3)
    log(f"normalisation mean {mean} std {std}")
    data = {k: (load(paths, mean, std), labels) for k, (paths, labels) in sets.items()}

    model = NoduleNet()
    opt = torch.optim.AdamW(model.parameters(), lr=2e-3, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=3e-3, total_steps=args.epochs * ((args.train + 63) // 64))
    xt, yt = data["train"]
    gen = torch.Generator().manual_seed(args.seed)
    for epoch in range(args.epochs):
        model.train()
        perm = torch.randperm(len(xt), generator=gen).numpy()
        total = 0.0
        for i in range(0, len(xt), 64):
            idx = perm[i:i + 64]
            x = torch.from_numpy(xt[idx])
            flip = torch.rand(len(idx), generator=gen) < 0.5  # left-right mirror augmentation
            x = torch.where(flip[:, None, None, None], torch.flip(x, dims=[3]), x)
            loss = F.cross_entropy(model(x), torch.from_numpy(yt[idx]))
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            total += loss.item() * len(idx)
        val_logits = predict_logits(model, data["validation"][0])
        log(f"epoch {epoch + 1}/{args.epochs}: train loss {total / len(xt):.4f}, "
            f"validation AUC {auc(softmax(val_logits)[:, 1], data['validation'][1]):.4f}")

    temperature = fit_temperature(predict_logits(model, data["validation"][0]), data["validation"][1])
    test_logits = predict_logits(model, data["test"][0])
    test = metrics(test_logits, data["test"][1], temperature)
    log(f"temperature {temperature}; test: {json.dumps(test)}")

    # Export and the bundle.
    os.makedirs(args.out, exist_ok=True)
    onnx_path = os.path.join(args.out, "model.onnx")
    model.eval()
    torch.onnx.export(model, torch.zeros(1, 1, SIZE, SIZE), onnx_path, input_names=["image"], output_names=["logits"],
                      dynamic_axes={"image": {0: "batch"}, "logits": {0: "batch"}}, opset_version=11,
                      do_constant_folding=True)
    with open(onnx_path, "rb") as f:
        sha = hashlib.sha256(f.read()).hexdigest()
    manifest = {
        "format": "medanchor-model/1",
        "name": NAME,
        "version": VERSION,
        "model_sha256": sha,
        "task": {"type": "classification", "activation": "softmax", "labels": LABELS},
        "input": {"name": "image", "layout": "NCHW", "channels": 1, "height": SIZE, "width": SIZE, "dtype": "float32"},
        "output": {"name": "logits", "kind": "logits"},
        "preprocessing": {
            "modalities": ["CT"],
            "window": {"type": "fixed", "center": WINDOW[0], "width": WINDOW[1]},
            "resize": {"policy": "stretch", "interpolation": "area"},
            "normalize": {"mean": [mean], "std": [std]},
            "channels": "replicate",
        },
        "calibration": {"method": "temperature", "temperature": temperature},
        "min_confidence_bp": MIN_CONFIDENCE_BP,
        "provenance": {
            "card": "MODEL_CARD.md",
            "trained": datetime.date.today().isoformat(),
            "training_command": f"bash tools/train/train.sh (tools/train/train.py --seed {args.seed})",
            "training_data": (f"medanchor simulate: simulated chest CT, {SIM_SIZE}x{SIM_SIZE}, seeds "
                              f"{seeds['train']} (train, {args.train}), {seeds['validation']} (validation, {args.val}), "
                              f"{seeds['test']} (test, {args.test}); no patient data"),
            "architecture": "4 x (conv3x3, batch norm, ReLU, max pool 2), global average pool, linear; "
                            f"{sum(p.numel() for p in model.parameters())} parameters",
            "framework": f"PyTorch {torch.__version__}, ONNX opset 11",  # torchscript.py adds TorchScript
            "test_metrics": test,
        },
    }
    with open(os.path.join(args.out, "model.json"), "w") as f:
        json.dump(manifest, f, indent=2)
        f.write("\n")

    # Golden outputs for the C++ test: the bundled sample slices through this exact preprocessing
    # and the exported weights.
    samples = os.path.join(ROOT, "samples", "ct")
    golden = []
    if os.path.isdir(samples):
        files = sorted(f for f in os.listdir(samples) if f.endswith(".dcm"))
        x = np.stack([preprocess(os.path.join(samples, f), mean, std) for f in files])[:, None]
        logits = predict_logits(model, x)
        probs = softmax(logits / temperature)
        golden = [{"file": f"samples/ct/{f}", "logits": [float(v) for v in l], "probabilities": [float(v) for v in p]}
                  for f, l, p in zip(files, logits, probs)]
    with open(os.path.join(args.out, "golden.json"), "w") as f:
        json.dump({"generator": "tools/train/train.py", "reference": f"PyTorch {torch.__version__}", "cases": golden},
                  f, indent=2)
        f.write("\n")
    with open(os.path.join(args.out, "MODEL_CARD.md"), "w") as f:
        f.write(model_card(manifest, test, seeds, counts))
    # model.ts from model.onnx's weights, checked against golden.json; model.json in format 2.
    worst = torchscript.write_networks(args.out, torchscript.DEFAULT_ENGINE)
    log(f"wrote {args.out}: model.onnx ({os.path.getsize(onnx_path)} bytes, sha256 {sha}), model.ts "
        f"(within {worst:.1e} of golden.json), model.json, golden.json")


if __name__ == "__main__":
    main()
