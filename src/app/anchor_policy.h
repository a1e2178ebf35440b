// The anchoring policy, in one place: the thresholds an analysis must meet to be sent, and what
// each refusal means for the analyses it concerns — the contract's error codes and the node's
// rejection reasons (docs/ledger.md, "What a refusal does"). The outbox applies it; nothing here
// touches the network or the ledger.
#pragma once

#include <algorithm>
#include <cstdint>
#include <string>
#include <string_view>

namespace medanchor::app {

// The minimum confidences in force for one analysis, in basis points: the contract's global one,
// the model's on chain, and the model bundle's own (0 where unknown).
struct Thresholds {
    std::uint32_t contract_bp = 0;
    std::uint32_t chain_model_bp = 0;
    std::uint32_t bundle_bp = 0;
    // What the contract refuses below (ERR-CONFIDENCE-BELOW-THRESHOLD).
    std::uint32_t enforced() const { return std::max(contract_bp, chain_model_bp); }
    std::uint32_t highest() const { return std::max(enforced(), bundle_bp); }
};

// Why `confidence_bp` needs a person, naming the threshold it misses, e.g. "confidence 5200 bp is
// below the contract's threshold of 6000 bp". REQUIRES: confidence_bp < t.highest().
std::string review_reason(std::uint32_t confidence_bp, const Thresholds& t);

// What a refusal does to the analyses it concerns.
enum class Disposition {
    // A condition that can pass (paused, suspended, expired, not enough funds, fee too low,
    // mempool full): back to pending, no attempt counted; a later round or sync sends them again.
    kRetryLater,
    // The analysis' own fault (below threshold, unknown or retired model, invalid field): it goes
    // to needs_review with the reason and is never sent again unless a person requeues it.
    kHoldForReview,
    // Anything else (unexpected): back to pending with an attempt counted; failed after
    // OutboxOptions::max_attempts.
    kCountAttempt,
};

// For an error code of the contract, or its name (ERR-...; contract.h has the table).
Disposition classify_contract_error(std::uint64_t code);
Disposition classify_contract_error(std::string_view name);
// For a node's rejection reason (stacks::Refusal::reason, e.g. "NotEnoughFunds"). Nonce refusals
// (BadNonce, ConflictingNonceInMempool) are not classified here: whether the transaction can
// still be mined decides (the outbox asks the node).
Disposition classify_refusal(const std::string& reason);
const char* to_string(Disposition disposition);

}  // namespace medanchor::app
