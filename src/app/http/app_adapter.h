// The ONE place where `medanchor serve` reaches into src/app's command functions (run_analyze,
// sync_outbox). The service layer (issue 12 part 1: AnalysisService with in-memory image
// sources and an Observer, AnchoringService with start()/stop()) replaces this file when it
// lands; nothing else in src/app/http/ includes src/app/ headers.
//
// Until then an upload is analysed from a file: the bytes are written to a private temporary
// folder (0700, a name the server chose), analysed, and the file is removed at once; the
// ledger, the report folder and its de-identified copy are what stays.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/error.h"

namespace medanchor::http {

struct PipelineSettings {
    std::filesystem::path data_dir;  // ledger.sqlite, reports/, site.key, tmp/, originals/
    std::string model;               // bundle folder; empty: the shipped reference model
    std::string network = "devnet";
    std::string node;
    std::string api;
    std::string contract;
    bool keep_originals = false;
};

class Pipeline {
  public:
    // Loads the model bundle and the site key (made, 0600, in data_dir when missing) and opens
    // the ledger once, so that a broken set-up fails at start, not at the first upload.
    static Result<std::unique_ptr<Pipeline>> open(const PipelineSettings& settings);
    ~Pipeline();

    std::filesystem::path ledger_path() const;

    // Analyses the images of one upload for `analyst` (a Stacks principal) and records each in
    // the ledger as pending (or needs_review), never anchoring: the anchoring loop does that.
    // One result per image, in order: its ledger id, or why it failed (kUnsupported: not
    // DICOM/PNG/JPEG/TIFF; kCorrupt; ...). One run_analyze per upload, because each run loads
    // the model bundle again (seconds on a busy machine).
    std::vector<Result<std::int64_t>> analyze(const std::vector<std::string>& images,
                                              const std::string& analyst);

    // One round of anchoring for the account of this key: settles what was sent, sends what is
    // pending. Does not wait for blocks.
    Status anchor_round(const std::string& key_file);

    // The de-identified image of a report folder (image.deid.dcm), windowed as the model's
    // preprocessing windows it, as an 8-bit grey PNG at the image's own size: the background
    // the web UI lays the saliency map over. kNotFound when the folder has no image.
    Result<std::vector<std::uint8_t>> render_image_png(const std::filesystem::path& report_dir);

  private:
    struct Impl;
    explicit Pipeline(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
};

// The Stacks address of a key file's key on `network` (devnet, testnet, mainnet).
Result<std::string> principal_of_key_file(const std::string& key_file, const std::string& network);

}  // namespace medanchor::http
