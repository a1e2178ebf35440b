// The outbox: anchors the ledger's pending analyses on the contract and settles the transactions
// that carry them, so that nothing recorded is lost and nothing is anchored twice, whatever is
// killed when (docs/ledger.md):
//   - a transaction is recorded in the ledger, signed bytes and all, before it is broadcast;
//   - one the node does not know (a crash before or after broadcast, a restarted node) is sent
//     again byte for byte: the same txid and nonce can be mined at most once;
//   - one that can no longer be mined (its nonce went to another transaction) has its analyses
//     looked up on the chain before they are sent again.
#pragma once

#include <cstddef>
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
    int max_attempts = 3;    // node refusals before an analysis is failed for good
    bool progress = true;    // a progress line on a terminal
};

struct OutboxSummary {
    std::size_t sent = 0;               // analyses put into new transactions this run
    std::size_t resent = 0;             // transactions broadcast again from their stored bytes
    std::size_t confirmed = 0;          // analyses settled as confirmed this run
    std::size_t failed = 0;             // analyses settled as failed this run
    std::size_t held = 0;               // moved to needs_review this run (below a threshold)
    std::vector<std::string> txids;     // transactions broadcast this run
    std::vector<std::string> problems;  // one line each, for the operator
    std::map<ledger::AnalysisState, std::size_t> totals;  // the ledger afterwards
};

// Anchors this session's analyst's pending analyses and settles their transactions. Errors
// (kNetwork, kTimeout, kContract for a paused contract or an inactive professional) leave every
// analysis where it safely is; the next call resumes.
Result<OutboxSummary> sync_outbox(ledger::Ledger& ledger, ChainSession& session,
                                  const OutboxOptions& options);

void print_summary(const OutboxSummary& summary, std::ostream& out);

}  // namespace medanchor::app
