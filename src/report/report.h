// The analysis report (docs/report.md): what medanchor found in one image, with which model, for
// whom, and when. Its canonical JSON form (RFC 8785, JSON Canonicalization Scheme) is what the
// SHA-256 report digest anchored on chain covers, so every byte of that form is specified and
// tested; FHIR R4 (fhir.h) and DICOM SR (dicom_sr.h) are views of the same struct.
//
// An AnalysisReport carries no patient identity by construction: no names, ids, birth dates, no
// free text from the image header, no local paths. The only image identifiers are the keyed pixel
// hash and UIDs already replaced by the image layer's de-identification mapping (2.25 UIDs,
// image::UidRemapper). Numbers are integers (basis points, pixels) or decimal strings (the
// calibration temperature): no floating point anywhere in the canonical form.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.h"

namespace medanchor::report {

// The one report schema this build writes and reads; from_json refuses any other (kUnsupported).
inline constexpr std::string_view kReportSchema = "medanchor-report/1";

// The largest integer the canonical form admits: 2^53 - 1, the I-JSON bound (RFC 7493) that RFC
// 8785 relies on, so any JSON reader (JavaScript included) reads the same number back.
inline constexpr std::uint64_t kMaxCanonicalInteger = (std::uint64_t{1} << 53) - 1;

// UIDs of the source image, all but the two class/syntax UIDs replaced by the image layer's
// de-identification mapping. DICOM sources only.
struct DicomReference {
    std::string transfer_syntax_uid;  // of the source file, e.g. "1.2.840.10008.1.2.1"
    std::string sop_class_uid;        // e.g. "1.2.840.10008.5.1.4.1.1.2" (CT Image Storage)
    // De-identified: "2.25.<decimal>" from image::UidRemapper::remap(original UID). validate()
    // refuses any other form, a tripwire against passing the source's own UIDs by mistake.
    std::string study_instance_uid;
    std::string series_instance_uid;
    std::string sop_instance_uid;

    bool operator==(const DicomReference&) const = default;
};

struct ImageSection {
    std::string hash;  // image::ImageHash::to_string(): "hmac-sha256:<64 hex>" | "sha256:<64 hex>"
    std::string modality;       // DICOM Modality ("CT", "MR", ...); empty for PNG/JPEG/TIFF
    std::uint32_t rows = 0;     // >= 1
    std::uint32_t columns = 0;  // >= 1
    std::uint32_t frames = 0;   // >= 1
    std::optional<DicomReference> dicom;  // absent for PNG/JPEG/TIFF

    bool operator==(const ImageSection&) const = default;
};

struct ModelSection {
    std::string name;                       // manifest name, [A-Za-z0-9._-]{1,64}
    std::string version;                    // manifest version, [A-Za-z0-9._-]{1,32}
    std::string sha256;                     // of the network that ran, 64 lowercase hex digits
    std::optional<std::uint64_t> chain_id;  // the contract's model id, once registered (>= 1)
    std::string calibration_method;         // "none" or "temperature"
    // A decimal string (decimal_string()): "1" for "none"; > 0, no exponent, no sign, no
    // redundant zeros, so the text is unique for the value.
    std::string calibration_temperature = "1";

    bool operator==(const ModelSection&) const = default;
};

struct LabelProbability {
    std::string code;                  // a model label code, [A-Za-z0-9._:-]{1,32}
    std::uint32_t probability_bp = 0;  // calibrated probability in basis points, 0..10000

    bool operator==(const LabelProbability&) const = default;
};

struct Saliency {
    std::string file_name;  // the PNG's file name only, never a path ("/" and "\" refused)
    std::string sha256;     // of the PNG file, 64 lowercase hex digits

