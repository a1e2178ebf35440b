// The outbox: anchors the ledger's pending analyses on the contract and settles the transactions
// that carry them, so that nothing recorded is lost and nothing is anchored twice, whatever is
// killed when (docs/ledger.md):
//   - a transaction is recorded in the ledger, signed bytes and all, before it is broadcast;
//   - one the node does not know (a crash before or after broadcast, a restarted node) is sent
//     again byte for byte: the same txid and nonce can be mined at most once;
//   - one that can no longer be mined (its nonce went to another transaction) has its analyses
//     looked up on the chain before they are sent again;
//   - without the Stacks Blockchain API, a transaction is settled from the node's RPC: once the
//     account's confirmed nonce passes it, the contract's state (its analyses, looked up by
//     image) says whether it succeeded;
//   - a refusal is classified (anchor_policy.h): a condition that can pass leaves the analyses
//     pending with no attempt counted; an item's own fault holds that item for review and the
//     rest of its batch is sent again.
#pragma once

#include <cstddef>
#include <map>
#include <ostream>
#include <string>
#include <vector>

#include "app/chain.h"
#include "common/error.h"
#include "ledger/ledger.h"

namespace medanchor::app {

struct OutboxOptions {
    bool wait = true;        // wait for the transactions to be mined and settle them
    std::size_t batch = 50;  // analyses per transaction: the contract's MAX-BATCH-SIZE
    int max_attempts = 3;    // unexplained refusals before an analysis is failed for good
    bool progress = true;    // a progress line on a terminal
};

struct OutboxSummary {
    std::size_t sent = 0;       // analyses put into new transactions this run
    std::size_t resent = 0;     // transactions broadcast again from their stored bytes
    std::size_t confirmed = 0;  // analyses settled as confirmed this run
    std::size_t refused = 0;    // refused for no known reason: an attempt counted (failed at max)
    std::size_t held = 0;       // moved to needs_review this run (below a threshold, bad model...)
    std::size_t deferred = 0;   // back to pending for a condition that can pass (no attempt)
    std::vector<std::string> txids;                       // transactions broadcast this run
    std::vector<std::string> problems;                    // one line each, for the operator
    std::map<ledger::AnalysisState, std::size_t> totals;  // the ledger afterwards
};

// Anchors this session's analyst's pending analyses and settles their transactions. Errors
// (kNetwork, kTimeout, kContract for a paused contract or an inactive professional) leave every
// analysis where it safely is; the next call resumes. With options.wait, analyses sent back to
// pending by another item's fault are sent again in further rounds of the same call (at most
// kOutboxRounds); those sent back by a condition that can pass wait for the next call.
inline constexpr int kOutboxRounds = 4;
Result<OutboxSummary> sync_outbox(ledger::Ledger& ledger, ChainSession& session,
                                  const OutboxOptions& options);

void print_summary(const OutboxSummary& summary, std::ostream& out);

}  // namespace medanchor::app
