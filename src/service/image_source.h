// Where an image to analyse comes from: a file, bytes in memory (an upload), or a DICOM instance
// received from a PACS (C-STORE, DICOMweb). The services read every source the same way — decode
// once, de-identify from the same bytes — so a server never writes an identified image to disk.
// Thread safety: an ImageSource is immutable after construction; share it freely.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "common/error.h"
#include "image/deid.h"
#include "image/image.h"

namespace medanchor::service {

class ImageSource {
  public:
    enum class Kind { kFile, kBytes, kPacsInstance };

    // A local file, read when decoded (not now).
    static ImageSource file(std::filesystem::path path);
    // Bytes in memory, e.g. an HTTP upload. `name` names them in messages and events (a client's
    // file name, escaped by whoever shows it); it is never written into reports or the chain.
    static ImageSource bytes(std::vector<std::uint8_t> data, std::string name);
    // An instance received from a PACS. `name` as for bytes(), e.g. "<calling AE>/<n>"; never a
    // patient identifier.
    static ImageSource pacs_instance(std::vector<std::uint8_t> data, std::string name);
    // An instance received from a PACS and already de-identified under this site's key (the
    // listener's spool, docs/pacs.md): analysed as it is, its bytes the report's de-identified
    // copy, its UIDs cited as they are — de-identifying it again would remap them a second
    // time, and the report would cite UIDs the spool, the ledger and the sender's records do
    // not know. REQUIRES: `data` is the output of image::deidentify_in_memory with this key.
    static ImageSource deidentified_pacs_instance(std::vector<std::uint8_t> data, std::string name);
    // A file of a spool on shared storage, de-identified already under this site's key (a job
    // `medanchor listen` or `serve` queued on a PostgreSQL ledger, read by a worker): a file, read
    // when decoded, analysed as deidentified_pacs_instance is. REQUIRES: as for that one.
    static ImageSource deidentified_file(std::filesystem::path path);

    Kind kind() const { return kind_; }
    // Whether the bytes are de-identified already (deidentified_pacs_instance).
    bool deidentified() const { return deidentified_; }
    const std::string& name() const { return name_; }
    // The file for kFile; nullopt for the others.
    const std::optional<std::filesystem::path>& path() const { return path_; }

    // The source's bytes: read (bounded by `limits.max_file_bytes`) for a file, shared otherwise.
    // Errors name the source.
    Result<std::shared_ptr<const std::vector<std::uint8_t>>> load(
        const image::DecodeLimits& limits = {}) const;

  private:
    ImageSource(Kind kind, std::string name, std::optional<std::filesystem::path> path,
                std::shared_ptr<const std::vector<std::uint8_t>> data)
        : kind_(kind), name_(std::move(name)), path_(std::move(path)), data_(std::move(data)) {}

    Kind kind_;
    std::string name_;
    std::optional<std::filesystem::path> path_;
    std::shared_ptr<const std::vector<std::uint8_t>> data_;
    bool deidentified_ = false;
};

}  // namespace medanchor::service
