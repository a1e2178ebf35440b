#include "stacks/clarity_value.h"

#include <gtest/gtest.h>

namespace medanchor::stacks {
namespace {

Bytes hex(const char* s) {
    return *from_hex(s);
}

TEST(ClarityValue, PrintsInClarityNotation) {
    auto p = Value::parse_principal("ST1PQHQKV0RJXZFY1DGX8MNSNYVE3VGZJSRTPGZGM.medical-analysis");
    ASSERT_TRUE(p.ok());
    const Value v = Value::ok(Value::tuple({{"z", Value::uint_(1)},
                                            {"a", Value::list({Value::int_(-2), Value::none()})},
                                            {"p", *p},
                                            {"s", Value::ascii("a\"b")}}));
    EXPECT_EQ(
        v.to_string(),
        "(ok (tuple (a (list -2 none)) (p "
        "'ST1PQHQKV0RJXZFY1DGX8MNSNYVE3VGZJSRTPGZGM.medical-analysis) (s \"a\\\"b\") (z u1)))");
    EXPECT_EQ(v.inner().field("z")->as_uint(), 1u);
    EXPECT_EQ(v.inner().field("missing"), nullptr);
}

TEST(ClarityValue, RoundTripsIntegerExtremes) {
    auto min = parse_int128("-170141183460469231731687303715884105728");
    ASSERT_TRUE(min.ok());
    EXPECT_EQ(int128_to_string(*min), "-170141183460469231731687303715884105728");
    EXPECT_FALSE(parse_int128("170141183460469231731687303715884105728").ok());
    EXPECT_FALSE(parse_uint128("340282366920938463463374607431768211456").ok());
    EXPECT_TRUE(parse_uint128("340282366920938463463374607431768211455").ok());
    EXPECT_FALSE(parse_uint128("12a").ok());
    EXPECT_FALSE(parse_uint128("").ok());
}

TEST(ClarityValue, DecoderRejectsTruncationAndTrailingBytes) {
    auto truncated = deserialize(hex("0100000000000000000000000000000001"));  // uint, 16 bytes...
    ASSERT_TRUE(truncated.ok());
    auto cut = deserialize(hex("01000000000000000000000000000000"));  // ...one byte short
    ASSERT_FALSE(cut.ok());
    EXPECT_EQ(cut.error().code(), ErrorCode::kCorrupt);
    EXPECT_NE(cut.error().message().find("truncated 128-bit integer"), std::string::npos);
    auto trailing = deserialize(hex("0300"));
    ASSERT_FALSE(trailing.ok());
    EXPECT_NE(trailing.error().message().find("left after"), std::string::npos);
    EXPECT_FALSE(deserialize(hex("0f")).ok());  // unknown prefix
    EXPECT_FALSE(deserialize(hex("")).ok());
}

TEST(ClarityValue, DecoderRefusesLiesAboutSizeWithoutAllocating) {
    // A list claiming 4 billion items in 5 bytes, a buffer claiming 4 GiB.
    auto list = deserialize(hex("0bffffffff"));
    ASSERT_FALSE(list.ok());
    EXPECT_EQ(list.error().code(), ErrorCode::kCorrupt);
    auto buffer = deserialize(hex("02ffffffff"));
    ASSERT_FALSE(buffer.ok());
    EXPECT_EQ(buffer.error().code(), ErrorCode::kTooLarge);
    auto tuple = deserialize(hex("0cffffffff"));
    ASSERT_FALSE(tuple.ok());
}

TEST(ClarityValue, DecoderBoundsNestingDepth) {
    Bytes deep(40, 0x0a);  // (some (some ... 40 deep
    deep.push_back(0x03);
    auto v = deserialize(deep);
    ASSERT_FALSE(v.ok());
    EXPECT_EQ(v.error().code(), ErrorCode::kTooLarge);
    Bytes ok_depth(20, 0x0a);
    ok_depth.push_back(0x03);
    EXPECT_TRUE(deserialize(ok_depth).ok());
}

TEST(ClarityValue, DecoderValidatesTextAndNames) {
    EXPECT_FALSE(deserialize(hex("0d00000001ff")).ok());            // non-ASCII in string-ascii
    EXPECT_FALSE(deserialize(hex("0e00000002c328")).ok());          // invalid UTF-8
    EXPECT_FALSE(deserialize(hex("0e00000002c0af")).ok());          // overlong UTF-8
    EXPECT_TRUE(deserialize(hex("0e00000002c3a9")).ok());           // é
    EXPECT_FALSE(deserialize(hex("0c00000001013103")).ok());        // field name "1"
    EXPECT_FALSE(deserialize(hex("0c00000002016103016104")).ok());  // duplicate field "a"
}

}  // namespace
}  // namespace medanchor::stacks
