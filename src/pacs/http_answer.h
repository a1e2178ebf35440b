// What the PACS layer's HTTP clients (DICOMweb, FHIR, Orthanc) do with an answer, once: a status
// outside 2xx becomes an error naming the request and quoting the start of the body (escaped: it
// is the server's text), and a JSON body is parsed without exceptions. Internal to src/pacs.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "common/error.h"
#include "common/http.h"

namespace medanchor::pacs::detail {

// kNotFound for 404; kRejected for another 4xx (the server refused what we sent); kNetwork for
// anything else (5xx, 1xx, 3xx: the server failed or is not the service we expect). `what` is the
// request, e.g. "POST http://host/instances".
Error http_failure(const std::string& what, const HttpResponse& response);

// The body of a 2xx answer as JSON; http_failure() otherwise, kNetwork when the body is not JSON.
Result<nlohmann::json> json_answer(const std::string& what, const HttpResponse& response);

// A base URL without its trailing slashes, so that base + "/path" has exactly one; kInvalidArgument
// unless it starts with http:// or https://.
Result<std::string> base_url(std::string url, const std::string& what);

}  // namespace medanchor::pacs::detail
