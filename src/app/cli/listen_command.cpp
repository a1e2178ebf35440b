#include "app/cli/listen_command.h"

#include <pthread.h>
#include <signal.h>

#include <CLI/CLI.hpp>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <optional>

#include "app/cli/analyze_command.h"
#include "app/cli/chain_options.h"
#include "app/cli/listen_options.h"
#include "app/cli/metrics_endpoint.h"
#include "app/dicom/listener.h"
#include "app/dicom/metrics.h"
#include "chain/anchoring_service.h"
#include "inference/model_bundle.h"
#include "ledger/ledger.h"

namespace medanchor::app {
namespace fs = std::filesystem;

namespace {

struct ListenRequest {
    AnalyzeRequest analysis;  // model, reports, site key, ledger, analyst, chain, anchoring
    ListenerFlags listener;   // shared with `serve --listen-dicom`
    bool retry_failed_sends = false;
    std::string data;
    std::string spool;  // empty: DATA/spool
    int port = -1;      // -1: 11112, or none in Orthanc mode
    std::string bind = "127.0.0.1";
    std::string orthanc;
    std::string metrics;  // ADDR:PORT of the Prometheus text endpoint; empty: none
};

// The listener's counters, the send queue and the anchoring lag (docs/pacs.md, "Observability").
std::string listen_metrics(const dicom::ListenStats& s, const fs::path& ledger_path) {
    std::string out = dicom::metrics_text(s, ledger_path);
    if (auto ledger = ledger::Ledger::open(ledger_path); ledger) {
        if (auto lag = ledger::anchoring_lag_seconds(*ledger); lag) {
            out +=
                "# HELP medanchor_anchoring_lag_seconds Age of the oldest analysis not yet "
                "confirmed.\n# TYPE medanchor_anchoring_lag_seconds gauge\n"
                "medanchor_anchoring_lag_seconds ";
            out += std::to_string(*lag);
            out += '\n';
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

Status run_listen(ListenRequest r) {
    // SIGTERM and SIGINT are taken by sigwait() below, never by a handler: blocked before any
    // thread starts (the metrics endpoint's first), which inherits the mask.
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, nullptr);
    // --metrics first: a bad or busy address is refused before any folder, ledger row or port
    // is made; it answers 503 until the listener it reports on runs.
    std::unique_ptr<MetricsEndpoint> metrics;
    if (!r.metrics.empty()) {
        auto started = MetricsEndpoint::start("--metrics", r.metrics);
        if (!started)
            return started.error();
        metrics = std::move(*started);
    }
    const fs::path data = r.data.empty() ? default_data_dir() : fs::path(r.data);
    if (auto s = dicom::check_data_folder(data); !s)  // before the reports folder is made in it
        return s;
    if (r.analysis.out.empty())
        r.analysis.out = (data / "reports").string();
    auto bundle = inference::load_model_bundle(
        r.analysis.model.empty() ? default_model_dir() : fs::path(r.analysis.model));
    if (!bundle)
        return bundle.error();
    auto listen = listen_options(r.listener);
    if (!listen)
        return listen.error();
    dicom::ListenOptions o = std::move(*listen);
    o.orthanc = r.orthanc;
    while (!o.orthanc.empty() && o.orthanc.back() == '/')
        o.orthanc.pop_back();
    o.listen_dimse = r.orthanc.empty() || r.port >= 0;
    o.scp.bind_address = r.bind;
    if (r.port >= 0)
        o.scp.port = static_cast<std::uint16_t>(r.port);
    o.data_dir = data;
    o.spool_dir = r.spool;
    o.retry_failed_sends = r.retry_failed_sends;

    // On a PostgreSQL ledger the workers analyse and `medanchor anchorer` anchors (docs/scale.md,
    // "listen"): the listener records nothing itself, so it asks the chain for nothing and
    // starts no anchoring writer of its own on that ledger.
    const bool queued = ledger::is_postgres_location(
        r.analysis.ledger.empty() ? ledger::Ledger::default_path().native() : r.analysis.ledger);
    if (queued)
        r.analysis.anchor = false;
    auto setup = prepare_analysis(r.analysis, std::move(*bundle));
    if (!setup)
        return setup.error();
    o.ledger_path = setup->ledger_path;
    o.analysis = setup->options;
    std::error_code abs;
    if (queued)
        std::cerr
            << "medanchor listen: PostgreSQL ledger: each stable series is queued for "
               "`medanchor worker`s (model "
            << setup->service->bundle().manifest.model_sha256.substr(0, 12) << ", analyst "
            << o.analysis.analyst
            << "); anchoring is `medanchor anchorer`'s; spool (read by the workers): "
            << fs::absolute(r.spool.empty() ? data / "spool" : fs::path(r.spool), abs).string()
            << "\n";
    if (setup->chain_down)
        std::cerr << "medanchor listen: the chain cannot be reached (" << *setup->chain_down
                  << "); analyses are recorded and anchored once it can\n";

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
    auto listener =
        dicom::Listener::start(std::move(o), *setup->site_key, *setup->service, anchoring.get());
    if (!listener)
        return listener.error();
    if (metrics) {  // reset below before the listener stops
        metrics->answer_with([raw = listener->get(), ledger_path = setup->ledger_path] {
            return listen_metrics(raw->stats(), ledger_path);
        });
    }
    std::cout << "medanchor listen: ";
    if ((*listener)->port() != 0)
        std::cout << "DICOM " << r.listener.ae_title << "@" << r.bind << ":" << (*listener)->port();
    if (!r.orthanc.empty())
        std::cout << ((*listener)->port() != 0 ? "; " : "") << "following " << r.orthanc
                  << "/changes";
    std::cout << std::endl;
    int sig = 0;
    sigwait(&set, &sig);
    std::cerr << "medanchor listen: stopping (signal " << sig
              << "); what is spooled or queued waits for the next start\n";
    metrics.reset();
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
        "Receive images from a PACS (C-STORE or Orthanc's /changes), analyse each series (with a "
        "PostgreSQL --ledger: queue it for `medanchor worker`s), send the SR back (docs/pacs.md)");
    cmd->add_option("--data", r->data,
                    "state folder: spool of de-identified instances, series SRs, reports "
                    "(default $MEDANCHOR_DATA or ~/.medanchor/listen)");
    cmd->add_option("--spool", r->spool,
                    "folder of the de-identified instances waiting for analysis (default "
                    "DATA/spool); with a PostgreSQL ledger, on storage every worker reaches at "
                    "the same absolute path");
    cmd->add_option("--port", r->port,
                    "DICOM port (default 11112; 0: any free one; in Orthanc mode none unless set)")
        ->check(CLI::Range(0, 65535));
    cmd->add_option("--bind", r->bind, "IPv4 address to listen on")->capture_default_str();
    add_listener_options(cmd, r->listener);
    cmd->add_flag("--retry-failed-sends", r->retry_failed_sends,
                  "at start, queue again every send given up as failed (a dead letter)");
    cmd->add_option("--orthanc", r->orthanc,
                    "Orthanc's REST root: follow /changes, analyse each stable series, upload the "
                    "SR back");
    cmd->add_option("--metrics", r->metrics,
                    "ADDR:PORT to serve Prometheus counters at /metrics (default: none)");
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
