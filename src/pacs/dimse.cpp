#include "pacs/dimse.h"

#include <algorithm>
#include <charconv>
#include <cstdio>

namespace medanchor::pacs {

bool store_status_stored(std::uint16_t status) {
    return status == 0x0000 || status == 0x0001 || (status & 0xF000) == 0xB000;
}

std::string describe_store_status(std::uint16_t status) {
    const char* meaning = nullptr;
    switch (status) {
        case 0x0000:
            meaning = "Success";
            break;
        case 0x0001:
            meaning = "Warning: Requested optional attributes are not supported";
            break;
        case 0x0110:
            meaning = "Failure: Processing failure";
            break;
        case 0x0117:
            meaning = "Failure: Invalid SOP Instance";
            break;
        case 0x0122:
            meaning = "Refused: SOP Class not supported";
            break;
        case 0x0124:
            meaning = "Refused: Not authorized";
            break;
        case 0x0210:
            meaning = "Failure: Duplicate invocation";
            break;
        case 0x0211:
            meaning = "Failure: Unrecognized operation";
            break;
        case 0x0212:
            meaning = "Failure: Mistyped argument";
            break;
        case 0x0213:
            meaning = "Failure: Resource limitation";
            break;
        case 0xB000:
            meaning = "Warning: Coercion of Data Elements";
            break;
        case 0xB006:
            meaning = "Warning: Elements Discarded";
            break;
        case 0xB007:
            meaning = "Warning: Data Set does not match SOP Class";
            break;
        default:
            break;
    }
    if (meaning == nullptr) {
        // PS3.4 Table B.2-1: only the high byte (A7xx, A9xx) or nibble (Cxxx) is significant.
        if ((status & 0xFF00) == 0xA700)
            meaning = "Refused: Out of Resources";
        else if ((status & 0xFF00) == 0xA900)
            meaning = "Error: Data Set does not match SOP Class";
        else if ((status & 0xF000) == 0xC000)
            meaning = "Error: Cannot understand";
        else if ((status & 0xF000) == 0xB000)
            meaning = "Warning";
        else
            meaning = "Failure";
    }
    char code[8];
    std::snprintf(code, sizeof code, "0x%04X", static_cast<unsigned>(status));
    return std::string(code) + " (" + meaning + ")";
}

std::string_view trim_ae_title(std::string_view ae_title) {
    while (!ae_title.empty() && ae_title.front() == ' ')
        ae_title.remove_prefix(1);
    while (!ae_title.empty() && ae_title.back() == ' ')
        ae_title.remove_suffix(1);
    return ae_title;
}

bool is_valid_ae_title(std::string_view ae_title) {
    if (ae_title.empty() || ae_title.size() > 16 || trim_ae_title(ae_title).empty())
        return false;
    return std::all_of(ae_title.begin(), ae_title.end(),
                       [](char c) { return c >= 0x20 && c <= 0x7E && c != '\\'; });
}

std::string DicomPeer::to_string() const {
    return ae_title + "@" + host + ":" + std::to_string(port);
}

Result<DicomPeer> parse_dicom_peer(std::string_view text) {
    const auto fail = [&](const std::string& what) {
        std::string message(1, '\'');
        message += text;
        message += "': ";
        message += what;
        message += " (expected AE@HOST:PORT)";
        return Error(ErrorCode::kInvalidArgument, std::move(message));
    };
    const std::size_t at = text.find('@');
    const std::size_t colon = text.rfind(':');
    if (at == std::string_view::npos || colon == std::string_view::npos || colon < at)
        return fail("not of the form AE@HOST:PORT");
    DicomPeer peer;
    peer.ae_title = std::string(text.substr(0, at));
    peer.host = std::string(text.substr(at + 1, colon - at - 1));
    const std::string_view port = text.substr(colon + 1);
    if (!is_valid_ae_title(peer.ae_title) || trim_ae_title(peer.ae_title) != peer.ae_title)
        return fail("the AE title must be 1 to 16 printable characters, no backslash");
    if (peer.host.empty() || peer.host.find_first_of(" /@") != std::string::npos)
        return fail("no host name");
    unsigned value = 0;
    const auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
    if (port.empty() || ec != std::errc() || end != port.data() + port.size() || value == 0 ||
        value > 65535)
        return fail("the port must be a number from 1 to 65535");
    peer.port = static_cast<std::uint16_t>(value);
    return peer;
}

}  // namespace medanchor::pacs
