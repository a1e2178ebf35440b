#include "stacks/clarity_value.h"

#include <algorithm>
#include <limits>

namespace medanchor::stacks {

// ---- construction -------------------------------------------------------------------------

Value Value::int_(Int128 v) {
    Value x;
    x.kind_ = ValueKind::kInt;
    x.int_value_ = v;
    return x;
}

Value Value::uint_(UInt128 v) {
    Value x;
    x.kind_ = ValueKind::kUInt;
    x.uint_value_ = v;
    return x;
}

Value Value::buffer(Bytes bytes) {
    Value x;
    x.kind_ = ValueKind::kBuffer;
    x.bytes_ = std::move(bytes);
    return x;
}

Value Value::boolean(bool v) {
    Value x;
    x.kind_ = v ? ValueKind::kTrue : ValueKind::kFalse;
    return x;
}

Value Value::principal(Address address) {
    Value x;
    x.kind_ = ValueKind::kStandardPrincipal;
    x.address_ = address;
    return x;
}

Value Value::contract(Address address, std::string name) {
    Value x;
    x.kind_ = ValueKind::kContractPrincipal;
    x.address_ = address;
    x.name_ = std::move(name);
    return x;
}

// ok, err and some hold their one inner value as items_[0].
Value Value::ok(Value inner) {
    Value x;
    x.kind_ = ValueKind::kOk;
    x.items_.push_back(std::move(inner));
    return x;
}

Value Value::err(Value inner) {
    Value x;
    x.kind_ = ValueKind::kErr;
    x.items_.push_back(std::move(inner));
    return x;
}

Value Value::none() {
    return Value{};
}

Value Value::some(Value inner) {
    Value x;
    x.kind_ = ValueKind::kSome;
    x.items_.push_back(std::move(inner));
    return x;
}

Value Value::list(std::vector<Value> items) {
    Value x;
    x.kind_ = ValueKind::kList;
    x.items_ = std::move(items);
    return x;
}

Value Value::tuple(std::vector<std::pair<std::string, Value>> fields) {
    Value x;
    x.kind_ = ValueKind::kTuple;
    // Stable sort then keep the last of equal names.
    std::stable_sort(fields.begin(), fields.end(),
                     [](const auto& a, const auto& b) { return a.first < b.first; });
    for (auto& f : fields) {
        if (!x.fields_.empty() && x.fields_.back().first == f.first) {
            x.fields_.back().second = std::move(f.second);
        } else {
            x.fields_.push_back(std::move(f));
        }
    }
    return x;
}

Value Value::ascii(std::string text) {
    Value x;
    x.kind_ = ValueKind::kStringAscii;
    x.bytes_.assign(text.begin(), text.end());
    return x;
}

Value Value::utf8(std::string text) {
    Value x;
    x.kind_ = ValueKind::kStringUtf8;
    x.bytes_.assign(text.begin(), text.end());
    return x;
}

bool is_valid_contract_name(std::string_view name) {
    if (name.empty() || name.size() > kMaxNameLength)
        return false;
    const auto alpha = [](char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); };
    if (!alpha(name[0]))
        return false;
    return std::all_of(name.begin(), name.end(), [&](char c) {
        return alpha(c) || (c >= '0' && c <= '9') || c == '-' || c == '_';
    });
}

bool is_valid_clarity_name(std::string_view name) {
    if (name == "-" || name == "+" || name == "=" || name == "/" || name == "*" || name == "<" ||
        name == ">" || name == "<=" || name == ">=") {
        return true;
    }
    if (name.empty() || name.size() > kMaxNameLength)
        return false;
    const auto alpha = [](char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); };
    if (!alpha(name[0]))
        return false;
    return std::all_of(name.begin(), name.end(), [&](char c) {
        return alpha(c) || (c >= '0' && c <= '9') ||
               std::string_view("-_!?+<>=/*").find(c) != std::string_view::npos;
    });
}

Result<Value> Value::parse_principal(std::string_view text) {
    const auto dot = text.find('.');
    auto address = parse_address(text.substr(0, dot));
    if (!address)
        return address.error();
    if (dot == std::string_view::npos)
        return Value::principal(*address);
    const auto name = text.substr(dot + 1);
    if (!is_valid_contract_name(name)) {
        return Error(ErrorCode::kInvalidArgument,
                     "\"" + std::string(name) + "\" is not a valid contract name");
    }
    return Value::contract(*address, std::string(name));
}

const Value* Value::field(std::string_view name) const {
    for (const auto& [k, v] : fields_) {
        if (k == name)
            return &v;
    }
    return nullptr;
}

