// common/encoding: the one hex check every layer uses for digests and transaction ids.
#include "common/encoding.h"

#include <gtest/gtest.h>

#include <cctype>

namespace medanchor {
namespace {

TEST(IsLowerHex, TakesOnlyLowercaseDigitsOfTheAskedLength) {
    const std::string digest = to_hex(sha256("medanchor"));
    EXPECT_TRUE(is_lower_hex(digest, 64));
    EXPECT_TRUE(is_lower_hex(digest));
    EXPECT_FALSE(is_lower_hex(digest, 63));
    EXPECT_FALSE(is_lower_hex(digest.substr(1), 64));
    std::string upper = digest;
    for (char& c : upper)
        c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    EXPECT_NE(upper, digest);
    EXPECT_FALSE(is_lower_hex(upper, 64)) << "uppercase is another spelling, not ours";
    EXPECT_TRUE(from_hex(upper).has_value()) << "from_hex reads either case";
    for (const char bad : {'g', ' ', '-', 'x', '\0'}) {
        std::string s = digest;
        s[10] = bad;
        EXPECT_FALSE(is_lower_hex(s, 64)) << "with '" << bad << "'";
    }
    EXPECT_TRUE(is_lower_hex("", 0));
    EXPECT_TRUE(is_lower_hex(""));
}

}  // namespace
}  // namespace medanchor
