// Strict reading of JSON documents that medanchor did not write itself (a proof file handed over,
// later a report or a manifest): one parser that refuses what nlohmann's defaults let through,
// and one object reader that refuses unknown members, so a misspelt or smuggled field never
// passes silently. Every error is kCorrupt and reads "SOURCE: field PATH problem", where SOURCE
// names the document (usually its file) and PATH the member ("anchor.txid", "path[3]").
#pragma once

#include <cstddef>
#include <cstdint>
#include <nlohmann/json_fwd.hpp>
#include <set>
#include <string>
#include <string_view>

#include "common/error.h"

namespace medanchor {

// A key or value taken from such a document, fit to put in a message: at most 64 bytes of it,
// escaped for display (common/encoding.h), so no document can forge a line or a terminal code.
std::string quote_for_message(std::string_view text);

// Parses `text` as one JSON document. kCorrupt naming `source` when it is not well-formed JSON,
// not UTF-8, or when an object repeats a key (I-JSON, RFC 7493; nlohmann would keep the last).
// The caller bounds the size of `text` (read_regular_file does).
Result<nlohmann::json> parse_strict_json(std::string_view text, std::string_view source);

// Reads one JSON object's members by name, remembering which it was asked for, so that finish()
// can refuse the rest. Holds a reference to `object`: it must outlive the reader.
class JsonObjectReader {
  public:
    // kCorrupt when `value` is not an object. `path` is empty for the document's top level.
    static Result<JsonObjectReader> open(const nlohmann::json& value, std::string_view source,
                                         std::string path = "");

    // The member, or kCorrupt "is missing".
    Result<const nlohmann::json*> member(const char* key);
    // A string of 1 .. max_length bytes.
    Result<std::string> string(const char* key, std::size_t max_length);
    // A non-negative JSON integer (not a float, not a string) of at most `max`.
    Result<std::uint64_t> integer(const char* key, std::uint64_t max);
    // An object member, read by a reader of its own whose path extends this one's.
    Result<JsonObjectReader> object(const char* key);
    // An array member of at most `max_items` items.
    Result<const nlohmann::json*> array(const char* key, std::size_t max_items);
    // kCorrupt naming the first member nobody asked for.
    Status finish() const;

    // "PATH.key" (or "key" at the top level), for callers' own checks of a member.
    std::string field(std::string_view key) const;
    // kCorrupt "SOURCE: field PATH.key problem".
    Error error(std::string_view key, std::string_view problem) const;
    // "SOURCE: field PATH." (or "SOURCE: field " at the top level): what error() puts before the
    // key, for checks that write their own messages.
    std::string error_prefix() const;

  private:
    JsonObjectReader(const nlohmann::json& object, std::string_view source, std::string path);

    const nlohmann::json* object_;
    std::string source_;
    std::string path_;
    std::set<std::string, std::less<>> seen_;
};

}  // namespace medanchor
