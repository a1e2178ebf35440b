// libFuzzer target for the DICOM path: bytes -> DCMTK gate -> GDCM decode -> canonical hash, and
// the same bytes through de-identification (gate, GDCM editing and writing, atomic write).
// Every input must come back as an Image or an Error; a crash, an assertion, a sanitizer report
// or an allocation over -malloc_limit_mb is a finding. Build with -DMEDANCHOR_FUZZ=ON (clang),
// run e.g.:  build-fuzz/fuzz/medanchor_fuzz_dicom -max_total_time=300 -malloc_limit_mb=1024 \
//                corpus/ seeds/
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <span>
#include <string>

#include "image/deid.h"
#include "image/image_hash.h"
#include "image/reader.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace medanchor::image;
    // Tighter bounds than the CLI's so a claim of a big image is refused before it allocates
    // memory the fuzzer counts against -malloc_limit_mb.
    DecodeLimits limits;
    limits.max_pixel_bytes = 64u << 20;
    limits.max_frames = 1000;
    // DICOM Part 10 needs "DICM" at offset 128; give most inputs a chance at the DICOM path, and
    // leave short ones as they are (data sets without the preamble).
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
    // De-identification reads from a file and writes one; both in a per-process folder.
    static const std::filesystem::path dir = [] {
        auto d = std::filesystem::temp_directory_path() /
                 ("medanchor-fuzz-" + std::to_string(::getpid()));
        std::filesystem::create_directories(d);
        std::atexit([] {
            std::error_code ec;
            std::filesystem::remove_all(std::filesystem::temp_directory_path() /
                                            ("medanchor-fuzz-" + std::to_string(::getpid())),
                                        ec);
        });
        return d;
    }();
    static const UidRemapper uids = UidRemapper::random();
    {
        std::ofstream in(dir / "in.dcm", std::ios::binary | std::ios::trunc);
        in.write(reinterpret_cast<const char*>(bytes.data()),
                 static_cast<std::streamsize>(bytes.size()));
    }
    (void)deidentify_file(dir / "in.dcm", dir / "out.dcm", {}, uids);
    return 0;
}
