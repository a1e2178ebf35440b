// The anchoring service (the outbox): anchors the ledger's pending analyses on the contract and
// settles the transactions that carry them, so that nothing recorded is lost and nothing is
// anchored twice, whatever is killed when (docs/ledger.md):
//   - a transaction is recorded in the ledger, signed bytes and all, before it is broadcast;
//   - one the node does not know (a crash before or after broadcast, a restarted node) is sent
//     again byte for byte: the same txid and nonce can be mined at most once;
//   - one that can no longer be mined (its nonce went to another transaction) has its analyses
//     looked up on the chain before they are sent again;
//   - without the Stacks Blockchain API, a transaction is settled from the node's RPC: once the
//     account's confirmed nonce passes it, the contract's state (its analyses, looked up by
//     image) says whether it succeeded;
//   - a refusal is classified (threshold_policy.h): a condition that can pass leaves the analyses
//     pending with no attempt counted; an item's own fault holds that item for review and the
//     rest of its batch is sent again.
// In Merkle mode (OutboxOptions::mode) the same rules hold for roots (docs/merkle.md, "Anchor
// modes"): a root, its leaves and its signed anchor-root are stored in the ledger
// (ledger/merkle_store.h) before it is broadcast; one the node does not know is sent again byte
// for byte; it is settled by the contract's own record of roots (get-root-id), so a root whose
// broadcast answer was lost is found, not sent twice; a root whose nonce is consumed without it
// gives its analyses back for the next root; and once confirmed, anchor.proof.json is written
// write-once into each analysis's report folder.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <ostream>
#include <string>
#include <thread>
#include <vector>

#include "chain/merkle.h"
#include "chain/session.h"
#include "common/error.h"
#include "ledger/ledger.h"

