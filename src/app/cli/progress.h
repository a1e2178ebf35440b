// A progress line for long commands (simulate, predict, analyze): count, rate and time left,
// redrawn in place on stderr when it is a terminal, silent otherwise (logs and pipes get the
// command's own summary instead). Thread-safe: workers may call tick() concurrently.
#pragma once

#include <chrono>
#include <cstddef>
#include <mutex>
#include <optional>
#include <string>

#include "chain/anchoring_service.h"

namespace medanchor::app {

class Progress {
  public:
    // total: the number of items; label: what they are ("images", "slices").
    Progress(std::size_t total, std::string label);
    ~Progress();
    Progress(const Progress&) = delete;
    Progress& operator=(const Progress&) = delete;

    void tick(std::size_t n = 1);
    // Clears the line so other output can be printed; the next tick() draws it again.
    void clear_line();
    // Clears the line for good. Called by the destructor too.
    void finish();

    std::size_t done() const;
    double elapsed_seconds() const;

    // "12/200 slices  6.1/s  ETA 0:31"; exposed for tests.
    static std::string format(std::size_t done, std::size_t total, const std::string& label,
                              double elapsed_seconds);

  private:
    void draw_locked();

    const std::size_t total_;
    const std::string label_;
    const bool enabled_;
    const std::chrono::steady_clock::time_point start_;
    std::chrono::steady_clock::time_point last_draw_{};
    std::size_t done_ = 0;
    bool finished_ = false;
    mutable std::mutex mutex_;
};

// A progress line for anchoring (analyze, sync): "analyses anchored", counted as the node
// accepts each transaction. Silent when `enabled` is false (--json) or stderr is no terminal.
class AnchoringProgress : public chain::AnchoringObserver {
  public:
    explicit AnchoringProgress(bool enabled) : enabled_(enabled) {}
    void on_sending(std::size_t analyses) override;
    void on_sent(const std::string& txid, const std::vector<std::int64_t>& ids) override;
    void finish();

  private:
    bool enabled_;
    std::optional<Progress> progress_;
};

}  // namespace medanchor::app
