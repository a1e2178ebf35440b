// Reports shared by the report layer's tests. The values are made up and carry no identity; the
// de-identified UIDs are what image::UidRemapper gives for made-up source UIDs.
#pragma once

#include "report/report.h"

namespace medanchor::testing {

// A DICOM CT analysis with every optional field present. The same values are the worked example
// in docs/report.md ("Canonical form"), whose digest the tests check.
inline report::AnalysisReport sample_report() {
    report::AnalysisReport r;
    r.medanchor_version = "0.1.0";
    r.analyzed_at = "2026-11-25T09:30:00Z";
    r.image.hash = "hmac-sha256:12af420c08d84b64d030c454125e6c04b51463b68c58d4524b296303c879f56b";
    r.image.modality = "CT";
    r.image.rows = 512;
    r.image.columns = 512;
    r.image.frames = 1;
    r.image.dicom = report::DicomReference{"1.2.840.10008.1.2.1", "1.2.840.10008.5.1.4.1.1.2",
                                           "2.25.160053389467301380390181470386435853137",
                                           "2.25.25532425376397286430626099290834003429",
                                           "2.25.303919236185616640813384011335802431733"};
    r.model.name = "ct-nodule";
    r.model.version = "1.2.0";
    r.model.sha256 = "5d41402abc4b2a76b9719d911017c592ae2e7b0b8e7f6c2bd2d5a3f3e0c1b2a4";
    r.model.chain_id = 1;
    r.model.calibration_method = "temperature";
    r.model.calibration_temperature = "1.5";
    r.result.finding_code = "nodule";
    r.result.finding_display = "Pulmonary nodule";
    r.result.confidence_bp = 8750;
    r.result.label_probabilities = {{"normal", 1250}, {"nodule", 8750}};
    r.result.preprocessing = {"modality LUT (HU)", "window center=-600 width=1500",
                              "resize 224x224 area", "normalize mean=0.5 std=0.25"};
    r.result.saliency = report::Saliency{
        "saliency.png", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"};
    r.analyst = "ST1SJ3DTE5DN7X54YDH5D64R3BCB6A2AG2ZQ8YPD5";
    r.site = "Radiology, site A";
    return r;
}

// The same analysis below the confidence threshold: not anchored, a human must look.
inline report::AnalysisReport needs_review_report() {
    report::AnalysisReport r = sample_report();
    r.result.confidence_bp = 5400;
    r.result.label_probabilities = {{"normal", 4600}, {"nodule", 5400}};
    r.result.needs_review = true;
    r.result.review_reason = "confidence 5400 bp is below the threshold 6000 bp";
    return r;
}

// A PNG source: no DICOM UIDs, no on-chain model id, no saliency, no site.
inline report::AnalysisReport png_report() {
    report::AnalysisReport r = sample_report();
    r.image.hash = "sha256:f339e18408f0ebe041fa52b5ed3c22b48737aae23425101a7f0c15a1debaeb2a";
    r.image.modality = "";
    r.image.dicom.reset();
    r.model.chain_id.reset();
    r.model.calibration_method = "none";
    r.model.calibration_temperature = "1";
    r.result.saliency.reset();
    r.site.reset();
    return r;
}

}  // namespace medanchor::testing
