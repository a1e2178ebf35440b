#include "pacs/http_answer.h"

#include "common/encoding.h"

namespace medanchor::pacs::detail {

Error http_failure(const std::string& what, const HttpResponse& response) {
    // 408 (the server gave up waiting) and 429 (too many requests) pass; another 4xx does not.
    const ErrorCode code = response.status == 404                            ? ErrorCode::kNotFound
                           : response.status == 408                          ? ErrorCode::kTimeout
                           : response.status == 429                          ? ErrorCode::kNetwork
                           : response.status >= 400 && response.status < 500 ? ErrorCode::kRejected
                                                                             : ErrorCode::kNetwork;
    std::string message = what + ": HTTP " + std::to_string(response.status);
    if (!response.body.empty()) {
        message += ": ";
        message += escape_for_display(response.body.substr(0, 300));
    }
    return Error(code, std::move(message));
}

Result<nlohmann::json> json_answer(const std::string& what, const HttpResponse& response) {
    if (response.status < 200 || response.status > 299)
        return http_failure(what, response);
    auto j = nlohmann::json::parse(response.body, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded()) {
        return Error(ErrorCode::kNetwork, what + ": HTTP " + std::to_string(response.status) +
                                              " with a body that is not JSON");
    }
    return j;
}

Result<std::string> base_url(std::string url, const std::string& what) {
    if (!url.starts_with("http://") && !url.starts_with("https://")) {
        std::string message = what;
        message += " URL '";
        message += escape_for_display(url);
        message += "' does not start with http:// or https://";
        return Error(ErrorCode::kInvalidArgument, std::move(message));
    }
    while (url.ends_with('/'))
        url.pop_back();
    return url;
}

}  // namespace medanchor::pacs::detail
