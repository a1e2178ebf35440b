#include "app/dicom/metrics.h"

#include "common/prometheus.h"
#include "ledger/pacs_store.h"

namespace medanchor::dicom {

std::string metrics_text(const ListenStats& s, const std::filesystem::path& ledger_path) {
    std::string out;
    const auto metric = [&](const char* name, const char* type, const char* help,
                            std::uint64_t value) {
        append_metric(out, name, type, help, static_cast<double>(value));
    };
    metric("medanchor_listen_instances_received_total", "counter",
           "Instances stored in the spool and answered Success.", s.instances_received);
    metric("medanchor_listen_instances_refused_total", "counter",
           "Instances answered with a failure status.", s.instances_refused);
    metric("medanchor_listen_instances_duplicate_total", "counter",
           "Instances already recorded, answered Success and not kept again.",
           s.instances_duplicate);
    metric("medanchor_listen_images_analysed_total", "counter", "Images analysed.",
           s.images_analysed);
    metric("medanchor_listen_images_failed_total", "counter", "Images that could not be analysed.",
           s.images_failed);
    metric("medanchor_listen_series_analysed_total", "counter", "Series SRs written.",
           s.series_analysed);
    metric("medanchor_listen_sends_total", "counter", "Results a destination took.", s.sends_ok);
    metric("medanchor_listen_sends_failed_total", "counter",
           "Failed send attempts (retried unless given up).", s.sends_failed);
    metric("medanchor_listen_sends_dead_total", "counter",
           "Sends given up by this run (state failed).", s.sends_dead);
    metric("medanchor_listen_instances_fetch_failed_total", "counter",
           "Instances a followed feed could not give for good (recorded, skipped).",
           s.instances_fetch_failed);
    if (auto store = ledger::PacsStore::open(ledger_path); store) {
        if (auto sends = store->sends(); sends) {
            std::uint64_t pending = 0, dead = 0;
            for (const auto& send : *sends) {
                pending += send.state == ledger::SendState::kPending ? 1 : 0;
                dead += send.state == ledger::SendState::kFailed ? 1 : 0;
            }
            metric("medanchor_listen_sends_pending", "gauge",
                   "Results queued and not yet taken by their destination.", pending);
            metric("medanchor_listen_sends_dead", "gauge",
                   "Results given up (state failed) until --retry-failed-sends.", dead);
        }
    }
    return out;
}

}  // namespace medanchor::dicom
