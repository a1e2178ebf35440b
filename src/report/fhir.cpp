#include "report/fhir.h"

#include <nlohmann/json.hpp>
#include <span>

#include "image/image_hash.h"

namespace medanchor::report {

namespace {

using json = nlohmann::ordered_json;

constexpr char kLoinc[] = "http://loinc.org";
constexpr char kUcum[] = "http://unitsofmeasure.org";
constexpr char kDicomUidSystem[] = "urn:dicom:uid";

// A name-based UUID (RFC 9562 version 8: SHA-256, first 128 bits, version and variant bits set)
// for one entry of the Bundle: the same report always gives the same fullUrls, and different
// reports never share one.
std::string entry_uuid(std::string_view role, const std::string& digest_hex) {
    const std::string name = "medanchor-fhir-entry-v1:" + std::string(role) + ":" + digest_hex;
    auto h =
        image::sha256(std::span(reinterpret_cast<const std::uint8_t*>(name.data()), name.size()));
    h[6] = static_cast<std::uint8_t>((h[6] & 0x0F) | 0x80);
    h[8] = static_cast<std::uint8_t>((h[8] & 0x3F) | 0x80);
    const std::string hex = image::to_hex(std::span(h).first(16));
    return "urn:uuid:" + hex.substr(0, 8) + "-" + hex.substr(8, 4) + "-" + hex.substr(12, 4) + "-" +
           hex.substr(16, 4) + "-" + hex.substr(20, 12);
}

// A percentage as a FHIR decimal. bp / 100 is exact to two decimals; the JSON number printed is
// the shortest that reads back as that double ("87.5", "87.33", "100.0").
json percent_quantity(std::uint32_t basis_points) {
    return {{"value", static_cast<double>(basis_points) / 100.0},
            {"unit", "%"},
            {"system", kUcum},
            {"code", "%"}};
}

json local_concept(const std::string& code, const std::string& display) {
    json coding = {{"system", kFhirCodeSystem}, {"code", code}};
    if (!display.empty())
        coding["display"] = display;
    return {{"coding", json::array({coding})}};
}

// A logical reference to the (de-identified) DICOM study: FHIR's convention for a DICOM UID
// identifier is system urn:dicom:uid with the value urn:oid:<uid>.
json study_reference(const DicomReference& d) {
    return {{"type", "ImagingStudy"},
            {"identifier",
             {{"system", kDicomUidSystem}, {"value", "urn:oid:" + d.study_instance_uid}}}};
}

std::string model_display(const ModelSection& m) {
    return "medanchor model " + m.name + " " + m.version;
}

}  // namespace

Result<std::string> to_fhir(const AnalysisReport& r) {
    auto digest = report_digest(r);
    if (!digest)
        return digest.error();
    const std::string digest_text = digest_hex(*digest);
    const std::string report_url = entry_uuid("DiagnosticReport", digest_text);
    const std::string observation_url = entry_uuid("Observation", digest_text);
    const std::string status = r.result.needs_review ? "preliminary" : "final";
    const auto& res = r.result;

    const json image_hash_id = {{"system", kFhirImageHashSystem}, {"value", r.image.hash}};
    const json digest_id = {{"system", kFhirReportDigestSystem}, {"value", digest_text}};
    // Device is not an allowed target of DiagnosticReport.performer in R4, so the model appears
    // there by display only; Observation.device carries the typed logical reference.
    const json device = {{"type", "Device"},
                         {"identifier", {{"system", kFhirModelSystem}, {"value", r.model.sha256}}},
                         {"display", model_display(r.model)}};

    // ---- Observation: the finding, with the confidence as its value --------------------------
    json observation = {
        {"resourceType", "Observation"},
        {"identifier", json::array({image_hash_id})},
        {"status", status},
        {"category",
         json::array(
             {{{"coding",
                json::array(
                    {{{"system", "http://terminology.hl7.org/CodeSystem/observation-category"},
                      {"code", "imaging"},
                      {"display", "Imaging"}}})}}})},
        {"code", local_concept(res.finding_code, res.finding_display)},
        {"effectiveDateTime", r.analyzed_at},
        {"issued", r.analyzed_at},
        {"valueQuantity", percent_quantity(res.confidence_bp)},
        {"device", device}};
    observation["code"]["text"] = res.finding_display;
    json method = {{"text", "calibration " + r.model.calibration_method +
                                (r.model.calibration_method == "temperature"
                                     ? " (T=" + r.model.calibration_temperature + ")"
                                     : std::string())}};
    observation["method"] = method;
    if (r.image.dicom)
        observation["derivedFrom"] = json::array({study_reference(*r.image.dicom)});
    json notes = json::array();
    if (res.needs_review)
        notes.push_back({{"text", "Needs human review: " + res.review_reason}});
    if (!res.preprocessing.empty()) {
        std::string steps = "Preprocessing:";
        for (std::size_t i = 0; i < res.preprocessing.size(); ++i)
            steps += (i == 0 ? " " : "; ") + res.preprocessing[i];
        notes.push_back({{"text", steps}});
    }
    if (res.saliency) {
        notes.push_back({{"text", "Saliency map: " + res.saliency->file_name + " (SHA-256 " +
                                      res.saliency->sha256 + ")"}});
    }
    if (!notes.empty())
        observation["note"] = notes;
    if (!res.label_probabilities.empty()) {
        json components = json::array();
        for (const auto& p : res.label_probabilities) {
            components.push_back({{"code", local_concept(p.code, "")},
                                  {"valueQuantity", percent_quantity(p.probability_bp)}});
        }
        observation["component"] = components;
    }

    // ---- DiagnosticReport ----------------------------------------------------------------------
    json performers =
        json::array({{{"type", "Practitioner"},
                      {"identifier", {{"system", kFhirPrincipalSystem}, {"value", r.analyst}}},
                      {"display", "Stacks principal " + r.analyst}},
                     {{"display", model_display(r.model) + " (automated analysis)"}}});
    if (r.site)
        performers.push_back({{"type", "Organization"}, {"display", *r.site}});
    std::string conclusion = res.finding_display + " (" + res.finding_code + "), confidence " +
                             percent_string(res.confidence_bp) + " %";
    if (res.needs_review)
        conclusion += ". Needs human review: " + res.review_reason;
    json report = {
        {"resourceType", "DiagnosticReport"},
        {"identifier", json::array({image_hash_id, digest_id})},
        {"status", status},
        {"category",
         json::array(
             {{{"coding", json::array({{{"system", "http://terminology.hl7.org/CodeSystem/v2-0074"},
                                        {"code", "RAD"},
                                        {"display", "Radiology"}}})}}})},
        {"code",
         {{"coding", json::array({{{"system", kLoinc},
                                   {"code", "18748-4"},
                                   {"display", "Diagnostic imaging study"}}})},
          {"text", "AI analysis of a medical image"}}},
        {"effectiveDateTime", r.analyzed_at},
        {"issued", r.analyzed_at},
        {"performer", performers},
        {"result", json::array({{{"reference", observation_url}}})},
        {"conclusion", conclusion},
        {"conclusionCode", json::array({local_concept(res.finding_code, res.finding_display)})}};
    if (r.image.dicom)
        report["imagingStudy"] = json::array({study_reference(*r.image.dicom)});

    const json bundle = {
        {"resourceType", "Bundle"},
        {"identifier", digest_id},
        {"type", "collection"},
        {"timestamp", r.analyzed_at},
        {"entry", json::array({{{"fullUrl", report_url}, {"resource", report}},
                               {{"fullUrl", observation_url}, {"resource", observation}}})}};
    return bundle.dump(2, ' ', /*ensure_ascii=*/false, json::error_handler_t::strict) + "\n";
}

}  // namespace medanchor::report