    bool operator==(const Saliency&) const = default;
};

struct ResultSection {
    std::string finding_code;         // [A-Za-z0-9._:-]{1,32}: the contract's finding charset
    std::string finding_display;      // human text from the model manifest, 1..128 bytes
    std::uint32_t confidence_bp = 0;  // calibrated confidence, 0..10000
    // One per model label, in the model's label order (kept: the order is the model's), codes
    // unique. May be empty.
    std::vector<LabelProbability> label_probabilities;
    // Below a threshold (the contract's or the model's), or otherwise not fit to anchor: a human
    // must look. review_reason is non-empty exactly when needs_review is true.
    bool needs_review = false;
    std::string review_reason;
    // What was done to the pixels before inference, one step per string, in order (e.g.
    // "window center=40 width=400", "resize 224x224 area"). Written by the pipeline, never
    // copied from the image header.
    std::vector<std::string> preprocessing;
    std::optional<Saliency> saliency;

    bool operator==(const ResultSection&) const = default;
};

struct AnalysisReport {
    std::string schema{kReportSchema};
    std::string medanchor_version;  // e.g. "0.1.0"
    std::string analyzed_at;        // UTC, "YYYY-MM-DDTHH:MM:SSZ" (utc_timestamp())
    ImageSection image;
    ModelSection model;
    ResultSection result;
    std::string analyst;              // the analyst's Stacks principal ("ST..." / "SP...")
    std::optional<std::string> site;  // a site label chosen by the operator (not a patient's)

    bool operator==(const AnalysisReport&) const = default;
};

// Checks every field against the rules above (formats, ranges, UTF-8, lengths: docs/report.md
// "Fields"). The first problem comes back as kInvalidArgument naming the field.
Status validate(const AnalysisReport& report);

// The canonical JSON text (docs/report.md, "Canonical form"): RFC 8785 key order and string
// escaping, no whitespace, integers only, optional fields absent rather than null. Validates
// first, so an invalid report never gets a digest. Same report, same bytes, on every machine.
Result<std::string> to_canonical_json(const AnalysisReport& report);

// SHA-256 of to_canonical_json(report): the report digest anchored on chain.
Result<std::array<std::uint8_t, 32>> report_digest(const AnalysisReport& report);

// SHA-256 of bytes that are already canonical JSON (e.g. a stored report), as report_digest would
// give for the report they encode.
std::array<std::uint8_t, 32> digest_of_canonical(std::string_view canonical_json);

// 64 lowercase hex digits.
std::string digest_hex(const std::array<std::uint8_t, 32>& digest);

// Parses report JSON (canonical or not: any whitespace and key order). Untrusted input: refuses
// (kUnsupported) a schema other than kReportSchema, and (kCorrupt) malformed JSON, duplicate or
// unknown keys, wrong types, fractional or out-of-range numbers, and anything validate() refuses.
Result<AnalysisReport> from_json(std::string_view text);

// "YYYY-MM-DDTHH:MM:SSZ" for `when`, truncated to the second.
std::string utc_timestamp(std::chrono::system_clock::time_point when);

// The shortest decimal text that reads back as `value` (std::to_chars, fixed notation): 1.5 gives
// "1.5", 1.0 gives "1", 1e-5 gives "0.00001". For the calibration temperature.
// REQUIRES: value is finite.
std::string decimal_string(double value);

// The name of an analysis' report folder (docs/report.md, "Report folders"): one folder per
// ledger entry, i.e. per (image, model, analyst), so it never has to be rewritten:
//   <first 16 hex digits of the image hash>_<model name>-<model version>_<first 8 hex digits of
//   the model SHA-256>_<analyst principal>
// e.g. "9853c90ed58f898c_ct-nodule-sim-1.0.0_51d8700e_ST2CY5V39NHDPWSXMW9QDT3HC3GD6Q6XX4CFRK9AG".
// Sorted listings group an image's analyses. Any character outside [A-Za-z0-9.-] in a part
// becomes '-' (the parts are validated elsewhere; this keeps the name one path component).
// REQUIRES: image_hash_hex and model_sha256 have at least 16 and 8 characters.
std::string report_folder_name(std::string_view image_hash_hex, std::string_view model_name,
                               std::string_view model_version, std::string_view model_sha256,
                               std::string_view analyst);

// Basis points as a percentage with up to two decimals, without trailing zeros: 8750 gives
// "87.5", 10000 gives "100", 7 gives "0.07".
std::string percent_string(std::uint32_t basis_points);

}  // namespace medanchor::report
