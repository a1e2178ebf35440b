#!/usr/bin/env python3
"""A FHIR endpoint for the listen tests: a loopback HTTP server that takes each POSTed bundle,
checks it against the FHIR R4 schema fragment the report tests use (tests/report/fhir/, Debian's
python3-jsonschema, Draft 6 as the FHIR schemas declare) and answers 201 when it is valid, 422
with the errors otherwise (HAPI FHIR is not packaged by Debian; the schema is the oracle).
Every body is kept as OUT/<n>.json (valid) or OUT/<n>.invalid.json.

Usage: fhir_sink.py PORT SCHEMA.json OUT_DIR   (binds 127.0.0.1:PORT; runs until killed)
"""
import http.server
import json
import os
import sys

import jsonschema

port, schema_path, out = int(sys.argv[1]), sys.argv[2], sys.argv[3]
with open(schema_path, encoding="utf-8") as f:
    schema = json.load(f)
jsonschema.Draft6Validator.check_schema(schema)
validator = jsonschema.Draft6Validator(schema)
os.makedirs(out, exist_ok=True)
count = 0


class Sink(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        global count
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        count += 1
        errors = []
        if self.headers.get("Content-Type", "").split(";")[0] != "application/fhir+json":
            errors.append("Content-Type is not application/fhir+json")
        try:
            errors += [e.message[:200] for e in validator.iter_errors(json.loads(body))]
        except ValueError as e:
            errors.append(f"not JSON: {e}")
        name = f"{count}.json" if not errors else f"{count}.invalid.json"
        with open(os.path.join(out, name), "wb") as f:
            f.write(body)
        self.send_response(201 if not errors else 422)
        answer = json.dumps({"resourceType": "OperationOutcome", "errors": errors}).encode()
        self.send_header("Content-Type", "application/fhir+json")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, *args):
        pass


http.server.HTTPServer(("127.0.0.1", port), Sink).serve_forever()
