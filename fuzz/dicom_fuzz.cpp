// libFuzzer target for the DICOM path: bytes -> DCMTK gate -> GDCM decode -> canonical hash.
// Every input must come back as an Image or an Error; a crash, an assertion, a sanitizer report
// or an allocation over -malloc_limit_mb is a finding. Build with -DMEDANCHOR_FUZZ=ON (clang),
// run e.g.:  build-fuzz/fuzz/medanchor_fuzz_dicom -max_total_time=300 -malloc_limit_mb=1024 \
//                corpus/ seeds/
#include <cstddef>
#include <cstdint>
#include <span>

#include "image/image_hash.h"
#include "image/reader.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace medanchor::image;
    // Tighter bounds than the CLI's so a claim of a big image is refused before it allocates
    // memory the fuzzer counts against -malloc_limit_mb.
    DecodeLimits limits;
    limits.max_pixel_bytes = 64u << 20;
    limits.max_frames = 1000;
    // DICOM Part 10 needs "DICM" at offset 128; give every input a chance at the DICOM path.
    std::vector<std::uint8_t> bytes(data, data + size);
    if (bytes.size() >= 132) {
        bytes[128] = 'D';
        bytes[129] = 'I';
        bytes[130] = 'C';
        bytes[131] = 'M';
    }
    auto img = decode_dicom(bytes, "fuzz", limits);
    if (img.ok()) {
        // The decoder's invariant, which hashing and every consumer rely on.
        if (img->pixels.size() != img->geometry.pixel_bytes())
            __builtin_trap();
        (void)hash_image(*img, nullptr);
    }
    return 0;
}
