#!/usr/bin/env python3
"""Extracts PS3.15 Table E.1-1 (Application Level Confidentiality Profile Attributes) from NEMA's
DocBook source of PS3.15 into src/image/deid_table_e1_1.csv, the data file the C++ profile table
is generated from (tools/deid/generate_profile.py).

Not run by the build or CI (the DocBook file is 3.5 MB and NEMA's, so it is not committed); run it
by hand when re-pinning to a new edition, then run generate_profile.py and commit both outputs.

    python3 tools/deid/extract_table_e1_1.py part15.xml attributes.json tags.ts \
        > src/image/deid_table_e1_1.csv

Inputs:
  part15.xml       https://dicom.nema.org/medical/dicom/current/source/docbook/part15/part15.xml
                   (the edition is read from its <subtitle>; its SHA-256 is recorded in the output)
  attributes.json  innolitics/dicom-standard standard/attributes.json (PS3.6 as JSON): the VR of
                   each attribute, which Table E.1-1 does not carry
  tags.ts          a PS3.6 2026c dictionary for the attributes newer than attributes.json
                   (cosyte/dicom src/dictionary/generated/tags.ts, generated from NEMA's part06.xml)
  and pydicom's dictionary (python3-pydicom) for the command elements (group 0000)
The VR column is only used by the tests (to write a marker value of the right VR into every
attribute); de-identification reads each element's VR from the file.
"""
import csv
import hashlib
import json
import re
import sys
import xml.etree.ElementTree as ET

DB = "{http://docbook.org/ns/docbook}"
XML_ID = "{http://www.w3.org/XML/1998/namespace}id"
COLUMNS = [
    "name", "tag", "retired", "in_std_comp_iod", "basic", "rtn_safe_priv", "rtn_uids",
    "rtn_dev_id", "rtn_inst_id", "rtn_pat_chars", "rtn_long_full_dates", "rtn_long_modif_dates",
    "clean_desc", "clean_struct_cont", "clean_graph",
]
HEADERS = [
    "Attribute Name", "Tag", "Retd.", "In Std. Comp. IOD", "Basic Prof.", "Rtn. Safe Priv. Opt.",
    "Rtn. UIDs Opt.", "Rtn. Dev. Id. Opt.", "Rtn. Inst. Id. Opt.", "Rtn. Pat. Chars. Opt.",
    "Rtn. Long. Full Dates Opt.", "Rtn. Long. Modif. Dates Opt.", "Clean Desc. Opt.",
    "Clean Struct. Cont. Opt.", "Clean Graph. Opt.",
]
ACTIONS = {"", "X", "Z", "D", "U", "K", "C", "X/Z", "X/D", "Z/D", "X/Z/D", "X/Z/U*"}


def text(element):
    return " ".join("".join(element.itertext()).split())


def main(part15, attributes, tags_ts):
    raw = open(part15, "rb").read()
    sha = hashlib.sha256(raw).hexdigest()
    root = ET.fromstring(raw)
    subtitle = text(root.find(f".//{DB}subtitle"))
    table = next(t for t in root.iter(f"{DB}table") if t.get(XML_ID) == "table_E.1-1")
    header = [text(th) for th in table.find(f"{DB}thead").iter(f"{DB}th")]
    header = [h.split(" (from")[0] for h in header]
    if header != HEADERS:
        sys.exit(f"unexpected Table E.1-1 columns: {header}")
    vr = {a["tag"]: a["valueRepresentation"] for a in json.load(open(attributes))}
    for tag, v in re.findall(r'"([0-9A-F]{8})": \{[^}]*vr: \["([A-Z]{2})"', open(tags_ts).read()):
        vr.setdefault(f"({tag[:4]},{tag[4:]})", v)
    try:  # command elements (group 0000) are in neither: pydicom's dictionary has them
        from pydicom.datadict import DicomDictionary
        for tag, entry in DicomDictionary.items():
            vr.setdefault(f"({tag >> 16:04X},{tag & 0xFFFF:04X})", entry[0])
    except ImportError:
        pass
    rows = []
    for tr in table.find(f"{DB}tbody").findall(f"{DB}tr"):
        cells = [text(td) for td in tr.findall(f"{DB}td")]
        if len(cells) != len(COLUMNS):
            sys.exit(f"row with {len(cells)} cells: {cells}")
        row = dict(zip(COLUMNS, cells))
        for column in COLUMNS[4:]:
            if row[column] not in ACTIONS:
                sys.exit(f"unknown action {row[column]!r} in {row}")
        if not row["basic"]:
            sys.exit(f"no Basic Profile action: {row}")
        tag = row["tag"].upper()
        if re.fullmatch(r"\([0-9A-F]{4},[0-9A-F]{4}\)", tag):
            row["vr"] = vr.get(tag, "").split(" or ")[0]
            if not row["vr"]:
                sys.exit(f"no VR for {tag}")
        else:
            row["vr"] = ""  # a family of tags: (50xx,xxxx), (60xx,3000), private attributes
        rows.append(row)
    print(f"# PS3.15 Table E.1-1, Application Level Confidentiality Profile Attributes.")
    print(f"# Source: {subtitle}, NEMA DocBook part15.xml, SHA-256 {sha}")
    print(f"# Extracted by tools/deid/extract_table_e1_1.py; {len(rows)} rows.")
    print("# vr: PS3.6 (innolitics/dicom-standard attributes.json, else PS3.6 2026c, else pydicom);")
    print("# the first of several. Action codes: PS3.15 Table E.1-1a.")
    out = csv.writer(sys.stdout, lineterminator="\n")
    order = COLUMNS[:2] + ["vr"] + COLUMNS[2:]
    out.writerow(order)
    for row in rows:
        out.writerow([row[c] for c in order])


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    main(*sys.argv[1:])
