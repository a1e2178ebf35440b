#include "chain/anchorer.h"

#include <utility>

namespace medanchor::chain {
namespace {

// What no retry mends: the writer exits with it instead of trying again.
bool fatal(ErrorCode code) {
    return code == ErrorCode::kUnsupported || code == ErrorCode::kCorrupt ||
           code == ErrorCode::kPermission || code == ErrorCode::kNoKey;
}

// Whether a pass did anything worth a log line.
bool busy(const OutboxSummary& s) {
    return s.sent || s.resent || s.confirmed || s.refused || s.held || s.deferred || s.roots ||
           s.proofs || s.chained_out || !s.problems.empty();
}

constexpr auto kQuietFor = std::chrono::seconds(60);

}  // namespace

const char* to_string(AnchorerEvent::Kind kind) {
    switch (kind) {
        case AnchorerEvent::Kind::kStandby:
            return "standby";
        case AnchorerEvent::Kind::kElected:
            return "elected";
        case AnchorerEvent::Kind::kPass:
            return "pass";
        case AnchorerEvent::Kind::kError:
            return "error";
        case AnchorerEvent::Kind::kLost:
            return "lost";
        case AnchorerEvent::Kind::kStopped:
            return "stopped";
    }
    return "?";
}

Result<std::unique_ptr<Anchorer>> Anchorer::open(const std::filesystem::path& ledger_location,
                                                 ChainSession session, AnchorerOptions options,
                                                 Reporter report) {
    auto ledger = ledger::Ledger::open(ledger_location);
    if (!ledger)
        return ledger.error();
    return std::unique_ptr<Anchorer>(new Anchorer(std::move(*ledger), std::move(session),
                                                  std::move(options), std::move(report)));
}

Anchorer::Anchorer(ledger::Ledger ledger, ChainSession session, AnchorerOptions options,
                   Reporter report)
    : ledger_(std::move(ledger)),
      session_(std::move(session)),
      options_(std::move(options)),
      report_(std::move(report)) {}

void Anchorer::stop() {
    {
        std::lock_guard lock(mutex_);
        stop_ = true;
    }
    wake_.notify_all();
}

bool Anchorer::stopping() {
    std::lock_guard lock(mutex_);
    return stop_;
}

void Anchorer::pause(std::chrono::milliseconds d) {
    std::unique_lock lock(mutex_);
    wake_.wait_for(lock, d, [this] { return stop_; });
}

void Anchorer::tell(AnchorerEvent event) {
    // The lag as the ledger has it; a ledger that cannot be read now (a PostgreSQL restart)
    // leaves it out rather than stopping the writer.
    if (auto lag = ledger::anchoring_lag_seconds(ledger_))
        event.lag_s = *lag;
    if (auto counts = ledger_.counts()) {
        event.pending = (*counts)[ledger::AnalysisState::kPending];
        event.broadcast = (*counts)[ledger::AnalysisState::kBroadcast];
    }
    if (auto times = ledger_.anchoring_times())
        event.times = std::move(*times);
    if (report_)
        report_(event);
}

Status Anchorer::run() {
    const std::string scope = outbox_scope(session_);
    std::string standing_by;  // the holder last told about, so a standby says it once
    while (!stopping()) {
        auto lock =
            ledger::OutboxLock::acquire(ledger_.path(), std::chrono::milliseconds(0), {}, scope);
        if (!lock) {
            if (fatal(lock.error().code()))
                return lock.error();
            const bool held = lock.error().code() == ErrorCode::kTimeout;
            if (!held || lock.error().message() != standing_by) {
                AnchorerEvent e;
                e.kind = held ? AnchorerEvent::Kind::kStandby : AnchorerEvent::Kind::kError;
                e.detail = lock.error().message();
                tell(std::move(e));
            }
            standing_by = held ? lock.error().message() : std::string();
            pause(options_.standby_retry);
            continue;
        }
        standing_by.clear();
        AnchorerEvent elected;
        elected.kind = AnchorerEvent::Kind::kElected;
        elected.detail = "anchoring for " + scope + " from " + ledger_.display_name();
        tell(std::move(elected));
        if (auto s = write(*lock); !s)
            return s;
        // Lost (or stopping): the lock's connection closes here; back to election.
    }
    AnchorerEvent stopped;
    stopped.kind = AnchorerEvent::Kind::kStopped;
    stopped.detail = "the outbox lock is released";
    tell(std::move(stopped));
    return Status::Ok();
}

Status Anchorer::write(const ledger::OutboxLock& lock) {
    OutboxOptions outbox = options_.outbox;
    outbox.wait = false;
    outbox.flush = false;
    outbox.before_signing = [&lock] { return lock.check(); };
    const auto lost = [&](const Error& e) {
        AnchorerEvent event;
        event.kind = AnchorerEvent::Kind::kLost;
        event.detail = e.message() + "; signing nothing more, back to election";
        tell(std::move(event));
    };
    auto last_told = std::chrono::steady_clock::now();
    while (!stopping()) {
        if (auto s = lock.check(); !s) {
            lost(s.error());
            return Status::Ok();
        }
        auto summary = sync_outbox(ledger_, session_, outbox);
        if (!summary) {
            if (fatal(summary.error().code()))
                return summary.error();
            // A pass stopped by the lock re-check, or failing while the lock went away (the
            // server restarting takes the ledger's session and the lock's together).
            if (auto s = lock.check(); !s) {
                lost(s.error());
                return Status::Ok();
            }
            AnchorerEvent event;
            event.kind = AnchorerEvent::Kind::kError;
            event.detail = summary.error().message();
            tell(std::move(event));
        } else if (busy(*summary) || std::chrono::steady_clock::now() - last_told >= kQuietFor) {
            // An idle pass is told once a minute, not every interval.
            AnchorerEvent event;
            event.kind = AnchorerEvent::Kind::kPass;
            event.summary = std::move(*summary);
            tell(std::move(event));
            last_told = std::chrono::steady_clock::now();
        }
        pause(options_.interval);
    }
    return Status::Ok();
}

}  // namespace medanchor::chain
