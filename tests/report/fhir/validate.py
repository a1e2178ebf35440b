#!/usr/bin/env python3
"""Validates FHIR R4 JSON files against the schema fragment, with Debian's python3-jsonschema.

Usage: validate.py SCHEMA.json FILE.json...   Exit 0 when every file is valid; otherwise prints
each error (file, JSON path, message) and exits 1. The schema itself is checked first.
"""
import json
import sys

import jsonschema


def main(schema_path, files):
    with open(schema_path, encoding="utf-8") as f:
        schema = json.load(f)
    # The FHIR schemas declare draft-06; use that dialect's validator, whatever the default is.
    jsonschema.Draft6Validator.check_schema(schema)
    validator = jsonschema.Draft6Validator(schema)
    failed = False
    for path in files:
        with open(path, encoding="utf-8") as f:
            document = json.load(f)
        errors = sorted(validator.iter_errors(document), key=lambda e: list(e.absolute_path))
        for error in errors:
            where = "/".join(str(p) for p in error.absolute_path) or "(root)"
            print(f"{path}: {where}: {error.message[:300]}")
        if errors:
            failed = True
        else:
            print(f"{path}: valid")
    return 1 if failed else 0


if __name__ == "__main__":
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    sys.exit(main(sys.argv[1], sys.argv[2:]))
