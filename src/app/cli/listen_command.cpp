#include "app/cli/listen_command.h"

#include <httplib.h>
#include <pthread.h>
#include <signal.h>

#include <CLI/CLI.hpp>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <optional>
#include <thread>

#include "app/cli/analyze_command.h"
#include "app/cli/chain_options.h"
#include "app/dicom/listener.h"
#include "app/http/server.h"
#include "chain/anchoring_service.h"
#include "inference/model_bundle.h"
#include "ledger/ledger.h"
#include "ledger/pacs_store.h"

namespace medanchor::app {
namespace fs = std::filesystem;

namespace {

struct ListenRequest {
    AnalyzeRequest analysis;  // model, reports, site key, ledger, analyst, chain, anchoring
    std::string data;
    std::string ae_title = "MEDANCHOR";
    int port = -1;  // -1: 11112, or none in Orthanc mode
    std::string bind = "127.0.0.1";
    std::vector<std::string> allow_ae;
    std::uint32_t max_pdu = 65536;
    std::size_t max_object_mb = 512;
    unsigned workers = 4;
    double stable_after = 5;
    bool per_instance = false;
    std::vector<std::string> send_to;
    std::vector<std::string> stow;
    std::vector<std::string> fhir;
    bool keep_originals = false;
    bool reference_originals = false;
    bool retry_failed_sends = false;
    std::string orthanc;
    double retry_first = 1;
    std::string metrics;  // ADDR:PORT of the Prometheus text endpoint; empty: none
};

// The Prometheus text exposition of the listener's counters, the send queue and the anchoring
// lag (docs/pacs.md, "Observability").
std::string metrics_text(const dicom::ListenStats& s, const fs::path& ledger_path) {
    std::string out;
    const auto metric = [&](const char* name, const char* type, const char* help,
                            std::uint64_t value) {
        out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " " + type + "\n" +
               name + " " + std::to_string(value) + "\n";
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
    if (auto ledger = ledger::Ledger::open(ledger_path); ledger) {
        if (auto lag = ledger::anchoring_lag_seconds(*ledger); lag)
            metric("medanchor_anchoring_lag_seconds", "gauge",
                   "Age of the oldest analysis not yet confirmed.",
                   static_cast<std::uint64_t>(*lag));
    }
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

// $MEDANCHOR_DATA, else ~/.medanchor/listen.
fs::path default_data_dir() {
    if (const char* env = std::getenv("MEDANCHOR_DATA"); env != nullptr && *env != '\0')
        return env;
    const char* home = std::getenv("HOME");
    return fs::path(home != nullptr ? home : ".") / ".medanchor" / "listen";
}

std::chrono::milliseconds seconds(double s) {
    return std::chrono::milliseconds(static_cast<std::int64_t>(s * 1000));
}

Status run_listen(ListenRequest r) {
    const fs::path data = r.data.empty() ? default_data_dir() : fs::path(r.data);
    if (auto s = dicom::check_data_folder(data); !s)  // before the reports folder is made in it
        return s;
    if (r.analysis.out.empty())
        r.analysis.out = (data / "reports").string();
    auto bundle = inference::load_model_bundle(
        r.analysis.model.empty() ? default_model_dir() : fs::path(r.analysis.model));
    if (!bundle)
        return bundle.error();
    dicom::ListenOptions o;
    for (const auto& text : r.send_to) {
        auto peer = pacs::parse_dicom_peer(text);
        if (!peer)
            return Error(ErrorCode::kInvalidArgument, "--send-to: " + peer.error().message());
        o.send_to.push_back(*peer);
    }
    o.stow = r.stow;
    o.fhir = r.fhir;
    o.orthanc = r.orthanc;
    while (!o.orthanc.empty() && o.orthanc.back() == '/')
        o.orthanc.pop_back();
    o.listen_dimse = r.orthanc.empty() || r.port >= 0;
    o.scp.ae_title = r.ae_title;
    o.scp.bind_address = r.bind;
    o.scp.port = static_cast<std::uint16_t>(r.port >= 0 ? r.port : 11112);
    o.scp.allowed_calling_aes = r.allow_ae;
    o.scp.max_pdu_bytes = r.max_pdu;
    o.scp.max_object_bytes = r.max_object_mb << 20;
    o.scp.worker_threads = r.workers;
    o.stable_after = seconds(r.stable_after);
    o.per_instance = r.per_instance;
    o.keep_originals = r.keep_originals;
    o.reference_originals = r.reference_originals;
    o.retry_failed_sends = r.retry_failed_sends;
    o.retry_first = seconds(r.retry_first);
    o.data_dir = data;

    auto setup = prepare_analysis(r.analysis, std::move(*bundle));
    if (!setup)
        return setup.error();
    o.ledger_path = setup->ledger_path;
    o.analysis = setup->options;
    if (setup->chain_down)
        std::cerr << "medanchor listen: the chain cannot be reached (" << *setup->chain_down
                  << "); analyses are recorded and anchored once it can\n";

    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, nullptr);

    std::unique_ptr<chain::AnchoringService> anchoring;
    if (r.analysis.anchor && setup->session) {
        auto outbox = outbox_options(r.analysis.anchoring);
        if (!outbox)
            return outbox.error();
        chain::AnchoringService::Options options;
        options.outbox = *outbox;
        options.outbox.wait = false;  // the settle interval follows what was sent
        options.settle_interval = std::chrono::seconds(2);
        auto service =
            chain::AnchoringService::open(o.ledger_path, std::move(*setup->session), options);
        if (!service)
            return service.error();
        anchoring = std::move(*service);
        anchoring->start();
    }
    std::optional<std::pair<std::string, int>> metrics_at;
    if (!r.metrics.empty()) {
        auto where = http::parse_listen(r.metrics);
        if (!where)
            return Error(ErrorCode::kInvalidArgument, "--metrics: " + where.error().message());
        metrics_at = *where;
    }
    auto listener =
        dicom::Listener::start(std::move(o), *setup->site_key, *setup->service, anchoring.get());
    if (!listener)
        return listener.error();
    httplib::Server metrics;
    std::thread metrics_thread;
    if (metrics_at) {
        auto* raw = listener->get();
        const fs::path ledger_path = setup->ledger_path;
        metrics.Get("/metrics", [raw, ledger_path](const httplib::Request&,
                                                   httplib::Response& res) {
            res.set_content(metrics_text(raw->stats(), ledger_path), "text/plain; version=0.0.4");
        });
        const int port = metrics.bind_to_port(metrics_at->first, metrics_at->second);
        if (port < 0)
            return Error(ErrorCode::kInvalidArgument, "--metrics: cannot listen on " + r.metrics +
                                                          " (taken, or not an address "
                                                          "of this machine)");
        metrics_thread = std::thread([&metrics] { metrics.listen_after_bind(); });
    }
    std::cout << "medanchor listen: ";
    if ((*listener)->port() != 0)
        std::cout << "DICOM " << r.ae_title << "@" << r.bind << ":" << (*listener)->port();
    if (!r.orthanc.empty())
        std::cout << ((*listener)->port() != 0 ? "; " : "") << "following " << r.orthanc
                  << "/changes";
    std::cout << std::endl;
    int sig = 0;
    sigwait(&set, &sig);
    std::cerr << "medanchor listen: stopping (signal " << sig
              << "); what is spooled or queued waits for the next start\n";
    if (metrics_thread.joinable()) {
        metrics.stop();
        metrics_thread.join();
    }
    (*listener)->stop();
    if (anchoring)
        anchoring->stop();
    const auto s = (*listener)->stats();
    std::cerr << "medanchor listen: stopped; " << s.instances_received << " instance(s) received, "
              << s.images_analysed << " analysed, " << s.series_analysed << " series SR(s), "
              << s.sends_ok << " sent, " << s.sends_dead << " given up\n";
    return Status::Ok();
}

}  // namespace

void add_listen_command(CLI::App& app, CommandAction& action) {
    auto r = std::make_shared<ListenRequest>();
    auto* cmd = app.add_subcommand(
        "listen",
        "Receive images from a PACS (C-STORE or Orthanc's /changes), analyse each series, send "
        "the SR back (docs/pacs.md)");
    cmd->add_option("--data", r->data,
                    "state folder: spool of de-identified instances, series SRs, reports "
                    "(default $MEDANCHOR_DATA or ~/.medanchor/listen)");
    cmd->add_option("--ae-title", r->ae_title, "our AE title")->capture_default_str();
    cmd->add_option("--port", r->port,
                    "DICOM port (default 11112; 0: any free one; in Orthanc mode none unless set)")
        ->check(CLI::Range(0, 65535));
    cmd->add_option("--bind", r->bind, "IPv4 address to listen on")->capture_default_str();
    cmd->add_option("--allow-ae", r->allow_ae,
                    "calling AE title accepted (repeatable; default: any)");
    cmd->add_option("--max-pdu", r->max_pdu, "largest PDU received, bytes")
        ->check(CLI::Range(4096u, 131072u))
        ->capture_default_str();
    cmd->add_option("--max-object-mb", r->max_object_mb, "largest instance accepted, MiB")
        ->check(CLI::Range(std::size_t{1}, std::size_t{4096}))
        ->capture_default_str();
    cmd->add_option("--workers", r->workers, "associations served at once")
        ->check(CLI::Range(1u, 64u))
        ->capture_default_str();
    cmd->add_option("--stable-after", r->stable_after,
                    "seconds without a new instance before a series is analysed")
        ->check(CLI::Range(0.0, 86400.0))
        ->capture_default_str();
    cmd->add_flag("--per-instance", r->per_instance,
                  "analyse each instance at once (the series' SR is written again each time)");
    cmd->add_option("--send-to", r->send_to, "AE@HOST:PORT to C-STORE each SR to (repeatable)");
    cmd->add_option("--stow", r->stow, "DICOMweb root to STOW-RS each SR to (repeatable)");
    cmd->add_option("--fhir", r->fhir, "FHIR endpoint to POST each image's bundle to (repeatable)");
    cmd->add_flag("--keep-originals", r->keep_originals,
                  "keep each instance as received (DATA/originals/, identified); off: never "
                  "stored");
    cmd->add_flag("--reference-originals", r->reference_originals,
                  "the SR cites the original instances (their UIDs kept only in the ledger)");
    cmd->add_flag("--retry-failed-sends", r->retry_failed_sends,
                  "at start, queue again every send given up as failed (a dead letter)");
    cmd->add_option("--orthanc", r->orthanc,
                    "Orthanc's REST root: follow /changes, analyse each stable series, upload the "
                    "SR back");
    cmd->add_option("--metrics", r->metrics,
                    "ADDR:PORT to serve Prometheus counters at /metrics (default: none)");
    cmd->add_option("--retry-after", r->retry_first,
                    "seconds before a failed send is tried again (doubled each time, at most 60)")
        ->check(CLI::Range(0.1, 3600.0))
        ->capture_default_str();
    auto& a = r->analysis;
    cmd->add_option("--model", a.model,
                    "model bundle folder (default: the shipped models/ct-nodule-sim)");
    cmd->add_option("--out", a.out, "reports folder (default DATA/reports)");
    add_analysis_options(cmd, a);
    a.batch = 1;
    add_chain_options(cmd, a.chain);
    add_anchor_options(cmd, a.anchoring, /*root_every=*/true);
    cmd->callback([&action, r] { action = [r] { return run_listen(*r); }; });
}

}  // namespace medanchor::app
