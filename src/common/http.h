// A minimal blocking HTTP client over libcurl, the only file of the product that touches it: every
// layer that speaks HTTP (the Stacks node client, the PACS clients) uses this one.
// Thread safety: one HttpClient per thread (libcurl easy handles are not shared).
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <string_view>

#include "common/error.h"

namespace medanchor {

struct HttpResponse {
    long status = 0;
    std::string body;
};

class HttpClient {
  public:
    explicit HttpClient(std::chrono::milliseconds timeout = std::chrono::seconds(15));
    ~HttpClient();
    HttpClient(const HttpClient&) = delete;
    HttpClient& operator=(const HttpClient&) = delete;
    HttpClient(HttpClient&&) noexcept;
    HttpClient& operator=(HttpClient&&) noexcept;

    // kNetwork when no HTTP answer came (refused, reset, DNS); kTimeout when it took too long.
    // Any HTTP status is a successful Result: callers decide what a 4xx or 5xx means.
    Result<HttpResponse> get(const std::string& url);
    Result<HttpResponse> post(const std::string& url, std::string_view body,
                              std::string_view content_type);

  private:
    Result<HttpResponse> perform(const std::string& url, const std::string* body,
                                 std::string_view content_type);

    struct Impl;
    std::unique_ptr<Impl> impl_;
    std::chrono::milliseconds timeout_;
};

}  // namespace medanchor