namespace medanchor::chain {

// What anchoring tells as it goes, for a progress line, a web UI or the DICOM listener's
// per-series state. The default of every method does nothing.
// Thread safety: called on the thread that runs sync_outbox() (for an AnchoringService started
// with start(), its own background thread), one call at a time; an implementation shared with
// other threads synchronises itself. Callbacks must not call back into the service.
class AnchoringObserver {
  public:
    virtual ~AnchoringObserver() = default;
    // About to sign and send `analyses` analyses in new transactions this round.
    virtual void on_sending(std::size_t /*analyses*/) {}
    // A node accepted transaction `txid` carrying these ledger ids.
    virtual void on_sent(const std::string& /*txid*/, const std::vector<std::int64_t>& /*ids*/) {}
    // The transaction was mined with success: its analyses are confirmed at `block_height` (0
    // when it was settled by looking the analyses up, and the height is in the ledger).
    virtual void on_confirmed(const std::string& /*txid*/, std::size_t /*analyses*/,
                              std::uint64_t /*block_height*/) {}
    // The transaction can no longer anchor its analyses (refused by the node or the contract,
    // or its nonce went elsewhere); `reason` says why, as the ledger records it.
    virtual void on_refused(const std::string& /*txid*/, const std::string& /*reason*/) {}
    // Analysis `id` was held for review before any transaction (below a threshold, bad model).
    virtual void on_held(std::int64_t /*id*/, const std::string& /*reason*/) {}
};

// How a site anchors (docs/merkle.md, "Anchor modes"): one contract record per analysis, in
// batches of up to 50, or one Merkle root (anchor-root) for up to 2^20 analyses, each with a
// proof file beside its report.
enum class AnchorMode { kRecords, kMerkle };
const char* to_string(AnchorMode mode);  // "records", "merkle"
// "records" or "merkle"; kInvalidArgument naming the value otherwise.
Result<AnchorMode> parse_anchor_mode(const std::string& text);

// The defaults of --root-every and --root-size: a root a minute at most, and at most 100,000
// leaves a root (the contract takes up to 2^20, kMaxRootLeaves).
inline constexpr std::chrono::seconds kDefaultRootEvery{60};
inline constexpr std::size_t kDefaultRootSize = 100000;
inline constexpr std::size_t kMaxRootLeaves = std::size_t{1} << 20;

inline constexpr const char* kAnchorRoot = "anchor-root";

// The leaf of a recorded analysis (docs/merkle.md, "Leaf"): its image hash, model id, finding,
// confidence, report digest and analyst. kCorrupt naming the ledger id when a field cannot be
// one (no model id yet, a damaged hash).
Result<LeafFields> leaf_fields(const ledger::Analysis& analysis);

// The node's limit on one sender's chained transactions in its mempool (stacks-core's
// MAXIMUM_MEMPOOL_TX_CHAINING, the local chain's kMaximumMempoolChaining): the outbox never has
// more of its sender's transactions unconfirmed than this.
inline constexpr std::size_t kMaxChainedTransactions = 25;

struct OutboxOptions {
    AnchorMode mode = AnchorMode::kRecords;
    // Merkle mode: a root is anchored once `root_size` leaves of one model wait, or the oldest
    // has waited `root_every`, or at once with `flush` (`medanchor sync`); more than root_size
    // pending leaves make several roots. 1 <= root_size <= kMaxRootLeaves.
    std::chrono::seconds root_every = kDefaultRootEvery;
    std::size_t root_size = kDefaultRootSize;
    bool flush = false;
    bool wait = true;        // wait for the transactions to be mined and settle them
    std::size_t batch = 50;  // analyses per transaction: the contract's MAX-BATCH-SIZE
    int max_attempts = 3;    // unexplained refusals before an analysis is failed for good
    // At most this many of the sender's transactions (and roots) unconfirmed at once: the next
    // waits for confirmations (with `wait`, in the same call; otherwise the next call). A node's
    // TooMuchChaining refusal is waited out the same way, never counted as a failure.
    std::size_t max_chained = kMaxChainedTransactions;
    // Called before each new transaction or root is signed; an Error stops the pass at once,
    // signing nothing more (the elected writer's lock re-check: docs/anchorer.md). May be empty.
    std::function<Status()> before_signing;
    // Told what happens; not owned, may be null. Must outlive the call (or the service).
    AnchoringObserver* observer = nullptr;
};

struct OutboxSummary {
    std::size_t sent = 0;       // analyses put into new transactions this run
    std::size_t resent = 0;     // transactions broadcast again from their stored bytes
    std::size_t confirmed = 0;  // analyses settled as confirmed this run
    std::size_t refused = 0;    // refused for no known reason: an attempt counted (failed at max)
    std::size_t held = 0;       // moved to needs_review this run (below a threshold, bad model...)
    std::size_t deferred = 0;   // back to pending for a condition that can pass (no attempt)
    std::size_t roots = 0;      // Merkle roots broadcast this run (their analyses count in sent)
    std::size_t proofs = 0;     // proof files written beside reports this run
    std::size_t waiting = 0;    // Merkle mode: pending analyses waiting for their root
    // Pending analyses left for a later pass because the sender had max_chained transactions
    // unconfirmed (or a node said TooMuchChaining).
    std::size_t chained_out = 0;
    std::vector<std::string> txids;                       // transactions broadcast this run
    std::vector<std::string> problems;                    // one line each, for the operator
    std::map<ledger::AnalysisState, std::size_t> totals;  // the ledger afterwards
};

// Anchors this session's analyst's pending analyses and settles their transactions: one pass
// (`medanchor sync`, the end of `analyze`). Errors (kNetwork, kTimeout, kContract for a paused
// contract or an inactive professional) leave every analysis where it safely is; the next call
// resumes. With options.wait, analyses sent back to pending by another item's fault are sent
// again in further rounds of the same call (at most kOutboxRounds); those sent back by a
// condition that can pass wait for the next call.
// REQUIRES: the caller holds the ledger's OutboxLock (ledger.h) when other processes may
// anchor from the same ledger.
inline constexpr int kOutboxRounds = 4;
Result<OutboxSummary> sync_outbox(ledger::Ledger& ledger, ChainSession& session,
                                  const OutboxOptions& options);

// The scope of this session's outbox lock (ledger::OutboxLock::acquire): its sender.
std::string outbox_scope(const ChainSession& session);

// One line per figure of a summary, for the CLI.
void print_summary(const OutboxSummary& summary, std::ostream& out);

// Anchoring in the background of a long-lived process (`medanchor serve`, `listen`): a thread
// that runs sync_outbox() when woken (notify(): new pending analyses) and at least every
// `settle_interval` (to settle what was sent), each pass under the ledger's OutboxLock so that
// CLI runs on the same ledger take turns with it. A pass that fails (chain unreachable...) is
// reported through last_error() and retried at the next wake-up or interval; nothing is lost.
// Ownership: the service owns its ledger connection (opened on `ledger_path`, used only by its
// thread: the ledger is one connection per thread) and its ChainSession (one per thread).
// Thread safety: notify(), stop(), last_summary() and last_error() may be called from any
// thread; start() and stop() from one owning thread. sync() runs a pass on the caller's thread
// and must not be called while the background thread runs (it returns kInvalidArgument then).
class AnchoringService {
  public:
    struct Options {
        OutboxOptions outbox;
        std::chrono::milliseconds settle_interval{std::chrono::seconds(30)};
        std::chrono::milliseconds lock_wait{std::chrono::seconds(5)};
    };

    // kIo/kCorrupt/kUnsupported from opening the ledger.
    static Result<std::unique_ptr<AnchoringService>> open(const std::filesystem::path& ledger_path,
                                                          ChainSession session, Options options);
    ~AnchoringService();  // stop()s
    AnchoringService(const AnchoringService&) = delete;
    AnchoringService& operator=(const AnchoringService&) = delete;

    // One pass now, on this thread (waits up to options.lock_wait for the OutboxLock).
    Result<OutboxSummary> sync();

    // Starts the background thread (no effect when it runs). It makes a first pass at once.
    void start();
    // Wakes the background thread for a pass (new pending analyses). Cheap; may be called often.
    void notify();
    // Ends the current pass's waiting at the next check and joins the thread. Idempotent.
    void stop();
    bool running() const;

    // The outcome of the last completed background pass, if any.
    std::optional<OutboxSummary> last_summary() const;
    std::optional<Error> last_error() const;
    // Completed background passes (for tests and status pages).
    std::uint64_t passes() const;

  private:
    AnchoringService(ledger::Ledger ledger, ChainSession session, Options options);
    void loop();
    Result<OutboxSummary> pass();

    ledger::Ledger ledger_;
    ChainSession session_;
    const Options options_;
    mutable std::mutex mutex_;
    std::condition_variable wake_;
    bool wake_requested_ = false;
    bool stop_requested_ = false;
    std::optional<OutboxSummary> last_summary_;
    std::optional<Error> last_error_;
    std::uint64_t passes_ = 0;
    std::thread thread_;
};

}  // namespace medanchor::chain
