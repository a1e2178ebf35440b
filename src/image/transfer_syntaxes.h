// The DICOM transfer syntaxes the image layer decodes, as one list: whatever else must agree with
// the decoder (the DICOM listener in src/pacs accepts exactly these) reads it from here.
#pragma once

#include <span>

namespace medanchor::image {

// Transfer syntax UIDs decode_dicom() reads, in no particular order (dicom_gate.cpp).
std::span<const char* const> decodable_transfer_syntaxes();

}  // namespace medanchor::image
