#include "app/cli/progress.h"

#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <iostream>

namespace medanchor::app {

Progress::Progress(std::size_t total, std::string label)
    : total_(total),
      label_(std::move(label)),
      enabled_(total > 1 && ::isatty(STDERR_FILENO) == 1),
      start_(std::chrono::steady_clock::now()) {}

Progress::~Progress() {
    finish();
}

void Progress::tick(std::size_t n) {
    std::lock_guard lock(mutex_);
    done_ += n;
    const auto now = std::chrono::steady_clock::now();
    // At most ten redraws a second, and always the last one.
    if (enabled_ && !finished_ &&
        (done_ >= total_ || now - last_draw_ > std::chrono::milliseconds(100))) {
        last_draw_ = now;
        draw_locked();
    }
}

void Progress::clear_line() {
    std::lock_guard lock(mutex_);
    if (enabled_ && !finished_)
        std::cerr << "\r\033[K" << std::flush;
    last_draw_ = {};
}

void Progress::finish() {
    std::lock_guard lock(mutex_);
    if (enabled_ && !finished_)
        std::cerr << "\r\033[K" << std::flush;
    finished_ = true;
}

std::size_t Progress::done() const {
    std::lock_guard lock(mutex_);
    return done_;
}

double Progress::elapsed_seconds() const {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
}

std::string Progress::format(std::size_t done, std::size_t total, const std::string& label,
                             double elapsed) {
    char buffer[160];
    const double rate = elapsed > 0 ? static_cast<double>(done) / elapsed : 0.0;
    std::string eta = "--:--";
    if (rate > 0 && done <= total) {
        const auto left =
            static_cast<long long>(std::ceil(static_cast<double>(total - done) / rate));
        std::snprintf(buffer, sizeof buffer, "%lld:%02lld", left / 60, left % 60);
        eta = buffer;
    }
    std::snprintf(buffer, sizeof buffer, "%zu/%zu %s  %.1f/s  ETA %s", done, total, label.c_str(),
                  rate, eta.c_str());
    return buffer;
}

void Progress::draw_locked() {
    std::cerr << "\r\033[K" << format(done_, total_, label_, elapsed_seconds()) << std::flush;
}

void AnchoringProgress::on_sending(std::size_t analyses) {
    progress_.reset();  // one round's line at a time
    progress_.emplace(enabled_ ? analyses : 0, "analyses anchored");
}

void AnchoringProgress::on_sent(const std::string& /*txid*/, const std::vector<std::int64_t>& ids) {
    if (progress_)
        progress_->tick(ids.size());
}

void AnchoringProgress::finish() {
    if (progress_)
        progress_->finish();
}

}  // namespace medanchor::app
