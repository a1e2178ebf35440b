// The DICOM listener's options, declared once for the two commands that run it: `medanchor
// listen` and `medanchor serve --listen-dicom` (docs/pacs.md, "Options"). add_listener_options()
// adds them to a command; listen_options() turns what was given into dicom::ListenOptions.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "app/dicom/listener.h"
#include "common/error.h"

namespace CLI {
class App;
}

namespace medanchor::app {

// As given on the command line (or the configuration file); defaults are the listener's.
struct ListenerFlags {
    std::string ae_title = "MEDANCHOR";
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
    double retry_after = 1;
};

// --ae-title, --allow-ae, --max-pdu, --max-object-mb, --workers, --stable-after,
// --per-instance, --send-to, --stow, --fhir, --reference-originals, --retry-after and
// --keep-originals (unless `cmd` already has that flag: `serve` keeps uploads and received
// instances alike). Ranges are checked by CLI11 (exit code 2).
void add_listener_options(CLI::App* cmd, ListenerFlags& flags);

// The listener's options from the flags: SCP settings (bound to 127.0.0.1 on port 11112 until
// the caller says otherwise), series assembly, destinations. The caller sets data_dir,
// ledger_path, analysis, and the port, bind address and Orthanc mode it offers.
// kInvalidArgument naming the option for a --send-to that is not AE@HOST:PORT.
Result<dicom::ListenOptions> listen_options(const ListenerFlags& flags);

}  // namespace medanchor::app
