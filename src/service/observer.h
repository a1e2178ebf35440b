// What the services tell as they work: per image (decoded, analysed, recorded, held for review,
// failed) and per anchoring transaction (sent, confirmed, refused: chain::AnchoringObserver).
// Enough for a terminal progress line, a web UI's live progress (server-sent events) and the
// DICOM listener's per-series state. Every method has an empty default, so an observer overrides
// only what it shows.
//
// Thread safety: AnalysisService calls the per-image methods on the thread that called
// analyze()/analyze_batch() (never from its worker threads), each kind of event in input order
// per call (an image's recorded/failed may come after later images' decoded/analysed: records
// are committed in batches, services.md); several
// concurrent calls (a server) each call their own observer, or a shared one that synchronises
// itself. The anchoring methods come from the thread that runs the anchoring pass. Callbacks
// must be quick and must not call back into the service that calls them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "chain/anchoring_service.h"
#include "common/error.h"
#include "ledger/ledger.h"

namespace medanchor::service {

// Which image of a call an event is about: its position among the call's sources and its name
// as the source gives it (a path, an upload's name), fit to print.
struct ImageRef {
    std::size_t index = 0;
    std::string name;
};

class Observer : public chain::AnchoringObserver {
  public:
    // Decoded and hashed: `image_hash` is "<mode>:<hex>" (hmac-sha256 or sha256).
    virtual void on_decoded(const ImageRef& /*image*/, const std::string& /*image_hash*/) {}
    // Inferred: the finding's code and its calibrated confidence in basis points.
    virtual void on_analysed(const ImageRef& /*image*/, const std::string& /*finding*/,
                             std::uint32_t /*confidence_bp*/) {}
    // Recorded in the ledger (`analysis`: its id, hash, finding, state, report folder and
    // digest) with its report folder placed write-once; or, with already_recorded, found there
    // from an earlier run (or another process): its files are left as they are.
    virtual void on_recorded(const ImageRef& /*image*/, const ledger::Analysis& /*analysis*/,
                             bool /*already_recorded*/) {}
    // Found recorded with its report folder missing (a process killed between the record and
    // placing the folder), and the folder placed again from the recorded report, every file
    // what the first run wrote; heard before on_recorded(..., true) for the same image.
    virtual void on_folder_restored(const ImageRef& /*image*/,
                                    const ledger::Analysis& /*analysis*/) {}
    // Recorded, but held for a person's review and never anchored: `reason` names the threshold.
    virtual void on_needs_review(const ImageRef& /*image*/, std::int64_t /*ledger_id*/,
                                 const std::string& /*reason*/) {}
    // The image could not be analysed; `error` names it and says why (its code is the error
    // table's). The call goes on with the other images.
    virtual void on_failed(const ImageRef& /*image*/, const Error& /*error*/) {}
};

}  // namespace medanchor::service
