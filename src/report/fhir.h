// The report as FHIR R4 (4.0.1) JSON: a Bundle of type "collection" holding a DiagnosticReport and
// the Observation it points to (docs/report.md, "FHIR R4"). Validated in tests against the
// official R4 JSON schema's definitions (tests/report/fhir/).
#pragma once

#include <string>

#include "common/error.h"
#include "report/report.h"

namespace medanchor::report {

// The local code system of finding and label codes (the model's own codes).
inline constexpr char kFhirCodeSystem[] = "https://medanchor.dev/fhir/CodeSystem/analysis";
// Identifier systems: the keyed image hash, the report digest, the analyst, the model.
inline constexpr char kFhirImageHashSystem[] = "urn:medanchor:image-hash";
inline constexpr char kFhirReportDigestSystem[] = "urn:medanchor:report-digest";
inline constexpr char kFhirPrincipalSystem[] = "urn:medanchor:stacks-principal";
inline constexpr char kFhirModelSystem[] = "urn:medanchor:model-sha256";

// The Bundle as JSON text (2-space indentation, UTF-8). Deterministic: the same report gives the
// same bytes (entry fullUrls are name-based UUIDs derived from the report digest). Validates the
// report first (kInvalidArgument).
Result<std::string> to_fhir(const AnalysisReport& report);

}  // namespace medanchor::report
