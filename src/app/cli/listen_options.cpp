#include "app/cli/listen_options.h"

#include <CLI/CLI.hpp>

#include "app/cli/config.h"

namespace medanchor::app {

namespace {

std::chrono::milliseconds seconds(double s) {
    return std::chrono::milliseconds(static_cast<std::int64_t>(s * 1000));
}

}  // namespace

void add_listener_options(CLI::App* cmd, ListenerFlags& f) {
    const std::size_t before = cmd->get_options().size();
    cmd->add_option("--ae-title", f.ae_title, "our AE title")->capture_default_str();
    cmd->add_option("--allow-ae", f.allow_ae,
                    "calling AE title accepted (repeatable; default: any)");
    cmd->add_option("--max-pdu", f.max_pdu, "largest PDU received, bytes")
        ->check(CLI::Range(4096u, 131072u))
        ->capture_default_str();
    cmd->add_option("--max-object-mb", f.max_object_mb, "largest instance accepted, MiB")
        ->check(CLI::Range(std::size_t{1}, std::size_t{4096}))
        ->capture_default_str();
    cmd->add_option("--workers", f.workers, "associations served at once")
        ->check(CLI::Range(1u, 64u))
        ->capture_default_str();
    cmd->add_option("--stable-after", f.stable_after,
                    "seconds without a new instance before a series is analysed")
        ->check(CLI::Range(0.0, 86400.0))
        ->capture_default_str();
    cmd->add_flag("--per-instance", f.per_instance,
                  "analyse each instance at once (the series' SR is written again each time)");
    cmd->add_option("--send-to", f.send_to, "AE@HOST:PORT to C-STORE each SR to (repeatable)");
    cmd->add_option("--stow", f.stow, "DICOMweb root to STOW-RS each SR to (repeatable)");
    cmd->add_option("--fhir", f.fhir, "FHIR endpoint to POST each image's bundle to (repeatable)");
    if (cmd->get_option_no_throw("--keep-originals") == nullptr) {
        cmd->add_flag("--keep-originals", f.keep_originals,
                      "keep each instance as received (DATA/originals/, identified); off: never "
                      "stored");
    }
    cmd->add_flag("--reference-originals", f.reference_originals,
                  "the SR cites the original instances (their UIDs kept only in the ledger)");
    cmd->add_option("--retry-after", f.retry_after,
                    "seconds before a failed send is tried again (doubled each time, at most 60)")
        ->check(CLI::Range(0.1, 3600.0))
        ->capture_default_str();
    // One group: in `serve` they are read from the configuration file's [listen] table too.
    const auto options = cmd->get_options();
    for (std::size_t i = before; i < options.size(); ++i)
        options[i]->group(kListenerOptionGroup);
}

Result<dicom::ListenOptions> listen_options(const ListenerFlags& f) {
    dicom::ListenOptions o;
    for (const auto& text : f.send_to) {
        auto peer = pacs::parse_dicom_peer(text);
        if (!peer)
            return Error(ErrorCode::kInvalidArgument, "--send-to: " + peer.error().message());
        o.send_to.push_back(*peer);
    }
    o.stow = f.stow;
    o.fhir = f.fhir;
    o.scp.ae_title = f.ae_title;
    o.scp.bind_address = "127.0.0.1";
    o.scp.port = 11112;
    o.scp.allowed_calling_aes = f.allow_ae;
    o.scp.max_pdu_bytes = f.max_pdu;
    o.scp.max_object_bytes = f.max_object_mb << 20;
    o.scp.worker_threads = f.workers;
    o.stable_after = seconds(f.stable_after);
    o.per_instance = f.per_instance;
    o.keep_originals = f.keep_originals;
    o.reference_originals = f.reference_originals;
    o.retry_first = seconds(f.retry_after);
    return o;
}

}  // namespace medanchor::app
