// A DICOMweb client (PS3.18): STOW-RS to send results back to an archive (`--stow URL`), and
// QIDO-RS to find what it holds. Over common/http.h. Thread safety: one client per thread.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.h"
#include "common/http.h"

namespace medanchor::pacs {

struct DicomWebOptions {
    std::chrono::milliseconds timeout{60000};  // connecting and each whole request
    // QIDO-RS answers and STOW-RS receipts are JSON listings; one bigger than this is refused.
    std::size_t max_response_bytes = kDefaultMaxResponseBytes;
};

// What the archive answered to a STOW-RS request (PS3.18 10.5.3): the SOP Instance UIDs it
// stored (Referenced SOP Sequence) and those it did not (Failed SOP Sequence), each with its
// Failure Reason (a C-STORE status, 0 when the archive gave none).
struct StowReceipt {
    long http_status = 0;  // 200: all stored; 202: some failed; 409: none stored
    std::vector<std::string> stored;
    std::vector<std::pair<std::string, std::uint16_t>> failed;
};

// One QIDO-RS match: each attribute's first value as text, keyed by its tag as 8 upper-case hex
// digits ("0020000D"); numbers are written in decimal, person names as their Alphabetic form.
// Sequences and binary values are left out.
using QidoMatch = std::map<std::string, std::string>;

class DicomWebClient {
  public:
    // `base_url` is the DICOMweb root, e.g. "http://127.0.0.1:8042/dicom-web" (kInvalidArgument
    // unless http:// or https://).
    static Result<DicomWebClient> create(std::string base_url, DicomWebOptions options = {});

    // STOW-RS: POST {base}/studies, one multipart/related; type="application/dicom" request
    // holding each Part 10 instance as a part. Ok with the receipt when the archive answers 200,
    // 202 or 409 with a receipt (a caller checks `failed`); errors name the URL: kRejected (any
    // other 4xx, e.g. 415), kNotFound (404: no DICOMweb there), kNetwork, kTimeout, kTooLarge.
    Result<StowReceipt> store(std::span<const std::span<const std::uint8_t>> instances);

    // QIDO-RS: GET {base}/{query}, e.g. "studies?StudyInstanceUID=1.2.3" or
    // "studies/1.2.3/series/4.5.6/instances". A 204 (nothing matches) is an empty list. The query
    // is sent as given: callers put only UIDs and keywords in it.
    Result<std::vector<QidoMatch>> search(std::string_view query);

    const std::string& base_url() const { return base_url_; }

  private:
    DicomWebClient(std::string base_url, DicomWebOptions options);
    std::string base_url_;
    DicomWebOptions options_;
    HttpClient http_;
};

// The multipart/related body of a STOW-RS request and its Content-Type header, for tests and for
// anyone who must send it another way. The boundary is derived from the instances' SHA-256 and
// checked not to occur in any of them.
struct StowBody {
    std::string content_type;
    std::string body;
};
StowBody stow_body(std::span<const std::span<const std::uint8_t>> instances);

}  // namespace medanchor::pacs
