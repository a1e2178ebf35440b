// The anchoring policy's table: what each refusal does to the analyses it concerns
// (docs/ledger.md, "What a refusal does"), and the threshold reasons people read in the ledger.
#include "chain/threshold_policy.h"

#include <gtest/gtest.h>

#include "chain/contract.h"

namespace medanchor::chain {
namespace {

TEST(AnchorPolicy, ConditionsThatCanPassAreRetriedWithoutAnAttempt) {
    for (const char* name : {"ERR-PAUSED", "ERR-NOT-REGISTERED", "ERR-NOT-VERIFIED",
                             "ERR-VERIFICATION-EXPIRED", "ERR-SUSPENDED"}) {
        EXPECT_EQ(classify_contract_error(std::string_view(name)), Disposition::kRetryLater)
            << name;
    }
    for (const char* reason : {"NotEnoughFunds", "FeeTooLow", "TooMuchChaining",
                               "TemporarilyBlacklisted", "ServerFailureDatabase"}) {
        EXPECT_EQ(classify_refusal(reason), Disposition::kRetryLater) << reason;
    }
}

TEST(AnchorPolicy, AnItemsOwnFaultHoldsItForReview) {
    for (const char* name : {"ERR-CONFIDENCE-BELOW-THRESHOLD", "ERR-UNKNOWN-MODEL",
                             "ERR-MODEL-RETIRED", "ERR-INVALID-IMAGE-HASH", "ERR-INVALID-FINDING",
                             "ERR-INVALID-CONFIDENCE", "ERR-INVALID-REPORT-DIGEST"}) {
        EXPECT_EQ(classify_contract_error(std::string_view(name)), Disposition::kHoldForReview)
            << name;
    }
}

TEST(AnchorPolicy, EverythingElseCountsAnAttempt) {
    EXPECT_EQ(classify_contract_error(std::string_view("ERR-EMPTY-BATCH")),
              Disposition::kCountAttempt);
    EXPECT_EQ(classify_contract_error(std::uint64_t{1}), Disposition::kCountAttempt) << "unknown";
    EXPECT_EQ(classify_refusal("SignatureValidation"), Disposition::kCountAttempt);
    EXPECT_EQ(classify_refusal("BadFunctionArgument"), Disposition::kCountAttempt);
    // Codes and names agree: the code path goes through the contract's table.
    std::size_t n = 0;
    const ContractError* table = contract_errors(&n);
    for (std::size_t i = 0; i < n; ++i) {
        EXPECT_EQ(classify_contract_error(std::uint64_t{table[i].code}),
                  classify_contract_error(std::string_view(table[i].name)))
            << table[i].name;
    }
}

TEST(AnchorPolicy, SaysWhichThresholdAnAnalysisMisses) {
    const Thresholds t{6000, 7000, 8000};
    EXPECT_EQ(t.enforced(), 7000u);
    EXPECT_EQ(t.highest(), 8000u);
    EXPECT_EQ(review_reason(5000, t),
              "confidence 5000 bp is below the contract's threshold of 6000 bp");
    EXPECT_EQ(review_reason(6500, t),
              "confidence 6500 bp is below the model's on-chain threshold of 7000 bp");
    EXPECT_EQ(review_reason(7500, t),
              "confidence 7500 bp is below the model bundle's threshold of 8000 bp");
}

}  // namespace
}  // namespace medanchor::chain
