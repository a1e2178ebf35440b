// Posting the analysis' FHIR R4 bundle (report/fhir.h) to a FHIR server (`--fhir URL`). Over
// common/http.h. Thread safety: one client per thread.
#pragma once

#include <chrono>
#include <string>
#include <string_view>

#include "common/error.h"
#include "common/http.h"

namespace medanchor::pacs {

struct FhirPosted {
    long http_status = 0;  // 200 or 201 from a conforming server
    std::string body;      // the server's answer (bounded: at most 1 MiB), e.g. the stored resource
};

class FhirClient {
  public:
    // `url` is where the bundle goes as it is: a server's base for a transaction or batch bundle,
    // or "{base}/Bundle" to store a collection (kInvalidArgument unless http:// or https://).
    static Result<FhirClient> create(std::string url,
                                     std::chrono::milliseconds timeout = std::chrono::seconds(30));

    // POSTs the bundle as application/fhir+json. Ok on any 2xx; errors name the URL: kRejected
    // (4xx, with the start of the server's OperationOutcome), kNotFound, kNetwork, kTimeout.
    Result<FhirPosted> post_bundle(std::string_view bundle_json);

    const std::string& url() const { return url_; }

  private:
    FhirClient(std::string url, std::chrono::milliseconds timeout);
    std::string url_;
    HttpClient http_;
};

}  // namespace medanchor::pacs
