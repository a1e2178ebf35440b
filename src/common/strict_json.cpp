#include "common/strict_json.h"

#include <nlohmann/json.hpp>
#include <vector>

#include "common/encoding.h"

namespace medanchor {

using nlohmann::json;

std::string quote_for_message(std::string_view text) {
    constexpr std::size_t kShown = 64;
    if (text.size() <= kShown)
        return escape_for_display(text);
    return escape_for_display(text.substr(0, kShown)) + "...";
}

Result<json> parse_strict_json(std::string_view text, std::string_view source) {
    // One set of keys per open object, checked as the parser meets them: the parsed value keeps
    // only the last of two equal keys, so the check cannot be made afterwards.
    std::vector<std::set<std::string>> open_objects;
    std::string duplicate;
    const json::parser_callback_t check = [&](int /*depth*/, json::parse_event_t event,
                                              json& parsed) {
        if (event == json::parse_event_t::object_start) {
            open_objects.emplace_back();
        } else if (event == json::parse_event_t::object_end) {
            if (!open_objects.empty())
                open_objects.pop_back();
        } else if (event == json::parse_event_t::key && !open_objects.empty() &&
                   parsed.is_string() && duplicate.empty() &&
                   !open_objects.back().insert(parsed.get<std::string>()).second) {
            duplicate = parsed.get<std::string>();
        }
        return true;
    };
    json document = json::parse(text.begin(), text.end(), check, /*allow_exceptions=*/false);
    if (document.is_discarded())
        return Error(ErrorCode::kCorrupt,
                     std::string(source) + ": not well-formed JSON (or not UTF-8)");
    if (!duplicate.empty())
        return Error(ErrorCode::kCorrupt, std::string(source) + ": an object repeats the key \"" +
                                              quote_for_message(duplicate) + "\"");
    return document;
}

JsonObjectReader::JsonObjectReader(const json& object, std::string_view source, std::string path)
    : object_(&object), source_(source), path_(std::move(path)) {}

Result<JsonObjectReader> JsonObjectReader::open(const json& value, std::string_view source,
                                                std::string path) {
    if (!value.is_object()) {
        return Error(ErrorCode::kCorrupt,
                     std::string(source) + ": " +
                         (path.empty() ? std::string("the document") : "field " + path) +
                         " is not an object");
    }
    return JsonObjectReader(value, source, std::move(path));
}

std::string JsonObjectReader::field(std::string_view key) const {
    return path_.empty() ? std::string(key) : path_ + "." + std::string(key);
}

std::string JsonObjectReader::error_prefix() const {
    return source_ + ": field " + (path_.empty() ? std::string() : path_ + ".");
}

Error JsonObjectReader::error(std::string_view key, std::string_view problem) const {
    return Error(ErrorCode::kCorrupt,
                 error_prefix() + quote_for_message(key) + " " + std::string(problem));
}

Result<const json*> JsonObjectReader::member(const char* key) {
    seen_.insert(key);
    const auto it = object_->find(key);
    if (it == object_->end())
        return error(key, "is missing");
    return &*it;
}

Result<std::string> JsonObjectReader::string(const char* key, std::size_t max_length) {
    auto v = member(key);
    if (!v)
        return v.error();
    if (!(*v)->is_string())
        return error(key, "is not a string");
    const auto& text = (*v)->get_ref<const std::string&>();
    if (text.empty())
        return error(key, "is empty");
    if (text.size() > max_length)
        return error(key, "is longer than " + std::to_string(max_length) + " bytes");
    return text;
}

Result<std::uint64_t> JsonObjectReader::integer(const char* key, std::uint64_t max) {
    auto v = member(key);
    if (!v)
        return v.error();
    // nlohmann keeps an integer written without sign, fraction or exponent as unsigned; -1,
    // 1.0 and 1e3 are refused, so every value has one spelling.
    if (!(*v)->is_number_unsigned())
        return error(key, "is not a non-negative integer");
    const auto n = (*v)->get<std::uint64_t>();
    if (n > max)
        return error(key, "is above " + std::to_string(max));
    return n;
}

Result<JsonObjectReader> JsonObjectReader::object(const char* key) {
    auto v = member(key);
    if (!v)
        return v.error();
    return open(**v, source_, field(key));
}

Result<const json*> JsonObjectReader::array(const char* key, std::size_t max_items) {
    auto v = member(key);
    if (!v)
        return v.error();
    if (!(*v)->is_array())
        return error(key, "is not an array");
    if ((*v)->size() > max_items)
        return error(key, "has more than " + std::to_string(max_items) + " items");
    return *v;
}

Status JsonObjectReader::finish() const {
    for (const auto& item : object_->items()) {
        if (!seen_.contains(item.key()))
            return error(item.key(), "is not a known field");
    }
    return Status::Ok();
}

}  // namespace medanchor
