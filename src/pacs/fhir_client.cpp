#include "pacs/fhir_client.h"

#include "pacs/http_answer.h"

namespace medanchor::pacs {

namespace {
constexpr char kFhirJson[] = "application/fhir+json";
}  // namespace

FhirClient::FhirClient(std::string url, std::chrono::milliseconds timeout)
    : url_(std::move(url)), http_(timeout) {}

Result<FhirClient> FhirClient::create(std::string url, std::chrono::milliseconds timeout) {
    auto base = detail::base_url(std::move(url), "FHIR");
    if (!base)
        return base.error();
    return FhirClient(std::move(*base), timeout);
}

Result<FhirPosted> FhirClient::post_bundle(std::string_view bundle_json) {
    HttpRequest request;
    request.method = "POST";
    request.url = url_;
    request.headers = {{"Accept", kFhirJson}};
    request.body = bundle_json;
    request.content_type = kFhirJson;
    request.max_response_bytes = std::size_t{1} << 20;
    auto response = http_.send(request);
    if (!response)
        return response.error();
    if (response->status < 200 || response->status > 299)
        return detail::http_failure("FHIR POST " + url_, *response);
    return FhirPosted{response->status, std::move(response->body)};
}

}  // namespace medanchor::pacs
