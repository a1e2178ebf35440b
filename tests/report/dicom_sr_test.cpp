// The DICOM SR view: written by medanchor through DCMTK's dcmsr, read back by DCMTK's dsrdump
// tool (exit 0, the finding and the confidence in its output) and by DSRDocument::read +
// isValid. The report is built the way the pipeline builds it, from a real file: pydicom's
// CT_small.dcm, whose UIDs the image layer's de-identification mapping replaces; then no identity
// of the source (names, ids, institution, dates, original UIDs) may appear in the SR, the
// canonical JSON or the FHIR Bundle.
#include "report/dicom_sr.h"

#include <dcmtk/dcmdata/dcfilefo.h>
#include <dcmtk/dcmsr/dsrdoc.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <sstream>

#include "image/deid.h"
#include "image/test_support.h"
#include "report/fhir.h"
#include "report/sample_report.h"

namespace medanchor::report {
namespace {

namespace fs = std::filesystem;
using medanchor::testing::pydicom_file;
using medanchor::testing::quote;
using medanchor::testing::run_command;
using medanchor::testing::ScratchDir;

// Every value of `attribute` in `file` (nested occurrences too), by DCMTK's dcmdump.
std::vector<std::string> dump_values(const fs::path& file, const std::string& attribute) {
    const auto r = run_command("dcmdump -Un +P " + attribute + " " + quote(file));
    EXPECT_EQ(r.exit_code, 0) << r.output;
    std::vector<std::string> values;
    std::istringstream lines(r.output);
    for (std::string line; std::getline(lines, line);) {
        const auto open = line.find('[');
        const auto close = line.find(']', open);
        if (open != std::string::npos && close != std::string::npos)
            values.push_back(line.substr(open + 1, close - open - 1));
    }
    return values;
}

std::string first_value(const fs::path& file, const std::string& attribute) {
    const auto values = dump_values(file, attribute);
    return values.empty() ? std::string() : values.front();
}

std::string read_text(const fs::path& file) {
    std::ifstream in(file, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

// The source's identity: every value of the identifying attributes CT_small.dcm carries
// ((0010,1000) is Other Patient IDs, retired, by tag because DCMTK names it RETIRED_...).
const char* const kIdentityAttributes[] = {
    "PatientName",     "PatientID",           "PatientBirthDate",   "0010,1000",
    "InstitutionName", "StudyDate",           "SeriesDate",         "AcquisitionDate",
    "ContentDate",     "StudyTime",           "AccessionNumber",    "ReferringPhysicianName",
    "StudyID",         "StationName",         "StudyInstanceUID",   "SeriesInstanceUID",
    "SOPInstanceUID",  "FrameOfReferenceUID", "InstitutionAddress", "OperatorsName"};

class DicomSrTest : public ::testing::Test {
  protected:
    void SetUp() override {
        source_ = pydicom_file("CT_small.dcm");
        ASSERT_TRUE(fs::exists(source_)) << source_ << " (Debian package python3-pydicom)";
        for (const char* attribute : kIdentityAttributes) {
            for (const auto& v : dump_values(source_, attribute)) {
                if (v.size() >= 4)
                    identity_.push_back(v);
            }
        }
        ASSERT_GE(identity_.size(), 8u);

        // The pipeline's path: de-identify with the site key, and report the remapped UIDs.
        std::array<std::uint8_t, 32> key{};
        for (std::size_t i = 0; i < key.size(); ++i)
            key[i] = static_cast<std::uint8_t>(i);
        const image::UidRemapper uids(image::SiteKey::from_bytes(key));
        DicomReference d;
        d.transfer_syntax_uid = first_value(source_, "TransferSyntaxUID");
        d.sop_class_uid = first_value(source_, "SOPClassUID");
        d.study_instance_uid = uids.remap(first_value(source_, "StudyInstanceUID"));
        d.series_instance_uid = uids.remap(first_value(source_, "SeriesInstanceUID"));
        d.sop_instance_uid = uids.remap(first_value(source_, "SOPInstanceUID"));
        // The de-identified copy the image layer writes carries exactly these UIDs.
        const fs::path deid = dir_ / "deid.dcm";
        auto summary = image::deidentify_file(source_, deid, image::DeidOptions{}, uids);
        ASSERT_TRUE(summary.ok()) << summary.error().message();
        EXPECT_EQ(first_value(deid, "StudyInstanceUID"), d.study_instance_uid);
        EXPECT_EQ(first_value(deid, "SeriesInstanceUID"), d.series_instance_uid);
        EXPECT_EQ(first_value(deid, "SOPInstanceUID"), d.sop_instance_uid);

        report_ = medanchor::testing::sample_report();
        report_.image.modality = first_value(source_, "Modality");
        report_.image.rows = 128;
        report_.image.columns = 128;
        report_.image.dicom = d;
    }

    // Every SR the tests write is also checked by dicom3tools' dciodvfy (an independent IOD
    // checker): no error.
    fs::path write(const AnalysisReport& r, const std::string& name = "report.dcm") {
        const fs::path out = dir_ / name;
        const Status s = write_dicom_sr(r, out);
        EXPECT_TRUE(s.ok()) << (s.ok() ? "" : s.error().message());
        if (s.ok()) {
            for (const auto& error : medanchor::testing::dciodvfy_errors(out))
                ADD_FAILURE() << name << ": dciodvfy: " << error;
        }
        return out;
    }

    ScratchDir dir_;
    fs::path source_;
    std::vector<std::string> identity_;
    AnalysisReport report_;
};

TEST_F(DicomSrTest, DsrdumpReadsTheFindingAndTheConfidence) {
    const fs::path sr = write(report_);
    const auto r = run_command("dsrdump +Pl +Pc +Psu +Pu " + quote(sr));
    ASSERT_EQ(r.exit_code, 0) << r.output;
    EXPECT_NE(r.output.find("Comprehensive SR"), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("(18748-4,LN,\"Diagnostic Imaging Report\")"), std::string::npos)
        << r.output;
    EXPECT_NE(r.output.find("COMPLETE"), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("(nodule,99MEDANCHOR,\"Pulmonary nodule\")"), std::string::npos)
        << r.output;
    EXPECT_NE(r.output.find("\"87.5\" (%,UCUM,\"percent\")"), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("(111001,DCM,\"Algorithm Name\")=\"ct-nodule\""), std::string::npos)
        << r.output;
    EXPECT_NE(r.output.find("(111003,DCM,\"Algorithm Version\")=\"1.2.0\""), std::string::npos)
        << r.output;
    EXPECT_NE(r.output.find(report_.image.hash), std::string::npos) << r.output;
    EXPECT_NE(r.output.find(report_.image.dicom->sop_instance_uid), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("Preliminary Flag    : FINAL"), std::string::npos) << r.output;
}

TEST_F(DicomSrTest, DcmtkReadsAValidDocumentInTheDeidentifiedStudy) {
    const fs::path sr = write(report_);
    DcmFileFormat file;
    ASSERT_TRUE(file.loadFile(sr.c_str()).good());
    DSRDocument doc;
    ASSERT_TRUE(doc.read(*file.getDataset()).good());
    EXPECT_TRUE(doc.isValid());
    EXPECT_EQ(doc.getDocumentType(), DSRTypes::DT_ComprehensiveSR);
    OFString study;
    doc.getStudyInstanceUID(study);
    EXPECT_EQ(std::string(study.c_str()), report_.image.dicom->study_instance_uid);
    // Current Requested Procedure Evidence lists the de-identified instance.
    auto& evidence = doc.getCurrentRequestedProcedureEvidence();
    EXPECT_EQ(evidence.getNumberOfInstances(), 1u);
    EXPECT_TRUE(evidence
                    .gotoItem(report_.image.dicom->sop_class_uid.c_str(),
                              report_.image.dicom->sop_instance_uid.c_str())
                    .good());
    OFString series;
    evidence.getSeriesInstanceUID(series);
    EXPECT_EQ(std::string(series.c_str()), report_.image.dicom->series_instance_uid);
    EXPECT_EQ(first_value(sr, "PatientIdentityRemoved"), "YES");
}

// De-identification Method (0012,0063) is LO: each value at most 64 characters (it was one
// value of 80).
TEST_F(DicomSrTest, DeidentificationMethodFitsItsVr) {
    const fs::path sr = write(report_);
    const auto r = run_command("dcmdump -q +L +P 0012,0063 " + quote(sr));
    const auto open = r.output.find('[');
    const auto close = r.output.find(']', open);
    ASSERT_NE(open, std::string::npos) << r.output;
    std::istringstream values(r.output.substr(open + 1, close - open - 1));
    std::size_t n = 0;
    for (std::string value; std::getline(values, value, '\\'); ++n) {
        EXPECT_LE(value.size(), 64u) << value;
        EXPECT_FALSE(value.empty());
    }
    EXPECT_EQ(n, 2u);
    // The de-identified copy it cites is valid too.
    EXPECT_TRUE(medanchor::testing::dciodvfy_errors(dir_ / "deid.dcm").empty());
}

TEST_F(DicomSrTest, NeedsReviewIsPreliminaryWithTheReason) {
    AnalysisReport r = report_;
    r.result.confidence_bp = 5400;
    r.result.needs_review = true;
    r.result.review_reason = "confidence 5400 bp is below the threshold 6000 bp";
    const auto out = run_command("dsrdump +Pl " + quote(write(r)));
    ASSERT_EQ(out.exit_code, 0) << out.output;
    EXPECT_NE(out.output.find("PRELIMINARY"), std::string::npos) << out.output;
    EXPECT_NE(out.output.find(r.result.review_reason), std::string::npos) << out.output;
    EXPECT_NE(out.output.find("\"54\" (%,UCUM,\"percent\")"), std::string::npos) << out.output;
}

TEST_F(DicomSrTest, CarriesNoIdentityOfTheSource) {
    const fs::path sr = write(report_);
    const auto dump = run_command("dcmdump -Un +L " + quote(sr));
    ASSERT_EQ(dump.exit_code, 0) << dump.output;
    const auto structured = run_command("dsrdump +Pl +Pu +Psu " + quote(sr));
    ASSERT_EQ(structured.exit_code, 0) << structured.output;
    const std::string bytes = read_text(sr);
    const std::string json = *to_canonical_json(report_);
    const std::string bundle = *to_fhir(report_);
    for (const auto& value : identity_) {
        EXPECT_EQ(dump.output.find(value), std::string::npos) << "dcmdump shows " << value;
        EXPECT_EQ(structured.output.find(value), std::string::npos) << "dsrdump shows " << value;
        EXPECT_EQ(bytes.find(value), std::string::npos) << "the SR file holds " << value;
        EXPECT_EQ(json.find(value), std::string::npos) << "the JSON holds " << value;
        EXPECT_EQ(bundle.find(value), std::string::npos) << "the FHIR holds " << value;
    }
    // The Patient module is there, empty.
    for (const char* attribute : {"PatientName", "PatientID", "PatientBirthDate", "PatientSex"}) {
        const auto r = run_command("dcmdump -Un +P " + std::string(attribute) + " " + quote(sr));
        EXPECT_NE(r.output.find("(no value available)"), std::string::npos)
            << attribute << ": " << r.output;
    }
}

TEST_F(DicomSrTest, SameReportSameFileNoTemporaryLeft) {
    const fs::path a = write(report_, "a.dcm");
    const fs::path b = write(report_, "b.dcm");
    EXPECT_EQ(read_text(a), read_text(b));
    std::size_t files = 0;
    for (const auto& entry : fs::directory_iterator(dir_.path())) {
        EXPECT_EQ(entry.path().filename().string().find(".tmp-"), std::string::npos)
            << entry.path();
        ++files;
    }
    EXPECT_EQ(files, 3u);  // deid.dcm, a.dcm, b.dcm
    // A different report is a different instance.
    AnalysisReport other = report_;
    other.result.confidence_bp = 8751;
    const fs::path c = write(other, "c.dcm");
    EXPECT_NE(first_value(c, "SOPInstanceUID"), first_value(a, "SOPInstanceUID"));
    EXPECT_EQ(first_value(c, "StudyInstanceUID"), first_value(a, "StudyInstanceUID"));
}

TEST_F(DicomSrTest, PngSourceGetsItsOwnStudyAndNoImageReference) {
    const fs::path sr = write(medanchor::testing::png_report());
    const auto r = run_command("dsrdump +Pl " + quote(sr));
    ASSERT_EQ(r.exit_code, 0) << r.output;
    EXPECT_EQ(r.output.find("IMAGE:"), std::string::npos) << r.output;
    EXPECT_TRUE(first_value(sr, "StudyInstanceUID").starts_with("2.25."));
}

TEST_F(DicomSrTest, RefusesAnInvalidReportAndAnUnwritablePath) {
    AnalysisReport bad = report_;
    bad.image.dicom->sop_instance_uid = first_value(source_, "SOPInstanceUID");  // not remapped
    const Status s = write_dicom_sr(bad, dir_ / "bad.dcm");
    ASSERT_FALSE(s.ok());
    EXPECT_EQ(s.error().code(), ErrorCode::kInvalidArgument);
    EXPECT_FALSE(fs::exists(dir_ / "bad.dcm"));
    const Status io = write_dicom_sr(report_, dir_ / "missing" / "report.dcm");
    ASSERT_FALSE(io.ok());
    EXPECT_EQ(io.error().code(), ErrorCode::kIo);
}

}  // namespace
}  // namespace medanchor::report

namespace medanchor::report {
namespace {

using medanchor::testing::quote;
using medanchor::testing::run_command;
using medanchor::testing::ScratchDir;

using medanchor::testing::needs_review_report;
using medanchor::testing::sample_report;

// Three images of one series: a normal one, a nodule at 87.5 %, a nodule at 54 % needing review.
SeriesSummary three_images() {
    SeriesSummary s;
    AnalysisReport normal = sample_report();
    normal.result.finding_code = "normal";
    normal.result.finding_display = "No nodule";
    normal.result.confidence_bp = 9900;
    normal.result.label_probabilities = {{"normal", 9900}, {"nodule", 100}};
    normal.image.hash = "hmac-sha256:" + std::string(64, '1');
    AnalysisReport nodule = sample_report();
    AnalysisReport review = needs_review_report();
    review.image.hash = "hmac-sha256:" + std::string(64, '3');
    int n = 0;
    for (AnalysisReport* r : {&normal, &nodule, &review}) {
        r->image.dicom->sop_instance_uid = "2.25.100" + std::to_string(++n);
        s.images.push_back(SeriesImage{*r, *r->image.dicom});
    }
    return s;
}

TEST(SeriesSrTest, TheWorstFindingIsTheLatestLabelMostConfident) {
    auto s = three_images();
    EXPECT_EQ(worst_image(s), 1u);  // nodule 87.5 % over nodule 54 % and normal 99 %
    s.images.erase(s.images.begin() + 1);
    EXPECT_EQ(worst_image(s), 1u);  // the 54 % nodule over the 99 % normal
    s.images.pop_back();
    EXPECT_EQ(worst_image(s), 0u);
}

TEST(SeriesSrTest, OneSrCitesEveryImageAndPassesDciodvfy) {
    ScratchDir dir;
    const auto s = three_images();
    const fs::path sr = dir / "series.dcm";
    ASSERT_TRUE(write_series_sr(s, sr).ok());
    for (const auto& error : medanchor::testing::dciodvfy_errors(sr))
        ADD_FAILURE() << "dciodvfy: " << error;
    const auto r = run_command("dsrdump +Pl +Pc +Psu +Pu " + quote(sr));
    ASSERT_EQ(r.exit_code, 0) << r.output;
    EXPECT_NE(r.output.find("(126000,DCM,\"Imaging Measurement Report\")"), std::string::npos)
        << r.output;
    EXPECT_NE(r.output.find("(111028,DCM,\"Image Library\")"), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("(C0034375,UMLS,\"Qualitative Evaluations\")"), std::string::npos);
    // One image can need review: the whole document is then preliminary and partial.
    EXPECT_NE(r.output.find("PRELIMINARY"), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("Needs human review"), std::string::npos) << r.output;
    // Every cited instance, in the evidence and in the tree; nothing else.
    const auto cited = dump_values(sr, "ReferencedSOPInstanceUID");
    for (const auto& image : s.images) {
        EXPECT_GE(std::count(cited.begin(), cited.end(), image.cited.sop_instance_uid), 2)
            << image.cited.sop_instance_uid;
    }
    EXPECT_EQ(first_value(sr, "StudyInstanceUID"), s.images[0].cited.study_instance_uid);
    EXPECT_EQ(first_value(sr, "PatientIdentityRemoved"), "YES");
}

// An SR citing the original instances (--reference-originals) carries UIDs the Basic Profile
// would replace: Patient Identity Removed NO, no De-identification Method; dciodvfy agrees.
TEST(SeriesSrTest, AnSrCitingOriginalsDoesNotSayIdentityRemoved) {
    ScratchDir dir;
    auto s = three_images();
    for (auto& image : s.images) {
        image.cited.study_instance_uid = "1.2.826.0.1.3680043.10.543.7";
        image.cited.series_instance_uid = "1.2.826.0.1.3680043.10.543.7.1";
        image.cited.sop_instance_uid += ".1";  // as the sender had them: not 2.25 UIDs
    }
    s.cites_originals = true;
    const fs::path sr = dir / "originals.dcm";
    ASSERT_TRUE(write_series_sr(s, sr).ok());
    EXPECT_EQ(first_value(sr, "PatientIdentityRemoved"), "NO");
    EXPECT_TRUE(dump_values(sr, "DeidentificationMethod").empty());
    EXPECT_EQ(first_value(sr, "StudyInstanceUID"), "1.2.826.0.1.3680043.10.543.7");
    for (const auto& error : medanchor::testing::dciodvfy_errors(sr))
        ADD_FAILURE() << "dciodvfy: " << error;
}

TEST(SeriesSrTest, TheSameSeriesGivesTheSameSrAndAGrownOneANewOne) {
    ScratchDir dir;
    auto s = three_images();
    ASSERT_TRUE(write_series_sr(s, dir / "a.dcm").ok());
    ASSERT_TRUE(write_series_sr(s, dir / "b.dcm").ok());
    EXPECT_EQ(first_value(dir / "a.dcm", "SOPInstanceUID"),
              first_value(dir / "b.dcm", "SOPInstanceUID"));
    s.images.pop_back();
    ASSERT_TRUE(write_series_sr(s, dir / "c.dcm").ok());
    EXPECT_NE(first_value(dir / "a.dcm", "SOPInstanceUID"),
              first_value(dir / "c.dcm", "SOPInstanceUID"));
}

TEST(SeriesSrTest, RefusesNoImageTwoSeriesAndTwoModels) {
    ScratchDir dir;
    EXPECT_EQ(write_series_sr(SeriesSummary{}, dir / "x.dcm").error().code(),
              ErrorCode::kInvalidArgument);
    auto s = three_images();
    s.images[1].cited.series_instance_uid = "2.25.9";
    EXPECT_EQ(write_series_sr(s, dir / "x.dcm").error().code(), ErrorCode::kInvalidArgument);
    s = three_images();
    s.images[1].report.model.sha256 = std::string(64, 'f');
    EXPECT_EQ(write_series_sr(s, dir / "x.dcm").error().code(), ErrorCode::kInvalidArgument);
    EXPECT_FALSE(fs::exists(dir / "x.dcm"));
}

}  // namespace
}  // namespace medanchor::report
