// Clarity values and their consensus serialization (SIP-005 "Clarity value representation"), in
// both directions. The decoder parses bytes from the network, so it enforces the node's bounds
// (total size, nesting depth, name lengths) before allocating, and reports every problem as a
// kCorrupt/kTooLarge Error naming the field.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/error.h"
#include "stacks/bytes.h"
#include "stacks/c32.h"

namespace medanchor::stacks {

__extension__ typedef __int128 Int128;            // Clarity int
__extension__ typedef unsigned __int128 UInt128;  // Clarity uint

// Bounds from stacks-core's Clarity VM: MAX_VALUE_SIZE and MAX_TYPE_DEPTH.
inline constexpr std::size_t kMaxValueSize = 1024 * 1024;
inline constexpr std::size_t kMaxValueDepth = 32;
inline constexpr std::size_t kMaxNameLength = 128;

enum class ValueKind : std::uint8_t {
    kInt = 0x00,
    kUInt = 0x01,
    kBuffer = 0x02,
    kTrue = 0x03,
    kFalse = 0x04,
    kStandardPrincipal = 0x05,
    kContractPrincipal = 0x06,
    kOk = 0x07,
    kErr = 0x08,
    kNone = 0x09,
    kSome = 0x0a,
    kList = 0x0b,
    kTuple = 0x0c,
    kStringAscii = 0x0d,
    kStringUtf8 = 0x0e,
};

// An immutable-by-convention Clarity value. Tuples keep their fields sorted by name, as the
// consensus encoding orders them.
class Value {
  public:
    static Value int_(Int128 v);
    static Value uint_(UInt128 v);
    static Value buffer(Bytes bytes);
    static Value boolean(bool v);
    static Value principal(Address address);
    static Value contract(Address address, std::string name);
    static Value ok(Value inner);
    static Value err(Value inner);
    static Value none();
    static Value some(Value inner);
    static Value list(std::vector<Value> items);
    // Duplicate names: the last one wins.
    static Value tuple(std::vector<std::pair<std::string, Value>> fields);
    static Value ascii(std::string text);
    static Value utf8(std::string text);

    // "ST..." or "ST....contract-name".
    static Result<Value> parse_principal(std::string_view text);

    ValueKind kind() const { return kind_; }
    Int128 as_int() const { return int_value_; }
    UInt128 as_uint() const { return uint_value_; }
    bool as_bool() const { return kind_ == ValueKind::kTrue; }
    // Buffer bytes, or the text of a string value.
    const Bytes& bytes() const { return bytes_; }
    std::string text() const { return {bytes_.begin(), bytes_.end()}; }
    const Address& address() const { return address_; }
    const std::string& contract_name() const { return name_; }
    // The inner value of ok/err/some, or the items of a list.
    const std::vector<Value>& items() const { return items_; }
    const Value& inner() const { return items_.front(); }
    const std::vector<std::pair<std::string, Value>>& fields() const { return fields_; }
    // nullptr when absent or not a tuple.
    const Value* field(std::string_view name) const;

    // Clarity's own notation: u1, -2, 0xab, 'ST..., (ok u1), (tuple (a u1)), "text", u"text".
    std::string to_string() const;

    bool operator==(const Value& other) const;

  private:
    ValueKind kind_ = ValueKind::kNone;
    Int128 int_value_ = 0;
    UInt128 uint_value_ = 0;
    Bytes bytes_;
    Address address_;
    std::string name_;
    std::vector<Value> items_;
    std::vector<std::pair<std::string, Value>> fields_;
};

Bytes serialize(const Value& value);
void serialize_into(Bytes& out, const Value& value);

// Decodes exactly one value that spans all of `data`.
Result<Value> deserialize(ByteView data);
// Decodes one value from the reader's position (for values embedded in a transaction).
Result<Value> deserialize_from(ByteReader& reader);

// Clarity names (function, tuple field): 1..128 bytes of [a-zA-Z0-9-_!?+<>=/*] starting with a
// letter, or one of the operator names (+ - * / < > <= >= =), as the node validates them.
bool is_valid_clarity_name(std::string_view name);
// Contract names: 1..128 bytes of [a-zA-Z0-9-_] starting with a letter.
bool is_valid_contract_name(std::string_view name);

std::string uint128_to_string(UInt128 v);
std::string int128_to_string(Int128 v);
// nullopt-free parse: kInvalidArgument on anything but an in-range decimal.
Result<UInt128> parse_uint128(std::string_view text);
Result<Int128> parse_int128(std::string_view text);

}  // namespace medanchor::stacks
