#include "common/http.h"

#include <curl/curl.h>

namespace medanchor {
namespace {

struct Sink {
    std::string body;
    std::size_t limit = 0;
    bool overflow = false;
};

std::size_t on_data(char* ptr, std::size_t size, std::size_t n, void* user) {
    auto* sink = static_cast<Sink*>(user);
    const std::size_t len = size * n;
    if (sink->body.size() + len > sink->limit) {
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
    HttpRequest request;
    request.url = url;
    return send(request);
}

Result<HttpResponse> HttpClient::post(const std::string& url, std::string_view body,
                                      std::string_view content_type) {
    HttpRequest request;
    request.method = "POST";
    request.url = url;
    request.body = body;
    request.content_type = content_type;
    return send(request);
}

std::string mask_url_credentials(std::string_view text) {
    std::string shown(text);
    const auto ends_url = [](char c) {
        return static_cast<unsigned char>(c) <= ' ' || c == '"' || c == '\'' || c == '<' ||
               c == '>' || c == '\x7f';
    };
    for (std::size_t scheme = shown.find("://"); scheme != std::string::npos;
         scheme = shown.find("://", scheme + 3)) {
        const std::size_t start = scheme + 3;
        std::size_t end = start;
        while (end < shown.size() && !ends_url(shown[end]))
            ++end;
        const std::string_view url(shown.data() + start, end - start);
        // The authority ends at the first / ? #; its last @ ends the user and password. A password
        // written with / ? # unencoded (curl cannot parse it either) still looks like user:...@:
        // then everything up to the first @ goes.
        const std::size_t authority = url.find_first_of("/?#");
        std::size_t at = url.substr(0, authority).rfind('@');
        if (at == std::string_view::npos) {
            const std::size_t first = url.find('@');
            if (first != std::string_view::npos &&
                url.substr(0, first).find(':') != std::string_view::npos)
                at = first;
        }
        if (at != std::string_view::npos)
            shown.replace(start, at, "***");
    }
    return shown;
}

Result<HttpResponse> HttpClient::send(const HttpRequest& request) {
    const std::string url = mask_url_credentials(request.url);  // for messages
    const bool post = request.method == "POST";
    if (!post && request.method != "GET")
        return Error(ErrorCode::kInvalidArgument, url + ": unsupported method " + request.method);
    CURL* c = impl_ ? impl_->curl : nullptr;
    if (c == nullptr)
        return Error(ErrorCode::kInternal, "libcurl failed to initialise");
    curl_easy_reset(c);
    Sink sink;
    sink.limit = request.max_response_bytes;
    curl_slist* headers = nullptr;
    for (const auto& [name, value] : request.headers)
        headers = curl_slist_append(headers, (name + ": " + value).c_str());
    curl_easy_setopt(c, CURLOPT_URL, request.url.c_str());
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &sink);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, static_cast<long>(timeout_.count()));
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(timeout_.count()));
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_USERAGENT, "medanchor");
    if (request.fresh_connection) {
        curl_easy_setopt(c, CURLOPT_FRESH_CONNECT, 1L);
        curl_easy_setopt(c, CURLOPT_FORBID_REUSE, 1L);
    }
    if (post) {
        headers = curl_slist_append(headers,
                                    ("Content-Type: " + std::string(request.content_type)).c_str());
        // libcurl would otherwise send "Expect: 100-continue" for large bodies and wait for it.
        headers = curl_slist_append(headers, "Expect:");
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, request.body.data());
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE,
                         static_cast<curl_off_t>(request.body.size()));
    }
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
    const CURLcode rc = curl_easy_perform(c);
    curl_slist_free_all(headers);
    if (sink.overflow) {
        return Error(ErrorCode::kTooLarge, url + ": response larger than " +
                                               std::to_string(request.max_response_bytes) +
                                               " bytes");
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
    const char* type = nullptr;
    if (curl_easy_getinfo(c, CURLINFO_CONTENT_TYPE, &type) == CURLE_OK && type != nullptr)
        response.content_type = type;
    response.body = std::move(sink.body);
    return response;
}

}  // namespace medanchor
