#include "pacs/orthanc_client.h"

#include <algorithm>
#include <nlohmann/json.hpp>

#include "common/encoding.h"
#include "pacs/http_answer.h"

namespace medanchor::pacs {
namespace {

using nlohmann::json;

// A string member of an Orthanc answer; empty when absent or not a string.
std::string text(const json& object, const char* key) {
    const auto at = object.find(key);
    return at != object.end() && at->is_string() ? at->get<std::string>() : std::string();
}

Error malformed(const std::string& what, const std::string& problem) {
    return Error(ErrorCode::kNetwork, what + ": " + problem);
}

// A modality's symbolic name in Orthanc's configuration goes into a URL path.
bool is_modality_name(const std::string& name) {
    return !name.empty() && name.size() <= 64 && std::all_of(name.begin(), name.end(), [](char c) {
        return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
               c == '_' || c == '-' || c == '.';
    });
}

Error not_an_id(const std::string& what, const std::string& id) {
    std::string message = what;
    message += ": '";
    message += escape_for_display(id.substr(0, 80));
    message += "' is not an Orthanc identifier";
    return Error(ErrorCode::kInvalidArgument, std::move(message));
}

// GET `url` and its JSON answer; errors start with "GET <url>".
Result<json> get_json(HttpClient& http, const std::string& url) {
    auto response = http.get(url);
    if (!response)
        return response.error();
    return detail::json_answer("GET " + url, *response);
}

}  // namespace

bool is_orthanc_id(std::string_view id) {
    if (id.size() != 44)
        return false;
    for (std::size_t i = 0; i < id.size(); ++i) {
        const char c = id[i];
        if (i % 9 == 8 ? c != '-' : !((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
            return false;
    }
    return true;
}

OrthancClient::OrthancClient(std::string base_url, OrthancClientOptions options)
    : base_url_(std::move(base_url)), options_(options), http_(options.timeout) {}

Result<OrthancClient> OrthancClient::create(std::string base_url, OrthancClientOptions options) {
    auto base = detail::base_url(std::move(base_url), "Orthanc");
    if (!base)
        return base.error();
    return OrthancClient(std::move(*base), options);
}

Result<OrthancChanges> OrthancClient::changes(std::int64_t since, unsigned limit) {
    const std::string url = base_url_ + "/changes?since=" + std::to_string(since) +
                            "&limit=" + std::to_string(std::clamp(limit, 1u, 1000u));
    const std::string what = "GET " + url;
    auto j = get_json(http_, url);
    if (!j)
        return j.error();
    const auto list = j->find("Changes");
    const auto last = j->find("Last");
    const auto done = j->find("Done");
    if (!j->is_object() || list == j->end() || !list->is_array() || last == j->end() ||
        !last->is_number_integer() || done == j->end() || !done->is_boolean())
        return malformed(what, "not a change log (Changes, Last, Done)");
    OrthancChanges page;
    page.last = last->get<std::int64_t>();
    page.done = done->get<bool>();
    for (const json& c : *list) {
        const auto seq = c.is_object() ? c.find("Seq") : c.end();
        if (seq == c.end() || !seq->is_number_integer())
            return malformed(what, "a change without a Seq");
        OrthancChange change{seq->get<std::int64_t>(), text(c, "ChangeType"),
                             text(c, "ResourceType"), text(c, "ID")};
        if (change.seq <= since || (!page.changes.empty() && change.seq <= page.changes.back().seq))
            return malformed(what, "changes out of order (Seq " + std::to_string(change.seq) + ")");
        // An identifier that is not one is never handed on to go into a URL.
        if (!is_orthanc_id(change.id))
            return malformed(what, "change " + std::to_string(change.seq) + " has no valid ID");
        page.changes.push_back(std::move(change));
    }
    return page;
}

Result<std::int64_t> OrthancClient::follow_changes(
    std::int64_t since, const std::function<Status(const OrthancChange&)>& visit,
    unsigned page_size) {
    for (;;) {
        auto page = changes(since, page_size);
        if (!page)
            return page.error();
        for (const auto& change : page->changes) {
            if (Status visited = visit(change); !visited)
                return visited.error();
            since = change.seq;
        }
        if (page->done)
            return std::max(since, page->last);
        if (page->changes.empty() && page->last <= since) {
            return Error(
                ErrorCode::kNetwork,
                base_url_ + "/changes: not done, yet no change after " + std::to_string(since));
        }
        since = std::max(since, page->last);
    }
}

Result<OrthancSeries> OrthancClient::series(const std::string& id) {
    if (!is_orthanc_id(id))
        return not_an_id("Orthanc series", id);
    const std::string url = base_url_ + "/series/" + id;
    const std::string what = "GET " + url;
    auto j = get_json(http_, url);
    if (!j)
        return j.error();
    const auto instances = j->is_object() ? j->find("Instances") : j->end();
    if (instances == j->end() || !instances->is_array())
        return malformed(what, "not a series (no Instances)");
    OrthancSeries series;
    series.id = id;
    series.parent_study = text(*j, "ParentStudy");
    const auto stable = j->find("IsStable");
    series.stable = stable != j->end() && stable->is_boolean() && stable->get<bool>();
    const auto tags = j->find("MainDicomTags");
    if (tags != j->end() && tags->is_object())
        series.series_instance_uid = text(*tags, "SeriesInstanceUID");
    for (const json& instance : *instances) {
        if (!instance.is_string() || !is_orthanc_id(instance.get<std::string>()))
            return malformed(what, "an instance without a valid identifier");
        series.instances.push_back(instance.get<std::string>());
    }
    return series;
}

Result<std::uint64_t> OrthancClient::instance_size(const std::string& id) {
    if (!is_orthanc_id(id))
        return not_an_id("Orthanc instance", id);
    const std::string url = base_url_ + "/instances/" + id;
    auto j = get_json(http_, url);
    if (!j)
        return j.error();
    const auto size = j->is_object() ? j->find("FileSize") : j->end();
    if (size == j->end() || !size->is_number_unsigned())
        return malformed("GET " + url, "not an instance (no FileSize)");
    return size->get<std::uint64_t>();
}

Result<std::vector<std::uint8_t>> OrthancClient::instance_file(const std::string& id) {
    if (!is_orthanc_id(id))
        return not_an_id("Orthanc instance", id);
    HttpRequest request;
    request.url = base_url_ + "/instances/" + id + "/file";
    request.headers = {{"Accept", "application/dicom"}};
    request.max_response_bytes = options_.max_instance_bytes;
    auto response = http_.send(request);
    if (!response)
        return response.error();
    if (response->status != 200)
        return detail::http_failure("GET " + request.url, *response);
    return std::vector<std::uint8_t>(response->body.begin(), response->body.end());
}

Result<OrthancStored> OrthancClient::upload(std::span<const std::uint8_t> part10) {
    const std::string url = base_url_ + "/instances";
    const std::string what = "POST " + url;
    auto response = http_.post(
        url, std::string_view(reinterpret_cast<const char*>(part10.data()), part10.size()),
        "application/dicom");
    if (!response)
        return response.error();
    auto j = detail::json_answer(what, *response);
    if (!j)
        return j.error();
    if (!j->is_object())
        return malformed(what, "the answer is not an object");
    OrthancStored stored{text(*j, "ID"), text(*j, "Status"), text(*j, "ParentSeries")};
    if (!is_orthanc_id(stored.id) || stored.status.empty())
        return malformed(what, "the answer names no stored instance");
    if (stored.status != "Success" && stored.status != "AlreadyStored") {
        std::string message = what;
        message += ": Orthanc answered status ";
        message += escape_for_display(stored.status);
        return Error(ErrorCode::kRejected, std::move(message));
    }
    return stored;
}

Status OrthancClient::send_to_modality(const std::string& modality,
                                       const std::vector<std::string>& ids) {
    if (!is_modality_name(modality)) {
        std::string message = "Orthanc modality name '";
        message += escape_for_display(modality.substr(0, 80));
        message += "' is not letters, digits, '_', '-' or '.'";
        return Error(ErrorCode::kInvalidArgument, std::move(message));
    }
    json resources = json::array();
    for (const auto& id : ids) {
        if (!is_orthanc_id(id))
            return not_an_id("Orthanc resource", id);
        resources.push_back(id);
    }
    const std::string url = base_url_ + "/modalities/" + modality + "/store";
    const json body{{"Resources", resources}, {"Synchronous", true}};
    auto response = http_.post(url, body.dump(), "application/json");
    if (!response)
        return response.error();
    if (response->status != 200)
        return detail::http_failure("POST " + url, *response);
    return Status::Ok();
}

}  // namespace medanchor::pacs
