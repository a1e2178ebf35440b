// The report as a DICOM Comprehensive SR document (DCMTK dcmsr), for PACS and viewers that read
// structured reports (docs/report.md, "DICOM SR"). DCMTK stays behind this header.
#pragma once

#include <filesystem>

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

}  // namespace medanchor::report
