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
    int port = -1;  // -1: 11112, or none in Orthanc mode
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
    o.retry_failed_sends = r.retry_failed_sends;

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
    auto listener =
        dicom::Listener::start(std::move(o), *setup->site_key, *setup->service, anchoring.get());
    if (!listener)
        return listener.error();
    std::unique_ptr<MetricsEndpoint> metrics;
    if (!r.metrics.empty()) {
        auto* raw = listener->get();
        auto started =
            MetricsEndpoint::start("--metrics", r.metrics, [raw, ledger_path = setup->ledger_path] {
                return listen_metrics(raw->stats(), ledger_path);
            });
        if (!started) {
            (*listener)->stop();
            if (anchoring)
                anchoring->stop();
            return started.error();
        }
        metrics = std::move(*started);
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
        "Receive images from a PACS (C-STORE or Orthanc's /changes), analyse each series, send "
        "the SR back (docs/pacs.md)");
    cmd->add_option("--data", r->data,
                    "state folder: spool of de-identified instances, series SRs, reports "
                    "(default $MEDANCHOR_DATA or ~/.medanchor/listen)");
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
