#include "pacs/dicomweb.h"

#include <algorithm>
#include <charconv>
#include <nlohmann/json.hpp>
#include <optional>

#include "common/encoding.h"
#include "pacs/http_answer.h"

namespace medanchor::pacs {
namespace {

using nlohmann::json;

constexpr char kDicomJson[] = "application/dicom+json";

bool occurs_in(std::string_view needle, std::span<const std::uint8_t> bytes) {
    const auto* first = reinterpret_cast<const char*>(bytes.data());
    return std::search(first, first + bytes.size(), needle.begin(), needle.end()) !=
           first + bytes.size();
}

// The first value of a DICOM JSON attribute (PS3.18 F.2) as text; nullopt for sequences, binary
// values and attributes without a value.
std::optional<std::string> first_value(const json& attribute) {
    if (!attribute.is_object())
        return std::nullopt;
    const auto value = attribute.find("Value");
    if (value == attribute.end() || !value->is_array() || value->empty())
        return std::nullopt;
    const json& v = value->front();
    if (v.is_string())
        return v.get<std::string>();
    if (v.is_number_integer())
        return std::to_string(v.get<std::int64_t>());
    if (v.is_number())
        return v.dump();
    if (v.is_object()) {
        const auto alphabetic = v.find("Alphabetic");
        if (alphabetic != v.end() && alphabetic->is_string())
            return alphabetic->get<std::string>();
    }
    return std::nullopt;
}

// The items of a sequence attribute `tag` of `object`; empty when absent. An item that is not an
// object (a server's mistake, or a hostile one) is left out, never read as one.
std::vector<json> items(const json& object, const char* tag) {
    const auto at = object.find(tag);
    if (at == object.end() || !at->is_object())
        return {};
    const auto value = at->find("Value");
    if (value == at->end() || !value->is_array())
        return {};
    std::vector<json> objects;
    for (const json& item : *value)
        if (item.is_object())
            objects.push_back(item);
    return objects;
}

}  // namespace

StowBody stow_body(std::span<const std::span<const std::uint8_t>> instances) {
    std::string digests;
    for (const auto& instance : instances) {
        const auto d = sha256(instance);
        digests.append(reinterpret_cast<const char*>(d.data()), d.size());
    }
    // A boundary must not occur in any part (RFC 2046 5.1.1): derived from the content, and
    // derived again in the (astronomically unlikely) case that it does.
    std::string boundary;
    for (;;) {
        const auto d = sha256(digests);
        boundary = "medanchor-" + to_hex(std::span(d).first(16));
        if (std::none_of(instances.begin(), instances.end(),
                         [&](const auto& instance) { return occurs_in(boundary, instance); }))
            break;
        digests.append(reinterpret_cast<const char*>(d.data()), d.size());
    }
    StowBody out;
    out.content_type = "multipart/related; type=\"application/dicom\"; boundary=" + boundary;
    std::size_t size = 0;
    for (const auto& instance : instances)
        size += instance.size() + boundary.size() + 64;
    out.body.reserve(size + boundary.size() + 8);
    for (const auto& instance : instances) {
        out.body += "--";
        out.body += boundary;
        out.body += "\r\nContent-Type: application/dicom\r\n\r\n";
        out.body.append(reinterpret_cast<const char*>(instance.data()), instance.size());
        out.body += "\r\n";
    }
    out.body += "--";
    out.body += boundary;
    out.body += "--\r\n";
    return out;
}

DicomWebClient::DicomWebClient(std::string base_url, DicomWebOptions options)
    : base_url_(std::move(base_url)), options_(options), http_(options.timeout) {}

Result<DicomWebClient> DicomWebClient::create(std::string base_url, DicomWebOptions options) {
    auto base = detail::base_url(std::move(base_url), "DICOMweb");
    if (!base)
        return base.error();
    return DicomWebClient(std::move(*base), options);
}

Result<StowReceipt> DicomWebClient::store(
    std::span<const std::span<const std::uint8_t>> instances) {
    const std::string url = base_url_ + "/studies";
    const std::string what = "STOW-RS " + url;
    if (instances.empty())
        return Error(ErrorCode::kInvalidArgument, what + ": no instances to store");
    const StowBody body = stow_body(instances);
    HttpRequest request;
    request.method = "POST";
    request.url = url;
    request.headers = {{"Accept", kDicomJson}};
    request.body = body.body;
    request.content_type = body.content_type;
    request.max_response_bytes = options_.max_response_bytes;
    auto response = http_.send(request);
    if (!response)
        return response.error();
    // 409 Conflict carries a receipt too: nothing was stored, and it says why.
    HttpResponse answer = std::move(*response);
    const long status = answer.status;
    if (status == 409)
        answer.status = 200;
    auto j = detail::json_answer(what, answer);
    if (!j)
        return j.error();
    if (!j->is_object())
        return Error(ErrorCode::kNetwork, what + ": the receipt is not a DICOM JSON object");
    StowReceipt receipt;
    receipt.http_status = status;
    for (const json& item : items(*j, "00081199")) {
        if (auto uid = first_value(item.value("00081155", json())))
            receipt.stored.push_back(std::move(*uid));
    }
    for (const json& item : items(*j, "00081198")) {
        auto uid = first_value(item.value("00081155", json()));
        const auto reason = first_value(item.value("00081197", json()));
        // Failure Reason is a US: a value that does not parse or does not fit 16 bits reads as 0.
        std::uint16_t code = 0;
        if (reason) {
            unsigned long parsed = 0;
            const auto [end, ec] =
                std::from_chars(reason->data(), reason->data() + reason->size(), parsed);
            if (ec == std::errc() && end == reason->data() + reason->size() && parsed <= 0xFFFF)
                code = static_cast<std::uint16_t>(parsed);
        }
        receipt.failed.emplace_back(uid.value_or(""), code);
    }
    return receipt;
}

Result<std::vector<QidoMatch>> DicomWebClient::search(std::string_view query) {
    std::string url = base_url_;
    url += '/';
    url += query;
    const std::string what = "QIDO-RS " + url;
    HttpRequest request;
    request.url = url;
    request.headers = {{"Accept", kDicomJson}};
    request.max_response_bytes = options_.max_response_bytes;
    auto response = http_.send(request);
    if (!response)
        return response.error();
    if (response->status == 204)
        return std::vector<QidoMatch>{};
    auto j = detail::json_answer(what, *response);
    if (!j)
        return j.error();
    if (!j->is_array())
        return Error(ErrorCode::kNetwork, what + ": the answer is not a JSON array");
    std::vector<QidoMatch> matches;
    for (const json& object : *j) {
        if (!object.is_object())
            return Error(ErrorCode::kNetwork, what + ": a match is not a DICOM JSON object");
        QidoMatch match;
        for (const auto& [tag, attribute] : object.items()) {
            if (auto value = first_value(attribute))
                match.emplace(tag, std::move(*value));
        }
        matches.push_back(std::move(match));
    }
    return matches;
}

}  // namespace medanchor::pacs
