// The JSON Canonicalization Scheme (RFC 8785) as far as the report needs it: objects, arrays,
// strings, booleans, null and integers (no floating point: the report has none, and refusing
// floats spares us ECMAScript number formatting). Internal to the report layer and its tests; the
// public API is report.h.
//
// Why not nlohmann::json::dump(): it sorts object keys by UTF-8 bytes (std::map), which differs
// from RFC 8785's UTF-16 code-unit order for keys mixing characters above U+FFFF with characters
// in U+E000..U+FFFF; and its output rules are an implementation detail we would silently depend
// on. This writer is small enough to be specified line by line in docs/report.md.
#pragma once

#include <nlohmann/json_fwd.hpp>
#include <string>
#include <string_view>

#include "common/error.h"

namespace medanchor::report::jcs {

// True if `text` is well-formed UTF-8 (RFC 3629: no overlong forms, no surrogates, at most
// U+10FFFF).
bool valid_utf8(std::string_view text);

// RFC 8785 section 3.2.3 key order: compares the UTF-16 code units of `a` and `b`.
// REQUIRES: valid_utf8(a) && valid_utf8(b).
bool utf16_less(std::string_view a, std::string_view b);

// Appends `text` as a JSON string per RFC 8785 section 3.2.2.2: '"' and '\' escaped, U+0008,
// U+0009, U+000A, U+000C, U+000D as \b \t \n \f \r, other controls below U+0020 as \u00xx
// (lowercase hex), everything else (U+007F, '/', non-ASCII) as literal UTF-8.
// REQUIRES: valid_utf8(text).
void append_string(std::string& out, std::string_view text);

// The canonical text of `value`. kInvalidArgument for a floating-point number, an integer beyond
// +-(2^53 - 1), or a string or key that is not valid UTF-8.
Result<std::string> canonicalize(const nlohmann::json& value);

}  // namespace medanchor::report::jcs
