// The threshold policy, in one place (analyze, the anchoring service and the services above use
// it; nothing else compares a confidence to a threshold): the thresholds an analysis must meet to
// be sent, and what each refusal means for the analyses it concerns — the contract's error codes
// and the node's rejection reasons (docs/ledger.md, "What a refusal does"). Only read_terms()
// touches the network (read-only calls); nothing here touches the ledger.
#pragma once

#include <algorithm>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/error.h"

namespace medanchor::chain {

// The minimum confidences in force for one analysis, in basis points: the contract's global one,
// the model's on chain, and the model bundle's own (0 where unknown).
struct Thresholds {
    std::uint32_t contract_bp = 0;
    std::uint32_t chain_model_bp = 0;
    std::uint32_t bundle_bp = 0;
    // What the contract refuses below (ERR-CONFIDENCE-BELOW-THRESHOLD).
    std::uint32_t enforced() const { return std::max(contract_bp, chain_model_bp); }
    std::uint32_t highest() const { return std::max(enforced(), bundle_bp); }
    // True when a person must look at an analysis of this confidence before it is anchored.
    bool needs_review(std::uint32_t confidence_bp) const { return confidence_bp < highest(); }
};

// Why `confidence_bp` needs a person, naming the threshold it misses, e.g. "confidence 5200 bp is
// below the contract's threshold of 6000 bp". REQUIRES: confidence_bp < t.highest().
std::string review_reason(std::uint32_t confidence_bp, const Thresholds& t);

class ChainSession;

// What the chain says about anchoring analyses of one model now: the thresholds in force and the
// model's id on the contract.
struct AnchoringTerms {
    Thresholds thresholds;
    std::uint64_t model_id = 0;
};

// Reads the contract's parameters and the model's registration (by the SHA-256 of its network;
// `model_label` names it in messages, e.g. "ct-nodule-sim 1.0.0"). Refuses when nothing could be
// anchored anyway, before any image is read: kContract (paused, model retired), kNotFound (model
// not registered); kNetwork/kTimeout when the chain cannot be reached. `bundle_bp` is copied into
// the thresholds. Thread safety: as the session (one per thread).
Result<AnchoringTerms> read_terms(ChainSession& session, const std::string& model_sha256,
                                  const std::string& model_label, std::uint32_t bundle_bp);

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

}  // namespace medanchor::chain
