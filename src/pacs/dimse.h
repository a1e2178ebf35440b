// DICOM network vocabulary shared by the listener and the sender: the C-STORE statuses medanchor
// answers and understands (PS3.4 Table B.2-1, PS3.7 Annex C), and application entities.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/error.h"

namespace medanchor::pacs {

// The statuses StoreScp answers a C-STORE with.
enum class StoreStatus : std::uint16_t {
    kSuccess = 0x0000,
    // Refused: Out of Resources. The data set is over max_object_bytes, or the handler cannot
    // take it now (the sender may try again later).
    kOutOfResources = 0xA700,
    // Error: Data Set does not match SOP Class. Its SOP Class or Instance UID is not the one the
    // C-STORE request announced.
    kDataSetMismatch = 0xA900,
    // Error: Cannot understand. The data set does not parse, or lacks a Study, Series or SOP
    // Instance UID.
    kCannotUnderstand = 0xC000,
    // Failure: Processing failure. The handler failed (medanchor's fault, not the sender's).
    kProcessingFailure = 0x0110,
};

// Whether a C-STORE response status means the peer kept the instance: success, or a warning
// (0x0001, 0xB000-0xBFFF). Everything else is a failure.
bool store_status_stored(std::uint16_t status);

// "0xA700 (Refused: Out of Resources)": the code and its PS3.4/PS3.7 meaning, for messages.
std::string describe_store_status(std::uint16_t status);

// PS3.5 Table 6.2-1, AE: 1 to 16 characters of the default repertoire without backslash or
// control characters, not all spaces. Leading and trailing spaces are not significant (callers
// compare trimmed titles); AE titles are case-sensitive.
bool is_valid_ae_title(std::string_view ae_title);
std::string_view trim_ae_title(std::string_view ae_title);

// Where to send by DICOM: "AE@HOST:PORT", e.g. "ORTHANC@pacs.example.org:4242".
struct DicomPeer {
    std::string ae_title;
    std::string host;
    std::uint16_t port = 0;

    std::string to_string() const;  // AE@HOST:PORT
};

// kInvalidArgument, naming the text and the part that is wrong.
Result<DicomPeer> parse_dicom_peer(std::string_view text);

}  // namespace medanchor::pacs
