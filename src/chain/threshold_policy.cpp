#include "chain/threshold_policy.h"

#include "chain/contract.h"
#include "chain/session.h"
#include "stacks/bytes.h"

namespace medanchor::chain {
namespace {

bool one_of(std::string_view name, std::initializer_list<std::string_view> names) {
    for (auto n : names) {
        if (name == n)
            return true;
    }
    return false;
}

}  // namespace

Result<AnchoringTerms> read_terms(ChainSession& session, const std::string& model_sha256,
                                  const std::string& model_label, std::uint32_t bundle_bp) {
    using stacks::Value;
    AnchoringTerms terms;
    terms.thresholds.bundle_bp = bundle_bp;
    auto params = session.read("get-parameters", {});
    if (!params)
        return Error(params.error().code(),
                     "reading the contract's parameters: " + params.error().message());
    terms.thresholds.contract_bp =
        static_cast<std::uint32_t>(uint_field(*params, "min-confidence"));
    if (const Value* paused = params->field("paused"); paused && paused->as_bool()) {
        return Error(ErrorCode::kContract,
                     "the contract is paused: no analysis can be anchored now (run with "
                     "--no-anchor to record them "
                     "and `medanchor sync` later)");
    }
    auto hash = stacks::from_hex(model_sha256);
    if (!hash || hash->size() != 32)
        return Error(ErrorCode::kInvalidArgument,
                     "model " + model_label + ": its sha256 is not 64 hex digits");
    auto id = session.read("get-model-id", {Value::buffer(*hash)});
    if (!id)
        return id.error();
    if (id->kind() != stacks::ValueKind::kSome) {
        return Error(ErrorCode::kNotFound,
                     "model " + model_label + " (sha256 " + model_sha256 +
                         ") is not registered on the contract; an admin registers it with "
                         "`medanchor admin register-model --bundle DIR`");
    }
    terms.model_id = static_cast<std::uint64_t>(id->inner().as_uint());
    auto model = session.read("get-model", {Value::uint_(terms.model_id)});
    if (!model)
        return model.error();
    if (model->kind() == stacks::ValueKind::kSome) {
        terms.thresholds.chain_model_bp =
            static_cast<std::uint32_t>(uint_field(model->inner(), "min-confidence"));
        if (const Value* active = model->inner().field("active"); active && !active->as_bool()) {
            return Error(ErrorCode::kContract,
                         "model " + model_label + " is retired on the contract");
        }
    }
    return terms;
}

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

}  // namespace medanchor::chain
