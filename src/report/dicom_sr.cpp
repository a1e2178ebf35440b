#include "report/dicom_sr.h"

#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcfilefo.h>
#include <dcmtk/dcmdata/dcuid.h>
#include <dcmtk/dcmsr/codes/dcm.h>
#include <dcmtk/dcmsr/codes/umls.h>
#include <dcmtk/dcmsr/dsrdoc.h>
#include <unistd.h>

#include <algorithm>
#include <span>
#include <system_error>

#include "common/encoding.h"
#include "common/file_io.h"
#include "image/image_hash.h"
#include "report/jcs.h"

namespace medanchor::report {

namespace {

// "2.25." + the first 128 bits of SHA-256("medanchor-sr-uid-v1:" || role || ":" || seed): a UID
// that only this report (or this model) produces, the same every time.
std::string derived_uid(std::string_view role, std::string_view seed) {
    const std::string message =
        "medanchor-sr-uid-v1:" + std::string(role) + ":" + std::string(seed);
    const auto h = image::sha256(
        std::span(reinterpret_cast<const std::uint8_t*>(message.data()), message.size()));
    std::array<std::uint8_t, 16> top{};
    std::copy_n(h.begin(), 16, top.begin());
    return uid_from_128_bits(top);
}

// At most `max_chars` characters of UTF-8 `text`, cut at a character boundary (Code Meaning is
// LO: 64 characters).
std::string truncate_utf8(const std::string& text, std::size_t max_chars) {
    std::size_t chars = 0;
    for (std::size_t i = 0; i < text.size(); ++i) {
        if ((static_cast<unsigned char>(text[i]) & 0xC0) != 0x80) {
            if (chars == max_chars)
                return text.substr(0, i);
            ++chars;
        }
    }
    return text;
}

DSRCodedEntryValue local_code(const std::string& code, const std::string& meaning) {
    return DSRCodedEntryValue(code.c_str(), kSrCodingScheme, truncate_utf8(meaning, 64).c_str());
}

const DSRCodedEntryValue kPercent("%", "UCUM", "percent");

// Builds the content tree with DCMTK's tree cursor. Every add either succeeds or records the
// first failure; DCMTK refuses relationships that the Comprehensive SR IOD does not allow.
class TreeBuilder {
  public:
    explicit TreeBuilder(DSRDocumentTree& tree) : tree_(tree) {}

