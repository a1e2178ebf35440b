#!/usr/bin/python3
"""The Python peer of `medanchor analyze --no-anchor`: the same job, written as a competent engineer
would write it in Python, for the side-by-side benchmark of issue 16 (bench/peer/README.md).

Per DICOM file: read it with pydicom; hash the pixels with HMAC-SHA-256 under the site key, in
medanchor's canonical form (docs/image-hash.md), so the keyed hash is the one medanchor anchors;
de-identify a copy the way medanchor does for these files (PS3.15 E.1-1 as docs/deid.md applies it:
the same actions, the same HMAC-derived 2.25 UIDs) and save it; preprocess exactly as the bundle's
manifest says (window, 2:1 area resize, normalise); classify with the bundle's TorchScript network
(model.ts) in PyTorch; calibrate (temperature softmax); write a canonical JSON report per image into
OUT/<first 16 hash digits>/ beside the de-identified copy, as medanchor lays its reports out.

Every fair advantage: the network is frozen and optimised for inference (oneDNN, packed weights),
run under torch.inference_mode in batches; reading, hashing, de-identifying and preprocessing run in
DataLoader worker processes (--workers) while the main process runs the network and writes reports;
the time counted is the loop alone, after the interpreter has started, imported torch and loaded
the model (medanchor is timed as a whole process). What the peer does not do that medanchor does:
the FHIR and DICOM SR reports, the ledger (SQLite) and the saliency option.

Scope: what `medanchor simulate` writes (single-frame, MONOCHROME2, 16-bit native little-endian
DICOM CT) and a bundle with a TorchScript network, a fixed window, stretch/area resize and softmax
output; anything else is refused by name.

    peer.py run IMAGES --out DIR --site-key FILE [--model BUNDLE] [--workers W] [--torch-threads T]
    peer.py floor IMAGES [--model BUNDLE] [--workers W] [--torch-threads T]   # read + forward only
    peer.py check PEER_OUT MEDANCHOR_OUT                                      # same answers?

`run` and `floor` print one JSON line: images, seconds (the loop), images_per_s, startup_seconds.
Needs Debian's python3-torch, python3-numpy and python3-pydicom; not part of CI.
"""
import argparse
import datetime
import hashlib
import hmac
import json
import os
import struct
import sys
import time

START = time.perf_counter()

import numpy as np  # noqa: E402
import pydicom  # noqa: E402
import torch  # noqa: E402
from pydicom.dataset import Dataset  # noqa: E402
from torch.utils.data import DataLoader  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
UID_DOMAIN = b"medanchor-deid-uid-v1:"
# PS3.15 table E.1-1 as medanchor applies it (src/image/deid_profile.cpp, docs/deid.md), for the
# attributes `medanchor simulate` writes; every other attribute of these files is kept (K).
PROFILE = {
    "SOPInstanceUID": "U", "StudyDate": "Z", "StudyTime": "Z", "AccessionNumber": "Z",
    "ReferringPhysicianName": "Z", "PatientName": "Z", "PatientID": "D", "PatientBirthDate": "Z",
    "PatientSex": "Z", "StudyInstanceUID": "U", "SeriesInstanceUID": "U", "StudyID": "Z",
    "FrameOfReferenceUID": "U", "ImageComments": "X",
}
META_REMOVED = [0x00020016, 0x00020017, 0x00020018, 0x00020100, 0x00020102]


def fail(message):
    sys.exit(f"peer: {message}")


def load_site_key(path):
    with open(path) as f:
        text = f.read().strip()
    if len(text) != 64:
        fail(f"{path}: a site key is 64 hex digits")
    return bytes.fromhex(text)


def load_bundle(folder):
    with open(os.path.join(folder, "model.json")) as f:
        manifest = json.load(f)
    torchscript = manifest.get("networks", {}).get("torchscript")
    if not torchscript:
        fail(f"{folder}: the bundle carries no TorchScript network (model.ts)")
    path = os.path.join(folder, "model.ts")
    with open(path, "rb") as f:
        network = f.read()
    if hashlib.sha256(network).hexdigest() != torchscript["sha256"]:
        fail(f"{path}: SHA-256 differs from model.json")
    pre = manifest["preprocessing"]
    if (pre["window"]["type"] != "fixed" or pre["resize"] != {"policy": "stretch", "interpolation": "area"}
            or manifest["task"]["activation"] != "softmax" or manifest["input"]["channels"] != 1):
        fail(f"{folder}: the peer handles fixed windows, stretch/area resizing and softmax only")
    model = torch.jit.optimize_for_inference(torch.jit.freeze(torch.jit.load(path).eval()))
    return manifest, torchscript["sha256"], model


