// A minimal blocking HTTP client over libcurl, the only file of the product that touches it: every
// layer that speaks HTTP (the Stacks node client, the PACS clients) uses this one.
// Thread safety: one HttpClient per thread (libcurl easy handles are not shared).
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/error.h"

namespace medanchor {

// Responses from a Stacks node are small JSON documents; a body past this is not a node talking.
// Callers that download more (a DICOM instance) raise the bound per request.
inline constexpr std::size_t kDefaultMaxResponseBytes = 16 * 1024 * 1024;

struct HttpRequest {
    std::string method = "GET";  // "GET" or "POST" (a POST sends `body`, even when empty)
    std::string url;
    // Extra request headers, e.g. {"Accept", "application/dicom+json"}. A POST's Content-Type is
    // `content_type`, not one of these.
    std::vector<std::pair<std::string, std::string>> headers;
    std::string_view body;  // not owned: must outlive send()
    std::string_view content_type;
    // The response body is refused (kTooLarge) past this many bytes, without reading the rest.
    std::size_t max_response_bytes = kDefaultMaxResponseBytes;
    // On a new connection, closed after: libcurl sends a request again by itself when a kept-alive
    // connection closes before any answer, and the caller of a request that must not go twice
    // unknown to it (a transaction broadcast) counts its own tries.
    bool fresh_connection = false;
};

struct HttpResponse {
    long status = 0;
    std::string body;
    std::string content_type;  // the response's Content-Type header, empty when it had none
};

// `text` with the user and password of every URL in it (scheme://user:password@host) shown as
// ***@: for messages, logs and `config show`, which must never print a secret.
std::string mask_url_credentials(std::string_view text);

class HttpClient {
  public:
    // `timeout` bounds connecting and the whole exchange of each request.
    explicit HttpClient(std::chrono::milliseconds timeout = std::chrono::seconds(15));
    ~HttpClient();
    HttpClient(const HttpClient&) = delete;
    HttpClient& operator=(const HttpClient&) = delete;
    HttpClient(HttpClient&&) noexcept;
    HttpClient& operator=(HttpClient&&) noexcept;

    // kNetwork when no HTTP answer came (refused, reset, DNS); kTimeout when it took too long;
    // kTooLarge when the body passes the request's bound; kInvalidArgument for a method other
    // than GET or POST. Any HTTP status is a successful Result: callers decide what a 4xx or 5xx
    // means. Every message starts with the URL, its user and password masked.
    Result<HttpResponse> send(const HttpRequest& request);
    Result<HttpResponse> get(const std::string& url);
    Result<HttpResponse> post(const std::string& url, std::string_view body,
                              std::string_view content_type);

  private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
    std::chrono::milliseconds timeout_;
};

}  // namespace medanchor
