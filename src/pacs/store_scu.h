// Sending DICOM by C-STORE (and checking a peer with C-ECHO): results going back to a PACS, e.g.
// the analysis' DICOM SR to `--send-to AE@HOST:PORT` (docs/pacs.md). DCMTK stays behind this
// header.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <string_view>

#include "common/error.h"
#include "pacs/dimse.h"

namespace medanchor::pacs {

struct StoreScuOptions {
    std::string calling_ae = "MEDANCHOR";  // ours, as the peer sees it
    // TCP connect. DCMTK 3.6.7 keeps this one setting process-wide (dcmConnectionTimeout): the
    // last StoreScu to connect sets it for all.
    std::chrono::seconds connect_timeout{10};
    std::chrono::seconds acse_timeout{30};   // the association's request and release
    std::chrono::seconds dimse_timeout{60};  // each message: a peer silent this long is dropped
    std::uint32_t max_pdu_bytes = 65536;     // the largest PDU we receive (4096 to 131072)
};

// What a peer answered to a stored instance.
struct StoreReceipt {
    std::uint16_t status = 0;  // 0x0000, or a warning (store_status_stored() holds)
    std::string sop_instance_uid;
};

// Thread safety: a StoreScu may be used from several threads at once; each call opens an
// association of its own.
class StoreScu {
  public:
    StoreScu(DicomPeer peer, StoreScuOptions options = {});

    // Sends one instance, a DICOM Part 10 file in memory (`name` stands for it in messages), in
    // an association of its own. The instance goes through the image layer's structural gate
    // first (kCorrupt). It is offered in its own transfer syntax and, when uncompressed, in
    // explicit and implicit VR little endian too (converted if the peer takes only those);
    // compressed data is never transcoded. Ok when the peer stored it (success or a warning).
    // Errors name the peer (AE@HOST:PORT): kNetwork (no connection, the association rejected —
    // DcmSCU does not say whether transiently —, or 0xA7xx Out of Resources), kTimeout, kRejected
    // (another failure status, with its code and meaning), kUnsupported (the peer accepts
    // neither the SOP class nor the transfer syntax).
    Result<StoreReceipt> store(std::span<const std::uint8_t> part10, std::string_view name);
    // store() of a file of at most max_bytes (common/file_io.h read_regular_file).
    Result<StoreReceipt> store_file(const std::filesystem::path& path,
                                    std::size_t max_bytes = std::size_t{2} << 30);

    // C-ECHO: Ok when the peer answers success. Same errors as store().
    Status echo();

    const DicomPeer& peer() const { return peer_; }

  private:
    DicomPeer peer_;
    StoreScuOptions options_;
};

}  // namespace medanchor::pacs