bool Value::operator==(const Value& o) const {
    return kind_ == o.kind_ && int_value_ == o.int_value_ && uint_value_ == o.uint_value_ &&
           bytes_ == o.bytes_ && address_ == o.address_ && name_ == o.name_ && items_ == o.items_ &&
           fields_ == o.fields_;
}

// ---- numbers --------------------------------------------------------------------------------

std::string uint128_to_string(UInt128 v) {
    if (v == 0)
        return "0";
    std::string s;
    while (v > 0) {
        s.push_back(static_cast<char>('0' + static_cast<int>(v % 10)));
        v /= 10;
    }
    std::reverse(s.begin(), s.end());
    return s;
}

std::string int128_to_string(Int128 v) {
    if (v >= 0)
        return uint128_to_string(static_cast<UInt128>(v));
    // Negate in unsigned arithmetic so that the minimum value does not overflow.
    return "-" + uint128_to_string(static_cast<UInt128>(0) - static_cast<UInt128>(v));
}

Result<UInt128> parse_uint128(std::string_view text) {
    const auto bad = [&] {
        return Error(ErrorCode::kInvalidArgument,
                     "\"" + std::string(text) + "\" is not an unsigned 128-bit integer");
    };
    if (text.empty() || text.size() > 39)
        return bad();
    UInt128 v = 0;
    constexpr UInt128 kMax = ~static_cast<UInt128>(0);
    for (char c : text) {
        if (c < '0' || c > '9')
            return bad();
        const auto digit = static_cast<UInt128>(c - '0');
        if (v > (kMax - digit) / 10)
            return bad();
        v = v * 10 + digit;
    }
    return v;
}

Result<Int128> parse_int128(std::string_view text) {
    const bool negative = text.starts_with('-');
    auto magnitude = parse_uint128(negative ? text.substr(1) : text);
    const UInt128 limit = (static_cast<UInt128>(1) << 127) - (negative ? 0 : 1);
    if (!magnitude || *magnitude > limit) {
        return Error(ErrorCode::kInvalidArgument,
                     "\"" + std::string(text) + "\" is not a signed 128-bit integer");
    }
    return negative ? static_cast<Int128>(static_cast<UInt128>(0) - *magnitude)
                    : static_cast<Int128>(*magnitude);
}

// ---- text -----------------------------------------------------------------------------------

namespace {
std::string quote(const Bytes& bytes, bool utf8) {
    std::string out = utf8 ? "u\"" : "\"";
    for (std::uint8_t b : bytes) {
        if (b == '"' || b == '\\') {
            out.push_back('\\');
            out.push_back(static_cast<char>(b));
        } else if (b == '\n') {
            out += "\\n";
        } else {
            out.push_back(static_cast<char>(b));
        }
    }
    out.push_back('"');
    return out;
}
}  // namespace

std::string Value::to_string() const {
    switch (kind_) {
        case ValueKind::kInt:
            return int128_to_string(int_value_);
        case ValueKind::kUInt:
            return "u" + uint128_to_string(uint_value_);
        case ValueKind::kBuffer:
            return "0x" + to_hex(bytes_);
        case ValueKind::kTrue:
            return "true";
        case ValueKind::kFalse:
            return "false";
        case ValueKind::kStandardPrincipal:
            return "'" + address_.to_string();
        case ValueKind::kContractPrincipal:
            return "'" + address_.to_string() + "." + name_;
        case ValueKind::kOk:
            return "(ok " + inner().to_string() + ")";
        case ValueKind::kErr:
            return "(err " + inner().to_string() + ")";
        case ValueKind::kNone:
            return "none";
        case ValueKind::kSome:
            return "(some " + inner().to_string() + ")";
        case ValueKind::kList: {
            std::string s = "(list";
            for (const auto& item : items_)
                s += " " + item.to_string();
            return s + ")";
        }
        case ValueKind::kTuple: {
            std::string s = "(tuple";
            for (const auto& [k, v] : fields_)
                s += " (" + k + " " + v.to_string() + ")";
            return s + ")";
        }
        case ValueKind::kStringAscii:
            return quote(bytes_, false);
        case ValueKind::kStringUtf8:
            return quote(bytes_, true);
    }
    return "?";
}

// ---- serialization --------------------------------------------------------------------------

