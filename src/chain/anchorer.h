// The elected anchoring writer (`medanchor anchorer`, docs/anchorer.md): of the processes that
// run it for one signing key on one ledger, one holds the key's outbox lock and anchors; the
// others stand by and take over when it dies.
//
//   election   try the key's OutboxLock (ledger.h; on PostgreSQL an advisory lock keyed by the
//              sender address and the contract) without waiting; held by another: stand by,
//              saying who holds it, and try again every `standby_retry`.
//   writer     loop: check the lock is still held on a live session, one outbox pass
//              (sync_outbox without waiting for blocks: anchor what is pending, settle what was
//              broadcast), sleep `interval`. Before signing each transaction the pass checks the
//              lock again (OutboxOptions::before_signing): a PostgreSQL restart or
//              pg_terminate_backend ends the lock's session without telling the holder, and a
//              writer that went on signing would race the new one for nonces. Lost: back to
//              election.
//   stop()     the current step finishes, the lock is released, run() returns Ok.
//
// Nonces and the node's chaining limit are the outbox's (anchoring_service.h): each transaction
// takes the lowest nonce no live transaction of the sender holds, and at most
// OutboxOptions::max_chained (25) are unconfirmed at once.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "chain/anchoring_service.h"
#include "chain/session.h"
#include "common/error.h"
#include "ledger/ledger.h"

namespace medanchor::chain {

struct AnchorerOptions {
    OutboxOptions outbox;  // `wait` is ignored: a pass never blocks on a block
    std::chrono::milliseconds interval{std::chrono::seconds(5)};       // between passes
    std::chrono::milliseconds standby_retry{std::chrono::seconds(3)};  // between lock tries
};

// What the writer tells, one event at a time (a log line, or a JSON object with --json).
struct AnchorerEvent {
    enum class Kind {
        kStandby,  // another process holds the lock: `detail` names it
        kElected,  // this process holds the lock and writes
        kPass,     // one outbox pass ran: `summary`
        kError,    // a pass or an election failed for a reason that can pass: `detail`
        kLost,     // the lock was lost (its session ended): `detail`; back to election
        kStopped,  // stop() was asked: the lock is released
    } kind = Kind::kStandby;
    std::string detail;
    std::optional<OutboxSummary> summary;
    // The anchoring lag, from the ledger (all senders), when it could be read: the age of the
    // oldest analysis recorded and not confirmed (pending or broadcast), how many wait, and when
    // a transaction was last recorded and last confirmed.
    std::optional<std::int64_t> lag_s;
    std::size_t pending = 0;
    std::size_t broadcast = 0;
    ledger::AnchoringTimes times;
};
const char* to_string(AnchorerEvent::Kind kind);  // "standby", "elected", "pass", ...

// Thread safety: run() on one thread; stop() from any thread (a signal watcher).
class Anchorer {
  public:
    using Reporter = std::function<void(const AnchorerEvent&)>;

    // Opens the ledger (its errors: kIo, kCorrupt, kUnsupported, kNetwork).
    static Result<std::unique_ptr<Anchorer>> open(const std::filesystem::path& ledger_location,
                                                  ChainSession session, AnchorerOptions options,
                                                  Reporter report);
    Anchorer(const Anchorer&) = delete;
    Anchorer& operator=(const Anchorer&) = delete;

    // Elects, writes, stands by, until stop(). Errors only for what no retry mends: the ledger
    // or the mode unsupported (kUnsupported), a damaged ledger (kCorrupt), no permission
    // (kPermission), a key that may not anchor (kNoKey).
    Status run();
    void stop();

  private:
    Anchorer(ledger::Ledger ledger, ChainSession session, AnchorerOptions options, Reporter report);
    bool stopping();
    // Sleeps up to `d`, less when stop() is asked.
    void pause(std::chrono::milliseconds d);
    void tell(AnchorerEvent event);
    // One lock held: passes until the lock is lost (Ok) or an error no retry mends.
    Status write(const ledger::OutboxLock& lock);

    ledger::Ledger ledger_;
    ChainSession session_;
    const AnchorerOptions options_;
    const Reporter report_;
    std::mutex mutex_;
    std::condition_variable wake_;
    bool stop_ = false;
};

}  // namespace medanchor::chain
