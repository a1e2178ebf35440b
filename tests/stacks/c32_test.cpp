#include "stacks/c32.h"

#include <gtest/gtest.h>

namespace medanchor::stacks {
namespace {

constexpr const char* kDeployer = "ST1PQHQKV0RJXZFY1DGX8MNSNYVE3VGZJSRTPGZGM";

TEST(C32, ParsesAndPrintsAnAddress) {
    auto a = parse_address(kDeployer);
    ASSERT_TRUE(a.ok()) << a.error().message();
    EXPECT_EQ(a->version, kTestnetSingleSig);
    EXPECT_EQ(a->to_string(), kDeployer);
}

TEST(C32, AcceptsLowerCaseAndCrockfordLookAlikes) {
    auto lower = parse_address("st1pqhqkv0rjxzfy1dgx8mnsnyve3vgzjsrtpgzgm");
    ASSERT_TRUE(lower.ok());
    EXPECT_EQ(lower->to_string(), kDeployer);
    auto lookalike = parse_address("ST1PQHQKVORJXZFY1DGX8MNSNYVE3VGZJSRTPGZGM");  // O for 0
    ASSERT_TRUE(lookalike.ok());
    EXPECT_EQ(lookalike->to_string(), kDeployer);
}

TEST(C32, RejectsATypoWithAClearMessage) {
    auto typo = parse_address("ST1PQHQKV0RJXZFY1DGX8MNSNYVE3VGZJSRTPGZGN");
    ASSERT_FALSE(typo.ok());
    EXPECT_EQ(typo.error().code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(typo.error().message().find("checksum"), std::string::npos);
    EXPECT_FALSE(parse_address("SX").ok());
    EXPECT_FALSE(parse_address("XT1PQHQKV0RJXZFY1DGX8MNSNYVE3VGZJSRTPGZGM").ok());
    EXPECT_FALSE(parse_address("ST1PQHQKV0RJXZFY1DGX8MNSNYVE3VGZJSRTPGZG!").ok());
    EXPECT_FALSE(parse_address("ST1PQHQKV0RJXZFY1DGX8MNSNYVE3VGZJSRTPGZGMM").ok());
}

}  // namespace
}  // namespace medanchor::stacks
