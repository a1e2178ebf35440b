#include "common/http.h"

#include <curl/curl.h>

namespace medanchor {
namespace {

// Responses from a node are small JSON documents; a body past this is not a node talking.
constexpr std::size_t kMaxResponseBytes = 16 * 1024 * 1024;

struct Sink {
    std::string body;
    bool overflow = false;
};

std::size_t on_data(char* ptr, std::size_t size, std::size_t n, void* user) {
    auto* sink = static_cast<Sink*>(user);
    const std::size_t len = size * n;
    if (sink->body.size() + len > kMaxResponseBytes) {
        sink->overflow = true;
        return 0;  // aborts the transfer
    }
    sink->body.append(ptr, len);
    return len;
}

struct GlobalInit {
    GlobalInit() { curl_global_init(CURL_GLOBAL_DEFAULT); }
};

}  // namespace

struct HttpClient::Impl {
    CURL* curl = nullptr;
    ~Impl() {
        if (curl != nullptr)
            curl_easy_cleanup(curl);
    }
};

HttpClient::HttpClient(std::chrono::milliseconds timeout) : impl_(new Impl), timeout_(timeout) {
    static GlobalInit init;
    impl_->curl = curl_easy_init();
}

HttpClient::~HttpClient() = default;

HttpClient::HttpClient(HttpClient&&) noexcept = default;
HttpClient& HttpClient::operator=(HttpClient&&) noexcept = default;

Result<HttpResponse> HttpClient::get(const std::string& url) {
    return perform(url, nullptr, {});
}

Result<HttpResponse> HttpClient::post(const std::string& url, std::string_view body,
                                      std::string_view content_type) {
    const std::string copy(body);
    return perform(url, &copy, content_type);
}

Result<HttpResponse> HttpClient::perform(const std::string& url, const std::string* body,
                                         std::string_view content_type) {
    CURL* c = impl_ ? impl_->curl : nullptr;
    if (c == nullptr)
        return Error(ErrorCode::kInternal, "libcurl failed to initialise");
    curl_easy_reset(c);
    Sink sink;
    curl_slist* headers = nullptr;
    curl_easy_setopt(c, CURLOPT_URL, url.c_str());
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &sink);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, static_cast<long>(timeout_.count()));
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(timeout_.count()));
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_USERAGENT, "medanchor");
    if (body != nullptr) {
        headers =
            curl_slist_append(headers, ("Content-Type: " + std::string(content_type)).c_str());
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body->data());
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body->size()));
    }
    const CURLcode rc = curl_easy_perform(c);
    curl_slist_free_all(headers);
    if (sink.overflow) {
        return Error(ErrorCode::kTooLarge, url + ": response larger than " +
                                               std::to_string(kMaxResponseBytes) + " bytes");
    }
    if (rc == CURLE_OPERATION_TIMEDOUT) {
        return Error(ErrorCode::kTimeout,
                     url + ": no answer within " + std::to_string(timeout_.count()) + " ms");
    }
    if (rc != CURLE_OK) {
        return Error(ErrorCode::kNetwork, url + ": " + curl_easy_strerror(rc));
    }
    HttpResponse response;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &response.status);
    response.body = std::move(sink.body);
    return response;
}

}  // namespace medanchor