    // Adds an item with `relation` after the current one (kSibling) or as its first child.
    enum class Where { kSibling, kChild };
    DSRContentItem* add(Where where, DSRTypes::E_RelationshipType relation,
                        DSRTypes::E_ValueType type, const DSRCodedEntryValue& concept_name) {
        if (!ok_)
            return nullptr;
        const size_t id = tree_.addContentItem(
            relation, type,
            where == Where::kChild ? DSRTypes::AM_belowCurrent : DSRTypes::AM_afterCurrent);
        if (id == 0)
            return fail("cannot add " + std::string(concept_name.getCodeMeaning().c_str()));
        DSRContentItem& item = tree_.getCurrentContentItem();
        if (item.setConceptName(concept_name).bad())
            return fail("bad concept_name name " +
                        std::string(concept_name.getCodeMeaning().c_str()));
        return &item;
    }
    void text(Where where, DSRTypes::E_RelationshipType relation,
              const DSRCodedEntryValue& concept_name, const std::string& value) {
        if (auto* item = add(where, relation, DSRTypes::VT_Text, concept_name);
            item != nullptr && item->setStringValue(value.c_str()).bad())
            fail("bad text for " + std::string(concept_name.getCodeMeaning().c_str()));
    }
    void code(Where where, DSRTypes::E_RelationshipType relation,
              const DSRCodedEntryValue& concept_name, const DSRCodedEntryValue& value) {
        if (auto* item = add(where, relation, DSRTypes::VT_Code, concept_name);
            item != nullptr && item->setCodeValue(value).bad())
            fail("bad code for " + std::string(concept_name.getCodeMeaning().c_str()));
    }
    void percent(Where where, DSRTypes::E_RelationshipType relation,
                 const DSRCodedEntryValue& concept_name, std::uint32_t basis_points) {
        if (auto* item = add(where, relation, DSRTypes::VT_Num, concept_name);
            item != nullptr &&
            item->setNumericValue(
                    DSRNumericMeasurementValue(percent_string(basis_points).c_str(), kPercent))
                .bad())
            fail("bad number for " + std::string(concept_name.getCodeMeaning().c_str()));
    }
    void uidref(Where where, DSRTypes::E_RelationshipType relation,
                const DSRCodedEntryValue& concept_name, const std::string& uid) {
        if (auto* item = add(where, relation, DSRTypes::VT_UIDRef, concept_name);
            item != nullptr && item->setStringValue(uid.c_str()).bad())
            fail("bad UID for " + std::string(concept_name.getCodeMeaning().c_str()));
    }
    void image(Where where, const DicomReference& d,
               DSRTypes::E_RelationshipType relation = DSRTypes::RT_inferredFrom) {
        if (!ok_)
            return;
        if (tree_.addContentItem(relation, DSRTypes::VT_Image,
                                 where == Where::kChild ? DSRTypes::AM_belowCurrent
                                                        : DSRTypes::AM_afterCurrent) == 0) {
            fail("cannot add the image reference");
            return;
        }
        if (tree_.getCurrentContentItem()
                .setImageReference(
                    DSRImageReferenceValue(d.sop_class_uid.c_str(), d.sop_instance_uid.c_str()))
                .bad())
            fail("bad image reference");
    }
    void up() {
        if (ok_ && tree_.goUp() == 0)
            fail("tree cursor cannot go up");
    }

    bool ok() const { return ok_; }
    const std::string& problem() const { return problem_; }