def canonical_pixels(ds, path):
    """The canonical form's header and the stored values (docs/image-hash.md), for these files."""
    if ds.file_meta.TransferSyntaxUID not in (pydicom.uid.ExplicitVRLittleEndian, pydicom.uid.ImplicitVRLittleEndian):
        fail(f"{path}: transfer syntax {ds.file_meta.TransferSyntaxUID} is not native little-endian")
    if ds.BitsAllocated != 16 or ds.SamplesPerPixel != 1 or int(ds.get("NumberOfFrames", 1)) != 1:
        fail(f"{path}: the peer reads single-frame 16-bit monochrome images only")
    raw = np.frombuffer(ds.PixelData, dtype="<u2", count=ds.Rows * ds.Columns)
    shift = ds.HighBit + 1 - ds.BitsStored
    stored = (raw >> shift) & ((1 << ds.BitsStored) - 1)
    if ds.PixelRepresentation == 1:  # sign-extend
        stored = stored.astype(np.int32)
        stored = np.where(stored >= 1 << (ds.BitsStored - 1), stored - (1 << ds.BitsStored), stored)
        stored = stored.astype("<i2")
    else:
        stored = stored.astype("<u2")
    photometric = ds.PhotometricInterpretation.strip().encode()
    header = struct.pack("<16sIIIHHHH16sQ", b"MEDANCHOR-IMG-V1", ds.Rows, ds.Columns, 1, 1, 16,
                         ds.BitsStored, ds.PixelRepresentation, photometric, stored.nbytes)
    return header, stored.reshape(ds.Rows, ds.Columns)


def remap_uid(key, uid):
    mac = hmac.new(key, UID_DOMAIN + uid.encode(), hashlib.sha256).digest()
    return "2.25." + str(int.from_bytes(mac[:16], "big"))


def deidentify(ds, key):
    """medanchor's de-identification of these files (docs/deid.md), in place."""
    ds.remove_private_tags()
    for keyword, action in PROFILE.items():
        if keyword not in ds:
            continue
        if action == "X":
            delattr(ds, keyword)
        elif action == "Z":
            ds[keyword].value = ""
        elif action == "D":  # a dummy: Patient ID is Z/D in the table, medanchor takes D
            ds[keyword].value = "ANONYMIZED"
        else:
            ds[keyword].value = remap_uid(key, str(ds[keyword].value))
    ds.PatientIdentityRemoved = "YES"
    ds.DeidentificationMethod = "DICOM PS3.15 2026c E.1-1 Basic Profile"
    code = Dataset()
    code.CodeValue = "113100"
    code.CodingSchemeDesignator = "DCM"
    code.CodeMeaning = "Basic Application Confidentiality Profile"
    ds.DeidentificationMethodCodeSequence = [code]
    ds.LongitudinalTemporalInformationModified = "REMOVED"
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    for tag in META_REMOVED:
        if tag in ds.file_meta:
            del ds.file_meta[tag]


def preprocess(stored, ds, manifest):
    """The manifest's preprocessing, as medanchor's C++ computes it (docs/model-bundle.md)."""
    hu = stored.astype(np.float32) * np.float32(ds.RescaleSlope) + np.float32(ds.RescaleIntercept)
    w = manifest["preprocessing"]["window"]
    low = w["center"] - w["width"] / 2.0
    x = np.clip((hu.astype(np.float64) - low) / w["width"], 0.0, 1.0).astype(np.float32)
    h, wd = manifest["input"]["height"], manifest["input"]["width"]
    if x.shape != (2 * h, 2 * wd):
        fail("the peer resizes by exactly 2:1 (area), as for 256x256 slices to 128x128")
    x = x.reshape(h, 2, wd, 2).mean(axis=(1, 3), dtype=np.float32)
    norm = manifest["preprocessing"]["normalize"]
    steps = [f"modality LUT slope={float(ds.RescaleSlope):g} intercept={float(ds.RescaleIntercept):g} HU",
             f"window fixed c={w['center']:g} w={w['width']:g}",
             f"resize {2 * wd}x{2 * h}->{wd}x{h} stretch area",
             f"normalize mean=[{norm['mean'][0]:g}] std=[{norm['std'][0]:g}]"]
    return ((x - np.float32(norm["mean"][0])) / np.float32(norm["std"][0])).astype(np.float32), steps