void serialize_into(Bytes& out, const Value& v) {
    put_u8(out, static_cast<std::uint8_t>(v.kind()));
    switch (v.kind()) {
        case ValueKind::kInt:
        case ValueKind::kUInt: {
            const UInt128 u =
                v.kind() == ValueKind::kInt ? static_cast<UInt128>(v.as_int()) : v.as_uint();
            for (int shift = 120; shift >= 0; shift -= 8) {
                put_u8(out, static_cast<std::uint8_t>(u >> shift));
            }
            break;
        }
        case ValueKind::kBuffer:
        case ValueKind::kStringAscii:
        case ValueKind::kStringUtf8:
            put_u32(out, static_cast<std::uint32_t>(v.bytes().size()));
            put_bytes(out, v.bytes());
            break;
        case ValueKind::kTrue:
        case ValueKind::kFalse:
        case ValueKind::kNone:
            break;
        case ValueKind::kStandardPrincipal:
        case ValueKind::kContractPrincipal:
            put_u8(out, v.address().version);
            put_bytes(out, v.address().hash);
            if (v.kind() == ValueKind::kContractPrincipal) {
                put_u8(out, static_cast<std::uint8_t>(v.contract_name().size()));
                put_string(out, v.contract_name());
            }
            break;
        case ValueKind::kOk:
        case ValueKind::kErr:
        case ValueKind::kSome:
            serialize_into(out, v.inner());
            break;
        case ValueKind::kList:
            put_u32(out, static_cast<std::uint32_t>(v.items().size()));
            for (const auto& item : v.items())
                serialize_into(out, item);
            break;
        case ValueKind::kTuple:
            put_u32(out, static_cast<std::uint32_t>(v.fields().size()));
            for (const auto& [name, field] : v.fields()) {
                put_u8(out, static_cast<std::uint8_t>(name.size()));
                put_string(out, name);
                serialize_into(out, field);
            }
            break;
    }
}

Bytes serialize(const Value& value) {
    Bytes out;
    serialize_into(out, value);
    return out;
}

// ---- deserialization ------------------------------------------------------------------------

namespace {

bool valid_utf8(const Bytes& s) {
    std::size_t i = 0;
    while (i < s.size()) {
        const std::uint8_t c = s[i];
        std::size_t n = 0;
        std::uint32_t cp = 0;
        if (c < 0x80) {
            ++i;
            continue;
        } else if ((c & 0xe0) == 0xc0) {
            n = 1;
            cp = c & 0x1f;
        } else if ((c & 0xf0) == 0xe0) {
            n = 2;
            cp = c & 0x0f;
        } else if ((c & 0xf8) == 0xf0) {
            n = 3;
            cp = c & 0x07;
        } else {
            return false;
        }
        for (std::size_t k = 1; k <= n; ++k) {
            if (i + k >= s.size() || (s[i + k] & 0xc0) != 0x80)
                return false;
            cp = cp << 6 | (s[i + k] & 0x3f);
        }
        // Overlong forms, surrogates and out-of-range code points are not UTF-8.
        if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) ||
            (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff) {
            return false;
        }
        i += n + 1;
    }
    return true;
}

class Decoder {
  public:
    explicit Decoder(ByteReader& r) : r_(r), start_(r.offset()) {}