  private:
    DSRContentItem* fail(std::string problem) {
        if (ok_) {
            ok_ = false;
            problem_ = std::move(problem);
        }
        return nullptr;
    }
    DSRDocumentTree& tree_;
    bool ok_ = true;
    std::string problem_;
};

// Observation context (TID 1004 Device Observer): the model is the observer, not a person.
void device_observer(TreeBuilder& t, TreeBuilder::Where first, const ModelSection& model) {
    using W = TreeBuilder::Where;
    t.code(first, DSRTypes::RT_hasObsContext, CODE_DCM_ObserverType, CODE_DCM_Device);
    t.uidref(W::kSibling, DSRTypes::RT_hasObsContext, CODE_DCM_DeviceObserverUID,
             derived_uid("device-observer", model.sha256));
    t.text(W::kSibling, DSRTypes::RT_hasObsContext, CODE_DCM_DeviceObserverName,
           "medanchor model " + model.name);
    t.text(W::kSibling, DSRTypes::RT_hasObsContext, CODE_DCM_DeviceObserverManufacturer,
           "medanchor");
    t.text(W::kSibling, DSRTypes::RT_hasObsContext, CODE_DCM_DeviceObserverModelName,
           model.version);
}

// "YYYY-MM-DDTHH:MM:SSZ" as DICOM DA and TM.
std::string dicom_date(const std::string& at) {
    return at.substr(0, 4) + at.substr(5, 2) + at.substr(8, 2);
}
std::string dicom_time(const std::string& at) {
    return at.substr(11, 2) + at.substr(14, 2) + at.substr(17, 2);
}

Error internal(const std::string& what) {
    return Error(ErrorCode::kInternal, "DICOM SR: " + what);
}

// Writes the document with its own deterministic Series and SOP Instance UIDs, a record that
// nothing in it names the patient, through a temporary file renamed over `path`.
// `identity_removed` false (the SR cites original instances): Patient Identity Removed NO and no
// De-identification Method (Type 1C, only with YES).
Status save_document(DSRDocument& doc, const std::string& series_uid,
                     const std::string& instance_uid, const std::string& at,
                     const std::filesystem::path& path, bool identity_removed = true) {
    DcmFileFormat file;
    DcmDataset& ds = *file.getDataset();
    if (OFCondition c = doc.write(ds); c.bad())
        return internal(std::string("DCMTK refuses the document: ") + c.text());
    // The source went through the Basic Profile (PS3.15 E.1).
    const std::pair<DcmTagKey, std::string> overrides[] = {
        {DCM_SeriesInstanceUID, series_uid},
        {DCM_SOPInstanceUID, instance_uid},
        {DCM_InstanceCreationDate, dicom_date(at)},
        {DCM_InstanceCreationTime, dicom_time(at)},
        {DCM_PatientIdentityRemoved, identity_removed ? "YES" : "NO"},
    };
    for (const auto& [tag, value] : overrides) {
        if (ds.putAndInsertString(tag, value.c_str()).bad())
            return internal("cannot set " + std::string(DcmTag(tag).getTagName()));
    }
    // LO: at most 64 characters a value; VM 1-n, so two values.
    if (identity_removed &&
        ds.putAndInsertString(
              DCM_DeidentificationMethod,
              "medanchor: source de-identified, PS3.15 Basic Profile\\report holds no identity")
            .bad())
        return internal("cannot set DeidentificationMethod");

    AtomicFile out(path);
    if (OFCondition c = file.saveFile(out.temp_path().c_str(), EXS_LittleEndianExplicit); c.bad())
        return Error(ErrorCode::kIo, path.string() + ": cannot write the DICOM SR: " + c.text());
    if (auto s = out.commit(); !s)
        return s;
    return Status::Ok();
}

}  // namespace

Status write_dicom_sr(const AnalysisReport& r, const std::filesystem::path& path) {
    auto digest = report_digest(r);
    if (!digest)
        return digest.error();
    const std::string digest_text = digest_hex(*digest);
    const auto& res = r.result;
    using W = TreeBuilder::Where;

    DSRDocument doc(DSRTypes::DT_ComprehensiveSR);
    if (doc.setSpecificCharacterSetType(DSRTypes::CS_UTF8).bad())
        return internal("cannot set the character set");
    const std::string study_uid =
        r.image.dicom ? r.image.dicom->study_instance_uid : derived_uid("study", digest_text);
    if (doc.createNewSeriesInStudy(study_uid.c_str()).bad())
        return internal("cannot join study " + study_uid);
    doc.setManufacturer("medanchor");
    doc.setSoftwareVersions(("medanchor " + r.medanchor_version).c_str());
    doc.setSeriesDescription("medanchor AI analysis");
    // A result that needs review is preliminary and partial; otherwise final and complete. The
    // verification flag stays UNVERIFIED: no human has signed it (review happens on chain).
    if (res.needs_review) {
        doc.setPreliminaryFlag(DSRTypes::PF_Preliminary);
    } else {
        doc.setPreliminaryFlag(DSRTypes::PF_Final);
    }

    TreeBuilder t(doc.getTree());
    // Root: (18748-4, LN, "Diagnostic Imaging Report").
    t.add(W::kSibling, DSRTypes::RT_isRoot, DSRTypes::VT_Container,
          DSRCodedEntryValue("18748-4", "LN", "Diagnostic Imaging Report"));

    device_observer(t, W::kChild, r.model);

    // Findings: the finding as a CODE, its confidence and the per-label probabilities as NUM (%),
    // inferred from the source image.
    t.add(W::kSibling, DSRTypes::RT_contains, DSRTypes::VT_Container,
          DSRCodedEntryValue("121070", "DCM", "Findings"));
    t.code(W::kChild, DSRTypes::RT_contains, CODE_DCM_Finding,
           local_code(res.finding_code, res.finding_display));
    t.percent(W::kChild, DSRTypes::RT_hasProperties, local_code("CONFIDENCE", "Confidence"),
              res.confidence_bp);
    if (r.image.dicom)
        t.image(W::kSibling, *r.image.dicom);
    t.up();
    // Each label's probability: a NUM whose concept modifier names the label (the label code
    // itself is not the concept: "nodule" means the finding, not its probability).
    for (const auto& p : res.label_probabilities) {
        t.percent(W::kSibling, DSRTypes::RT_contains,
                  local_code("LABEL_PROBABILITY", "Label probability"), p.probability_bp);
        t.code(W::kChild, DSRTypes::RT_hasConceptMod, CODE_DCM_Finding, local_code(p.code, p.code));
        t.up();
    }
    if (res.needs_review) {
        t.text(W::kSibling, DSRTypes::RT_contains, CODE_DCM_Comment,
               "Needs human review: " + res.review_reason);
    }
    t.up();

    // Algorithm identification (TID 4019): name, version, parameters.
    t.add(W::kSibling, DSRTypes::RT_contains, DSRTypes::VT_Container,
          local_code("ALGORITHM", "Algorithm Identification"));
    t.text(W::kChild, DSRTypes::RT_contains, CODE_DCM_AlgorithmName, r.model.name);
    t.text(W::kSibling, DSRTypes::RT_contains, CODE_DCM_AlgorithmVersion, r.model.version);
    std::string parameters = "calibration=" + r.model.calibration_method +
                             " temperature=" + r.model.calibration_temperature;
    for (const auto& step : res.preprocessing)
        parameters += "; " + step;
    t.text(W::kSibling, DSRTypes::RT_contains, CODE_DCM_AlgorithmParameters, parameters);
    t.text(W::kSibling, DSRTypes::RT_contains, local_code("MODEL_SHA256", "Model SHA-256"),
           r.model.sha256);
    if (r.model.chain_id) {
        t.text(W::kSibling, DSRTypes::RT_contains, local_code("MODEL_ID", "On-chain model id"),
               std::to_string(*r.model.chain_id));
    }
    t.up();

    // Provenance: what ties this document to the chain.
    t.add(W::kSibling, DSRTypes::RT_contains, DSRTypes::VT_Container,
          local_code("PROVENANCE", "Provenance"));
    t.text(W::kChild, DSRTypes::RT_contains, local_code("IMAGE_HASH", "Image hash"), r.image.hash);
    t.text(W::kSibling, DSRTypes::RT_contains, local_code("REPORT_DIGEST", "Report digest"),
           "sha256:" + digest_text);
    t.text(W::kSibling, DSRTypes::RT_contains, local_code("ANALYST", "Analyst Stacks principal"),
           r.analyst);
    t.text(W::kSibling, DSRTypes::RT_contains, local_code("ANALYZED_AT", "Analyzed at"),
           r.analyzed_at);
    if (r.site)
        t.text(W::kSibling, DSRTypes::RT_contains, local_code("SITE", "Site"), *r.site);
    if (res.saliency) {
        t.text(W::kSibling, DSRTypes::RT_contains, local_code("SALIENCY", "Saliency map"),
               res.saliency->file_name + " sha256:" + res.saliency->sha256);
    }
    t.up();
    if (!t.ok())
        return internal(t.problem());

    if (r.image.dicom) {
        const auto& d = *r.image.dicom;
        if (doc.getCurrentRequestedProcedureEvidence()
                .addItem(d.study_instance_uid.c_str(), d.series_instance_uid.c_str(),
                         d.sop_class_uid.c_str(), d.sop_instance_uid.c_str())
                .bad())
            return internal("cannot add the evidence reference");
    }
    if (!res.needs_review && doc.completeDocument().bad())
        return internal("cannot mark the document complete");
    doc.setContentDate(dicom_date(r.analyzed_at).c_str());
    doc.setContentTime(dicom_time(r.analyzed_at).c_str());
    doc.setTimezoneOffsetFromUTC("+0000");

    return save_document(doc, derived_uid("series", digest_text),
                         derived_uid("instance", digest_text), r.analyzed_at, path);
}

std::size_t worst_image(const SeriesSummary& summary) {
    // The rank of an image's finding: its position in the model's label list (the report's
    // label probabilities, in the manifest's order); then its confidence.
    const auto rank = [](const AnalysisReport& r) {
        std::size_t at = 0;
        for (std::size_t k = 0; k < r.result.label_probabilities.size(); ++k) {
            if (r.result.label_probabilities[k].code == r.result.finding_code)
                at = k;
        }
        return std::pair(at, r.result.confidence_bp);
    };
    std::size_t worst = 0;
    for (std::size_t i = 1; i < summary.images.size(); ++i) {
        if (rank(summary.images[i].report) > rank(summary.images[worst].report))
            worst = i;
    }
    return worst;
}

Status write_series_sr(const SeriesSummary& summary, const std::filesystem::path& path) {
    if (summary.images.empty())
        return Error(ErrorCode::kInvalidArgument, "series SR: no image");
    const auto& first = summary.images.front();
    // The document's identity: every image's report digest and the instance it cites, so the
    // same series analysed again gives the same SR, and a series that grew gives a new one.
    std::string seed;
    std::string at;
    bool needs_review = false;
    for (const auto& image : summary.images) {
        auto digest = report_digest(image.report);
        if (!digest)
            return digest.error();
        const auto& c = image.cited;
        if (c.study_instance_uid != first.cited.study_instance_uid ||
            c.series_instance_uid != first.cited.series_instance_uid)
            return Error(ErrorCode::kInvalidArgument,
                         "series SR: the images are not of one series");
        if (image.report.model.sha256 != first.report.model.sha256)
            return Error(ErrorCode::kInvalidArgument, "series SR: the images have two models");
        seed += digest_hex(*digest) + ":" + c.sop_instance_uid + ";";
        at = std::max(at, image.report.analyzed_at);
        needs_review = needs_review || image.report.result.needs_review;
    }
    const std::string seed_digest = to_hex(sha256(seed));
    using W = TreeBuilder::Where;

    DSRDocument doc(DSRTypes::DT_ComprehensiveSR);
    if (doc.setSpecificCharacterSetType(DSRTypes::CS_UTF8).bad())
        return internal("cannot set the character set");
    if (doc.createNewSeriesInStudy(first.cited.study_instance_uid.c_str()).bad())
        return internal("cannot join study " + first.cited.study_instance_uid);
    doc.setManufacturer("medanchor");
    doc.setSoftwareVersions(("medanchor " + first.report.medanchor_version).c_str());
    doc.setSeriesDescription("medanchor AI analysis (series)");
    doc.setPreliminaryFlag(needs_review ? DSRTypes::PF_Preliminary : DSRTypes::PF_Final);

    TreeBuilder t(doc.getTree());
    // TID 1500 Measurement Report: language, observer, procedure, image library, measurements
    // (one group per image, TID 1501), qualitative evaluations (the series' worst finding).
    t.add(W::kSibling, DSRTypes::RT_isRoot, DSRTypes::VT_Container,
          CODE_DCM_ImagingMeasurementReport);
    t.code(W::kChild, DSRTypes::RT_hasConceptMod, CODE_DCM_LanguageOfContentItemAndDescendants,
           DSRCodedEntryValue("en-US", "RFC5646", "English (United States)"));
    device_observer(t, W::kSibling, first.report.model);
    t.code(W::kSibling, DSRTypes::RT_hasConceptMod, CODE_DCM_ProcedureReported,
           local_code("AI_IMAGE_ANALYSIS", "AI image analysis"));

    t.add(W::kSibling, DSRTypes::RT_contains, DSRTypes::VT_Container, CODE_DCM_ImageLibrary);
    t.add(W::kChild, DSRTypes::RT_contains, DSRTypes::VT_Container, CODE_DCM_ImageLibraryGroup);
    for (std::size_t i = 0; i < summary.images.size(); ++i)
        t.image(i == 0 ? W::kChild : W::kSibling, summary.images[i].cited, DSRTypes::RT_contains);
    t.up();
    t.up();

    t.add(W::kSibling, DSRTypes::RT_contains, DSRTypes::VT_Container, CODE_DCM_ImagingMeasurements);
    for (std::size_t i = 0; i < summary.images.size(); ++i) {
        const auto& image = summary.images[i];
        const auto& res = image.report.result;
        t.add(i == 0 ? W::kChild : W::kSibling, DSRTypes::RT_contains, DSRTypes::VT_Container,
              CODE_DCM_MeasurementGroup);
        t.text(W::kChild, DSRTypes::RT_hasObsContext, CODE_DCM_TrackingIdentifier,
               "image " + std::to_string(i + 1));
        t.uidref(W::kSibling, DSRTypes::RT_hasObsContext, CODE_DCM_TrackingUniqueIdentifier,
                 derived_uid("tracking", seed_digest + ":" + image.cited.sop_instance_uid));
        t.code(W::kSibling, DSRTypes::RT_contains, CODE_DCM_Finding,
               local_code(res.finding_code, res.finding_display));
        t.percent(W::kChild, DSRTypes::RT_hasProperties, local_code("CONFIDENCE", "Confidence"),
                  res.confidence_bp);
        t.up();
        t.image(W::kSibling, image.cited, DSRTypes::RT_contains);
        t.text(W::kSibling, DSRTypes::RT_contains, local_code("IMAGE_HASH", "Image hash"),
               image.report.image.hash);
        auto digest = report_digest(image.report);
        t.text(W::kSibling, DSRTypes::RT_contains, local_code("REPORT_DIGEST", "Report digest"),
               "sha256:" + digest_hex(*digest));
        if (res.needs_review) {
            t.text(W::kSibling, DSRTypes::RT_contains, CODE_DCM_Comment,
                   "Needs human review: " + res.review_reason);
        }
        t.up();
    }
    t.up();

    const auto& worst = summary.images[worst_image(summary)].report;
    t.add(W::kSibling, DSRTypes::RT_contains, DSRTypes::VT_Container,
          CODE_UMLS_QualitativeEvaluations);
    t.code(W::kChild, DSRTypes::RT_contains, CODE_DCM_Finding,
           local_code(worst.result.finding_code, worst.result.finding_display));
    t.percent(W::kChild, DSRTypes::RT_hasProperties, local_code("CONFIDENCE", "Confidence"),
              worst.result.confidence_bp);
    t.up();
    t.text(W::kSibling, DSRTypes::RT_contains, local_code("ANALYST", "Analyst Stacks principal"),
           first.report.analyst);
    t.text(W::kSibling, DSRTypes::RT_contains, local_code("IMAGES", "Images analysed"),
           std::to_string(summary.images.size()));
    t.up();
    if (!t.ok())
        return internal(t.problem());

    for (const auto& image : summary.images) {
        const auto& d = image.cited;
        if (doc.getCurrentRequestedProcedureEvidence()
                .addItem(d.study_instance_uid.c_str(), d.series_instance_uid.c_str(),
                         d.sop_class_uid.c_str(), d.sop_instance_uid.c_str())
                .bad())
            return internal("cannot add the evidence reference");
    }
    if (!needs_review && doc.completeDocument().bad())
        return internal("cannot mark the document complete");
    doc.setContentDate(dicom_date(at).c_str());
    doc.setContentTime(dicom_time(at).c_str());
    doc.setTimezoneOffsetFromUTC("+0000");
    return save_document(doc, derived_uid("series-sr", seed_digest),
                         derived_uid("series-sr-instance", seed_digest), at, path,
                         /*identity_removed=*/!summary.cites_originals);
}

}  // namespace medanchor::report
