// The report as a DICOM Comprehensive SR document (DCMTK dcmsr), for PACS and viewers that read
// structured reports (docs/report.md, "DICOM SR"). DCMTK stays behind this header.
#pragma once

#include <cstddef>
#include <filesystem>
#include <vector>

#include "common/error.h"
#include "report/report.h"

namespace medanchor::report {

// The private coding scheme designator of finding and label codes in the SR ("99" prefix:
// PS3.16 8.2, a private scheme).
inline constexpr char kSrCodingScheme[] = "99MEDANCHOR";

// Writes `report` as a Comprehensive SR to `path`: first to a temporary file beside it, then
// renamed over `path`, so a reader never sees half a file. The Patient module is empty (Type 2
// attributes present, zero length) and Patient Identity Removed is YES: the source was
// de-identified and the report carries no identity. For a DICOM source the SR joins the
// de-identified study and its evidence lists the de-identified instance; its own Series and SOP
// Instance UIDs are 2.25 UIDs derived from the report digest, so writing the same report twice
// gives the same instance. Validates the report first (kInvalidArgument); kIo when the file
// cannot be written; kInternal when DCMTK refuses the document (a bug here).
Status write_dicom_sr(const AnalysisReport& report, const std::filesystem::path& path);

// One image of a series summary: its analysis report and the instance the SR cites for it (the
// de-identified instance, or the original one when the operator asks for it; the caller's
// choice, so not checked to be a 2.25 UID).
struct SeriesImage {
    AnalysisReport report;
    DicomReference cited;
};
struct SeriesSummary {
    std::vector<SeriesImage> images;  // one series, one model; in the order to list them
    // The cited instances are the originals as the sender had them (not de-identified): the SR
    // then carries UIDs the Basic Profile would replace, so it says Patient Identity Removed NO
    // and gives no De-identification Method (PS3.3 C.7.1.1: YES only when identifying
    // information was removed or replaced as PS3.15 says).
    bool cites_originals = false;
};

// The index of the series' worst finding: the image whose finding comes latest in the model's
// label list (labels are listed from the least to the most severe, e.g. nodule-absent,
// nodule-present), the most confident of those.
std::size_t worst_image(const SeriesSummary& summary);

// Writes one Comprehensive SR for a series, structured after TID 1500 (Measurement Report):
// language, the model as device observer, an Image Library of every cited instance, one
// Measurement Group per image (finding, confidence, image reference, image hash, report digest,
// review reason), and the worst finding under Qualitative Evaluations. It joins the cited
// instances' study; its Series and SOP Instance UIDs are derived from every image's report digest
// and cited instance, so the same series gives the same SR and a series that grew a new one.
// Preliminary (and partial) when any image needs review. Same file handling and errors as
// write_dicom_sr; kInvalidArgument for no image, two series or two models.
Status write_series_sr(const SeriesSummary& summary, const std::filesystem::path& path);

}  // namespace medanchor::report