    Result<Value> value(std::size_t depth) {
        if (depth > kMaxValueDepth) {
            return Error(ErrorCode::kTooLarge, "Clarity value nested deeper than " +
                                                   std::to_string(kMaxValueDepth) + " at byte " +
                                                   std::to_string(r_.offset()));
        }
        if (r_.offset() - start_ > kMaxValueSize) {
            return too_large();
        }
        auto prefix = r_.u8("Clarity type prefix");
        if (!prefix)
            return prefix.error();
        switch (*prefix) {
            case 0x00:
            case 0x01: {
                auto raw = r_.bytes(16, "128-bit integer");
                if (!raw)
                    return raw.error();
                UInt128 u = 0;
                for (auto b : *raw)
                    u = u << 8 | b;
                return *prefix == 0x00 ? Value::int_(static_cast<Int128>(u)) : Value::uint_(u);
            }
            case 0x02: {
                auto bytes = sized("buffer");
                if (!bytes)
                    return bytes.error();
                return Value::buffer(std::move(*bytes));
            }
            case 0x03:
                return Value::boolean(true);
            case 0x04:
                return Value::boolean(false);
            case 0x05:
            case 0x06: {
                auto version = r_.u8("principal version");
                if (!version)
                    return version.error();
                auto hash = r_.bytes(20, "principal hash");
                if (!hash)
                    return hash.error();
                Address a;
                a.version = *version;
                std::copy(hash->begin(), hash->end(), a.hash.begin());
                if (a.version >= 32) {
                    return corrupt("principal version " + std::to_string(a.version) +
                                   " is out of range");
                }
                if (*prefix == 0x05)
                    return Value::principal(a);
                auto len = r_.u8("contract name length");
                if (!len)
                    return len.error();
                auto name = r_.bytes(*len, "contract name");
                if (!name)
                    return name.error();
                std::string n(name->begin(), name->end());
                if (!is_valid_contract_name(n))
                    return corrupt("invalid contract name \"" + n + "\"");
                return Value::contract(a, std::move(n));
            }
            case 0x07:
            case 0x08:
            case 0x0a: {
                auto inner = value(depth + 1);
                if (!inner)
                    return inner.error();
                if (*prefix == 0x07)
                    return Value::ok(std::move(*inner));
                if (*prefix == 0x08)
                    return Value::err(std::move(*inner));
                return Value::some(std::move(*inner));
            }
            case 0x09:
                return Value::none();
            case 0x0b: {
                auto count = r_.u32("list length");
                if (!count)
                    return count.error();
                // Every item takes at least one byte: a count beyond the bytes left is a lie, and
                // refusing it here avoids reserving memory for it.
                if (*count > r_.remaining()) {
                    return corrupt("list claims " + std::to_string(*count) + " items but only " +
                                   std::to_string(r_.remaining()) + " bytes remain");
                }
                std::vector<Value> items;
                items.reserve(*count);
                for (std::uint32_t i = 0; i < *count; ++i) {
                    auto item = value(depth + 1);
                    if (!item)
                        return item.error();
                    items.push_back(std::move(*item));
                }
                return Value::list(std::move(items));
            }
            case 0x0c: {
                auto count = r_.u32("tuple size");
                if (!count)
                    return count.error();
                if (*count > r_.remaining() / 2) {
                    return corrupt("tuple claims " + std::to_string(*count) + " fields but only " +
                                   std::to_string(r_.remaining()) + " bytes remain");
                }
                std::vector<std::pair<std::string, Value>> fields;
                fields.reserve(*count);
                for (std::uint32_t i = 0; i < *count; ++i) {
                    auto len = r_.u8("tuple field name length");
                    if (!len)
                        return len.error();
                    auto raw = r_.bytes(*len, "tuple field name");
                    if (!raw)
                        return raw.error();
                    std::string name(raw->begin(), raw->end());
                    if (!is_valid_clarity_name(name)) {
                        return corrupt("invalid tuple field name \"" + name + "\"");
                    }
                    for (const auto& f : fields) {
                        if (f.first == name)
                            return corrupt("duplicate tuple field \"" + name + "\"");
                    }
                    auto field = value(depth + 1);
                    if (!field)
                        return field.error();
                    fields.emplace_back(std::move(name), std::move(*field));
                }
                return Value::tuple(std::move(fields));
            }
            case 0x0d:
            case 0x0e: {
                auto bytes = sized(*prefix == 0x0d ? "string-ascii" : "string-utf8");
                if (!bytes)
                    return bytes.error();
                if (*prefix == 0x0d) {
                    if (std::any_of(bytes->begin(), bytes->end(),
                                    [](auto b) { return b >= 0x80; })) {
                        return corrupt("string-ascii holds a non-ASCII byte");
                    }
                    return Value::ascii(std::string(bytes->begin(), bytes->end()));
                }
                if (!valid_utf8(*bytes))
                    return corrupt("string-utf8 is not valid UTF-8");
                return Value::utf8(std::string(bytes->begin(), bytes->end()));
            }
            default:
                return corrupt("unknown Clarity type prefix 0x" + to_hex(Bytes{*prefix}));
        }
    }

  private:
    Result<Bytes> sized(std::string_view what) {
        auto len = r_.u32(std::string(what) + " length");
        if (!len)
            return len.error();
        if (*len > kMaxValueSize)
            return too_large();
        return r_.bytes(*len, what);
    }

    Error corrupt(const std::string& why) const {
        return Error(ErrorCode::kCorrupt,
                     "bad Clarity value at byte " + std::to_string(r_.offset()) + ": " + why);
    }

    Error too_large() const {
        return Error(ErrorCode::kTooLarge,
                     "Clarity value larger than " + std::to_string(kMaxValueSize) + " bytes");
    }

    ByteReader& r_;
    std::size_t start_;
};

}  // namespace

Result<Value> deserialize_from(ByteReader& reader) {
    Decoder d(reader);
    return d.value(0);
}

Result<Value> deserialize(ByteView data) {
    ByteReader reader(data);
    auto v = deserialize_from(reader);
    if (!v)
        return v;
    if (!reader.at_end()) {
        return Error(ErrorCode::kCorrupt,
                     "bad Clarity value: " + std::to_string(reader.remaining()) +
                         " bytes left after the value");
    }
    return v;
}

}  // namespace medanchor::stacks