class Slices(torch.utils.data.Dataset):
    """One item per file: read, hash, de-identify and save, preprocess (in a worker process)."""

    def __init__(self, files, manifest, out=None, key=None):
        self.files, self.manifest, self.out, self.key = files, manifest, out, key

    def __len__(self):
        return len(self.files)

    def __getitem__(self, i):
        path = self.files[i]
        ds = pydicom.dcmread(path)
        if ds.get("Modality", "") not in self.manifest["preprocessing"]["modalities"]:
            fail(f"{path}: modality {ds.get('Modality', '')} is not accepted by the model")
        header, stored = canonical_pixels(ds, path)
        x, steps = preprocess(stored, ds, self.manifest)
        meta = {"rows": ds.Rows, "columns": ds.Columns, "modality": ds.Modality, "steps": steps}
        if self.out is not None:  # the whole job; `floor` stops here
            mac = hmac.new(self.key, header, hashlib.sha256)
            mac.update(stored.tobytes())
            digest = mac.hexdigest()
            folder = os.path.join(self.out, digest[:16])
            os.makedirs(folder, exist_ok=True)
            deidentify(ds, self.key)
            ds.save_as(os.path.join(folder, "image.deid.dcm"), write_like_original=True)
            meta.update(hash=digest, folder=folder, transfer_syntax=str(ds.file_meta.TransferSyntaxUID),
                        uids=[str(ds.SOPClassUID), str(ds.StudyInstanceUID), str(ds.SeriesInstanceUID),
                              str(ds.SOPInstanceUID)])
        return torch.from_numpy(x)[None], meta


def collate(items):
    return torch.stack([x for x, _ in items]), [m for _, m in items]


def calibrate(logits, temperature):
    z = logits / temperature
    e = np.exp(z - z.max())
    p = e / e.sum()
    return [int(np.floor(v * 10000 + 0.5)) for v in p]


