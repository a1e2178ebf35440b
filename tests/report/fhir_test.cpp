// FHIR R4 output: validated by a real JSON-schema validator (Debian's python3-jsonschema,
// Draft 6 as the FHIR schemas declare) against the official R4 definitions the Bundle,
// DiagnosticReport and Observation use (tests/report/fhir/fhir-r4-fragment.schema.json); a
// negative control shows the validator does reject a broken resource. Then the content: status,
// identifiers, references between the entries, the confidence as a UCUM percentage.
#include "report/fhir.h"

#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "image/test_support.h"
#include "report/sample_report.h"

namespace medanchor::report {
namespace {

namespace fs = std::filesystem;
using medanchor::testing::needs_review_report;
using medanchor::testing::png_report;
using medanchor::testing::quote;
using medanchor::testing::run_command;
using medanchor::testing::sample_report;
using medanchor::testing::ScratchDir;

const fs::path kFhirDir = fs::path(MEDANCHOR_SOURCE_DIR) / "tests/report/fhir";

std::string fhir(const AnalysisReport& r) {
    auto text = to_fhir(r);
    EXPECT_TRUE(text.ok()) << (text.ok() ? "" : text.error().message());
    return text.ok() ? *text : std::string();
}

// Runs the schema validator on `json_text`; returns its exit code and output.
medanchor::testing::CommandResult validate_fhir(const std::string& json_text) {
    ScratchDir dir;
    const fs::path file = dir / "bundle.json";
    {
        std::ofstream out(file, std::ios::binary);
        out << json_text;
    }
    return run_command("/usr/bin/python3 " + quote(kFhirDir / "validate.py") + " " +
                       quote(kFhirDir / "fhir-r4-fragment.schema.json") + " " + quote(file));
}

TEST(Fhir, NormalReportValidatesAgainstR4Schema) {
    const auto r = validate_fhir(fhir(sample_report()));
    EXPECT_EQ(r.exit_code, 0) << r.output;
    EXPECT_NE(r.output.find("valid"), std::string::npos) << r.output;
}

TEST(Fhir, NeedsReviewReportValidatesAgainstR4Schema) {
    const auto r = validate_fhir(fhir(needs_review_report()));
    EXPECT_EQ(r.exit_code, 0) << r.output;
}

TEST(Fhir, PngReportValidatesAgainstR4Schema) {
    const auto r = validate_fhir(fhir(png_report()));
    EXPECT_EQ(r.exit_code, 0) << r.output;
}

// The validator is not a rubber stamp: each of these breaks one R4 rule, and each is refused.
TEST(Fhir, ValidatorRefusesBrokenResources) {
    const auto good = nlohmann::ordered_json::parse(fhir(sample_report()));
    const std::vector<std::pair<const char*, std::function<void(nlohmann::ordered_json&)>>> breaks =
        {
            {"unknown status", [](auto& b) { b["entry"][0]["resource"]["status"] = "done"; }},
            {"unknown property", [](auto& b) { b["entry"][1]["resource"]["patientName"] = "X"; }},
            {"value as string",
             [](auto& b) { b["entry"][1]["resource"]["valueQuantity"]["value"] = "87.5"; }},
            {"bad instant", [](auto& b) { b["entry"][0]["resource"]["issued"] = "25/11/2026"; }},
            {"bundle type", [](auto& b) { b["type"] = "bag"; }},
            {"missing code", [](auto& b) { b["entry"][1]["resource"].erase("code"); }},
        };
    for (const auto& [name, mutate] : breaks) {
        auto broken = good;
        mutate(broken);
        const auto r = validate_fhir(broken.dump(2));
        EXPECT_EQ(r.exit_code, 1) << name << ": " << r.output;
    }
}

TEST(Fhir, BundleHoldsTheReportAndItsObservation) {
    const auto r = sample_report();
    const auto bundle = nlohmann::json::parse(fhir(r));
    EXPECT_EQ(bundle["resourceType"], "Bundle");
    EXPECT_EQ(bundle["type"], "collection");
    EXPECT_EQ(bundle["identifier"]["system"], kFhirReportDigestSystem);
    EXPECT_EQ(bundle["identifier"]["value"], digest_hex(*report_digest(r)));
    ASSERT_EQ(bundle["entry"].size(), 2u);
    const auto& dr = bundle["entry"][0]["resource"];
    const auto& obs = bundle["entry"][1]["resource"];
    EXPECT_EQ(dr["resourceType"], "DiagnosticReport");
    EXPECT_EQ(obs["resourceType"], "Observation");
    EXPECT_EQ(dr["status"], "final");
    EXPECT_EQ(obs["status"], "final");
    EXPECT_EQ(dr["issued"], r.analyzed_at);
    EXPECT_EQ(dr["identifier"][0]["system"], kFhirImageHashSystem);
    EXPECT_EQ(dr["identifier"][0]["value"], r.image.hash);
    EXPECT_EQ(dr["result"][0]["reference"], bundle["entry"][1]["fullUrl"]);
    EXPECT_EQ(dr["conclusionCode"][0]["coding"][0]["system"], kFhirCodeSystem);
    EXPECT_EQ(dr["conclusionCode"][0]["coding"][0]["code"], "nodule");
    EXPECT_EQ(dr["conclusion"], "Pulmonary nodule (nodule), confidence 87.5 %");
    EXPECT_EQ(dr["code"]["coding"][0]["system"], "http://loinc.org");
    EXPECT_EQ(dr["code"]["coding"][0]["code"], "18748-4");
    EXPECT_NE(dr["performer"].dump().find("ct-nodule 1.2.0"), std::string::npos);
    EXPECT_EQ(dr["imagingStudy"][0]["identifier"]["value"],
              "urn:oid:" + r.image.dicom->study_instance_uid);
    EXPECT_EQ(obs["code"]["coding"][0]["code"], "nodule");
    EXPECT_EQ(obs["valueQuantity"]["value"], 87.5);
    EXPECT_EQ(obs["valueQuantity"]["system"], "http://unitsofmeasure.org");
    EXPECT_EQ(obs["valueQuantity"]["code"], "%");
    EXPECT_EQ(obs["device"]["type"], "Device");
    EXPECT_EQ(obs["device"]["identifier"]["value"], r.model.sha256);
    ASSERT_EQ(obs["component"].size(), 2u);
    EXPECT_EQ(obs["component"][0]["code"]["coding"][0]["code"], "normal");
    EXPECT_EQ(obs["component"][0]["valueQuantity"]["value"], 12.5);
}

TEST(Fhir, NeedsReviewIsPreliminaryWithTheReason) {
    const auto r = needs_review_report();
    const auto bundle = nlohmann::json::parse(fhir(r));
    const auto& dr = bundle["entry"][0]["resource"];
    const auto& obs = bundle["entry"][1]["resource"];
    EXPECT_EQ(dr["status"], "preliminary");
    EXPECT_EQ(obs["status"], "preliminary");
    EXPECT_NE(dr["conclusion"].get<std::string>().find(r.result.review_reason), std::string::npos);
    EXPECT_NE(obs["note"].dump().find(r.result.review_reason), std::string::npos);
}

TEST(Fhir, DeterministicAndDistinctPerReport) {
    EXPECT_EQ(fhir(sample_report()), fhir(sample_report()));
    const auto a = nlohmann::json::parse(fhir(sample_report()));
    const auto b = nlohmann::json::parse(fhir(needs_review_report()));
    EXPECT_NE(a["entry"][0]["fullUrl"], b["entry"][0]["fullUrl"]);
    EXPECT_NE(a["entry"][0]["fullUrl"], a["entry"][1]["fullUrl"]);
}

TEST(Fhir, RefusesAnInvalidReport) {
    auto r = sample_report();
    r.result.confidence_bp = 20000;
    auto text = to_fhir(r);
    ASSERT_FALSE(text.ok());
    EXPECT_EQ(text.error().code(), ErrorCode::kInvalidArgument);
}

}  // namespace
}  // namespace medanchor::report
