#include "app/anchor_policy.h"

#include "app/contract.h"

namespace medanchor::app {
namespace {

bool one_of(std::string_view name, std::initializer_list<std::string_view> names) {
    for (auto n : names) {
        if (name == n)
            return true;
    }
    return false;
}

}  // namespace

std::string review_reason(std::uint32_t confidence_bp, const Thresholds& t) {
    const char* whose = confidence_bp < t.contract_bp      ? "the contract's"
                        : confidence_bp < t.chain_model_bp ? "the model's on-chain"
                                                           : "the model bundle's";
    const std::uint32_t threshold = confidence_bp < t.contract_bp      ? t.contract_bp
                                    : confidence_bp < t.chain_model_bp ? t.chain_model_bp
                                                                       : t.bundle_bp;
    return "confidence " + std::to_string(confidence_bp) + " bp is below " + whose +
           " threshold of " + std::to_string(threshold) + " bp";
}

Disposition classify_contract_error(std::uint64_t code) {
    const ContractError* e = find_contract_error(code);
    return e == nullptr ? Disposition::kCountAttempt : classify_contract_error(e->name);
}

Disposition classify_contract_error(std::string_view name) {
    // Whole-batch conditions that pass with time or a person's action elsewhere: an admin
    // unpauses, a verifier verifies, renews or reinstates the analyst.
    if (one_of(name, {"ERR-PAUSED", "ERR-NOT-REGISTERED", "ERR-NOT-VERIFIED",
                      "ERR-VERIFICATION-EXPIRED", "ERR-SUSPENDED"}))
        return Disposition::kRetryLater;
    // What is wrong with the analysis itself, or with its model, for good.
    if (one_of(name, {"ERR-UNKNOWN-MODEL", "ERR-MODEL-RETIRED", "ERR-INVALID-IMAGE-HASH",
                      "ERR-INVALID-FINDING", "ERR-INVALID-CONFIDENCE",
                      "ERR-CONFIDENCE-BELOW-THRESHOLD", "ERR-INVALID-REPORT-DIGEST"}))
        return Disposition::kHoldForReview;
    return Disposition::kCountAttempt;
}

Disposition classify_refusal(const std::string& reason) {
    // stacks-core's MemPoolRejection::into_json names (stackslib/src/chainstate/stacks/db/
    // blocks.rs): funds arrive, fee estimates move, the mempool drains, a node recovers.
    if (one_of(reason, {"NotEnoughFunds", "FeeTooLow", "TooMuchChaining", "TemporarilyBlacklisted",
                        "ServerFailureDatabase", "ServerFailureNoSuchChainTip", "EstimatorError"}))
        return Disposition::kRetryLater;
    return Disposition::kCountAttempt;
}

const char* to_string(Disposition disposition) {
    switch (disposition) {
        case Disposition::kRetryLater:
            return "retry later";
        case Disposition::kHoldForReview:
            return "hold for review";
        case Disposition::kCountAttempt:
            return "count an attempt";
    }
    return "count an attempt";
}

}  // namespace medanchor::app