def write_report(meta, logits, manifest, model_sha256):
    labels = manifest["task"]["labels"]
    bp = calibrate(logits, manifest["calibration"].get("temperature", 1.0))
    best = int(np.argmax(bp))
    report = {
        "schema": "medanchor-peer-report/1",
        "analyzed_at": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "image": {"hash": "hmac-sha256:" + meta["hash"], "modality": meta["modality"], "rows": meta["rows"],
                  "columns": meta["columns"], "frames": 1,
                  "dicom": dict(zip(["transfer_syntax_uid", "sop_class_uid", "study_instance_uid",
                                     "series_instance_uid", "sop_instance_uid"],
                                    [meta["transfer_syntax"]] + meta["uids"]))},
        "model": {"name": manifest["name"], "version": manifest["version"], "sha256": model_sha256,
                  "calibration": {"method": manifest["calibration"]["method"],
                                  "temperature": str(manifest["calibration"].get("temperature", 1))}},
        "result": {"finding": labels[best], "confidence_bp": bp[best],
                   "label_probabilities": [{"code": lab["code"], "probability_bp": b} for lab, b in zip(labels, bp)],
                   "needs_review": bp[best] < manifest["min_confidence_bp"], "preprocessing": meta["steps"]},
    }
    if report["result"]["needs_review"]:
        report["result"]["review_reason"] = f"confidence {bp[best]} bp is below the model's {manifest['min_confidence_bp']} bp"
    text = json.dumps(report, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    with open(os.path.join(meta["folder"], "report.json"), "w") as f:
        f.write(text)


def list_dicom(folder):
    files = sorted(os.path.join(d, f) for d, _, names in os.walk(folder) for f in names if f.endswith(".dcm"))
    if not files:
        fail(f"{folder}: no .dcm files")
    return files


def run(args, whole_job):
    torch.set_num_threads(args.torch_threads)
    manifest, model_sha256, model = load_bundle(args.model)
    files = list_dicom(args.images)
    key = load_site_key(args.site_key) if whole_job else None
    if whole_job:
        os.makedirs(args.out, exist_ok=True)
    dataset = Slices(files, manifest, args.out if whole_job else None, key)
    loader = DataLoader(dataset, batch_size=args.batch, num_workers=args.workers, collate_fn=collate,
                        prefetch_factor=4 if args.workers else 2)
    with torch.inference_mode():  # warm: the first call of an optimised module compiles it
        model(torch.zeros(args.batch, 1, manifest["input"]["height"], manifest["input"]["width"]))
    startup = time.perf_counter() - START
    t0 = time.perf_counter()
    count = 0
    with torch.inference_mode():
        for x, metas in loader:
            logits = model(x).double().numpy()
            count += len(metas)
            if whole_job:
                for meta, z in zip(metas, logits):
                    write_report(meta, z, manifest, model_sha256)
    seconds = time.perf_counter() - t0
    print(json.dumps({"mode": "run" if whole_job else "floor", "images": count, "seconds": round(seconds, 4),
                      "images_per_s": round(count / seconds, 1), "startup_seconds": round(startup, 3),
                      "workers": args.workers, "torch_threads": args.torch_threads, "batch": args.batch}))


def reports(folder):
    out = {}
    for sub in sorted(os.listdir(folder)):
        path = os.path.join(folder, sub, "report.json")
        if os.path.exists(path):
            with open(path) as f:
                r = json.load(f)
            out[r["image"]["hash"]] = (r, os.path.join(folder, sub))
    return out


def dataset_values(path):
    ds = pydicom.dcmread(path)
    values = {}
    for elem in ds.iterall():
        if elem.tag == 0x7FE00010:
            values[elem.tag] = hashlib.sha256(elem.value).hexdigest()
        elif elem.VR != "SQ":
            v = elem.value
            values[elem.tag] = str(list(v) if isinstance(v, pydicom.multival.MultiValue) else v).strip()
    values["meta 0002,0003"] = str(ds.file_meta.MediaStorageSOPInstanceUID)
    return values


def check(args):
    peer, medanchor = reports(args.peer_out), reports(args.medanchor_out)
    problems = []
    if set(peer) != set(medanchor):
        problems.append(f"keyed hashes differ: {len(set(peer) - set(medanchor))} only in the peer, "
                        f"{len(set(medanchor) - set(peer))} only in medanchor")
    largest_bp = 0
    for h in sorted(set(peer) & set(medanchor)):
        (p, p_dir), (m, m_dir) = peer[h], medanchor[h]
        pr, mr = p["result"], m["result"]
        if pr["finding"]["code"] != mr["finding"]["code"]:
            problems.append(f"{h}: finding {pr['finding']['code']} (peer) vs {mr['finding']['code']} (medanchor)")
        largest_bp = max(largest_bp, abs(pr["confidence_bp"] - mr["confidence_bp"]))
        if pr["confidence_bp"] != mr["confidence_bp"]:
            problems.append(f"{h}: confidence {pr['confidence_bp']} bp (peer) vs {mr['confidence_bp']} bp (medanchor)")
        if pr["needs_review"] != mr["needs_review"]:
            problems.append(f"{h}: needs_review {pr['needs_review']} (peer) vs {mr['needs_review']} (medanchor)")
        if p["image"]["dicom"] != m["image"]["dicom"]:
            problems.append(f"{h}: de-identified UIDs differ: {p['image']['dicom']} vs {m['image']['dicom']}")
        if p["model"]["sha256"] != m["model"]["sha256"]:
            problems.append(f"{h}: model {p['model']['sha256']} (peer) vs {m['model']['sha256']} (medanchor)")
        pv, mv = dataset_values(os.path.join(p_dir, "image.deid.dcm")), dataset_values(os.path.join(m_dir, "image.deid.dcm"))
        differing = sorted(str(t) for t in set(pv) | set(mv) if pv.get(t) != mv.get(t))
        if differing:
            problems.append(f"{h}: de-identified copies differ in {', '.join(differing)}")
    for line in problems[:20]:
        print(line)
    verdict = "FAIL" if problems else "ok"
    print(f"check {verdict}: {len(peer)} peer and {len(medanchor)} medanchor reports; same keyed hashes, findings, "
          f"confidences (largest difference {largest_bp} bp), model hash and de-identified data sets"
          if not problems else f"check {verdict}: {len(problems)} difference(s)")
    return 1 if problems else 0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="command", required=True)
    for name in ("run", "floor"):
        p = sub.add_parser(name)
        p.add_argument("images")
        p.add_argument("--model", default=os.path.join(ROOT, "models", "ct-nodule-sim"))
        p.add_argument("--workers", type=int, default=0, help="DataLoader worker processes (0: in-process)")
        p.add_argument("--torch-threads", type=int, default=1, help="PyTorch intra-op threads")
        p.add_argument("--batch", type=int, default=8)
        if name == "run":
            p.add_argument("--out", required=True)
            p.add_argument("--site-key", required=True)
    c = sub.add_parser("check")
    c.add_argument("peer_out")
    c.add_argument("medanchor_out")
    args = ap.parse_args()
    if args.command == "check":
        sys.exit(check(args))
    run(args, args.command == "run")


if __name__ == "__main__":
    main()
