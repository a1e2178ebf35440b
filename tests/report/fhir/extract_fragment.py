#!/usr/bin/env python3
"""Extracts the FHIR R4 JSON schema fragment the report tests validate against.

Usage: extract_fragment.py OFFICIAL_fhir.schema.json OUT.schema.json

Keeps, verbatim, the official definitions of Bundle, DiagnosticReport and Observation and of
everything they reference transitively, with one exception: `ResourceList` (what Bundle.entry
.resource and DomainResource.contained may hold: in the official schema, a oneOf over all ~150 R4
resources, which would pull in the whole file) is narrowed to the resources medanchor emits. See
tests/report/fhir/README.md.
"""
import json
import sys

ROOTS = ["Bundle", "DiagnosticReport", "Observation"]
NARROWED = "ResourceList"


def refs(node):
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str) and value.startswith("#/definitions/"):
                yield value[len("#/definitions/"):]
            else:
                yield from refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from refs(value)


def main(src, dst):
    with open(src, encoding="utf-8") as f:
        official = json.load(f)
    if official.get("id") != "http://hl7.org/fhir/json-schema/4.0":
        sys.exit(f"{src}: not the R4 schema (id {official.get('id')!r})")
    # The 4.0.1 copy (hl7.org/fhir, 2021) lists valueMeta in Extension; the older 4.0 copies seen
    # elsewhere (4.0.0) do not.
    if "valueMeta" not in official["definitions"]["Extension"]["properties"]:
        sys.exit(f"{src}: R4 4.0.0, not 4.0.1 (Extension has no valueMeta)")
    definitions = official["definitions"]
    keep, stack = set(), list(ROOTS)
    while stack:
        name = stack.pop()
        if name in keep:
            continue
        keep.add(name)
        if name != NARROWED:
            stack.extend(refs(definitions[name]))
    fragment = {
        "$schema": official["$schema"],
        "id": official["id"],
        "description": official["description"],
        "discriminator": {
            "propertyName": official["discriminator"]["propertyName"],
            "mapping": {name: f"#/definitions/{name}" for name in ROOTS},
        },
        "oneOf": [{"$ref": f"#/definitions/{name}"} for name in ROOTS],
        "definitions": {},
    }
    for name, definition in definitions.items():  # the official order
        if name == NARROWED:
            definition = {
                "description": "medanchor fragment: narrowed from every R4 resource to the "
                "resources medanchor emits (tests/report/fhir/README.md)",
                "oneOf": [{"$ref": "#/definitions/DiagnosticReport"},
                          {"$ref": "#/definitions/Observation"}],
            }
        if name in keep:
            fragment["definitions"][name] = definition
    with open(dst, "w", encoding="utf-8") as f:
        json.dump(fragment, f, indent=2, ensure_ascii=False)
        f.write("\n")
    print(f"{dst}: {len(fragment['definitions'])} definitions")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
