// Lossless variants of a real DICOM file, made with DCMTK's and GDCM's command-line tools (Debian
// packages dcmtk and libgdcm-tools), so the tests can show that every lossless encoding of one
// image decodes to the same pixels and hashes the same.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "test_support.h"

namespace medanchor::testing {

struct Variant {
    std::string name;     // what made it, e.g. "dcmcjpls"
    fs::path path;        // the file
    std::string command;  // the exact command
};

// Uncompresses `source` first (dcmdjpls/dcmdrle/dcmdjpeg or gdcmconv --raw), then re-encodes it
// every lossless way the tools offer. Throws std::runtime_error naming the command that failed.
inline std::vector<Variant> make_lossless_variants(const fs::path& source, const fs::path& dir,
                                                   bool colour = false) {
    const fs::path raw = dir / "raw.dcm";
    std::vector<std::pair<std::string, std::string>> recipes = {
        {"gdcmconv-raw", "gdcmconv --raw " + quote(source) + " " + quote(raw)},
        {"dcmconv+te", "dcmconv +te " + quote(raw) + " OUT"},
        {"dcmconv+ti", "dcmconv +ti " + quote(raw) + " OUT"},
        {"dcmconv+tb", "dcmconv +tb " + quote(raw) + " OUT"},
        {"dcmconv+td", "dcmconv +td " + quote(raw) + " OUT"},
        {"dcmcrle", "dcmcrle " + quote(raw) + " OUT"},
        {"dcmcjpeg+e1", "dcmcjpeg +e1 " + quote(raw) + " OUT"},
        {"dcmcjpls", "dcmcjpls " + quote(raw) + " OUT"},
        {"gdcmconv-jpeg", "gdcmconv --jpeg " + quote(raw) + " OUT"},
        {"gdcmconv-jpegls", "gdcmconv --jpegls " + quote(raw) + " OUT"},
        {"gdcmconv-rle", "gdcmconv --rle " + quote(raw) + " OUT"},
        {"gdcmconv-j2k", "gdcmconv --j2k " + quote(raw) + " OUT"},
    };
    if (colour) {
        recipes.push_back(
            {"gdcmconv-planar1", "gdcmconv --raw --planar-configuration 1 " + quote(raw) + " OUT"});
    }
    std::vector<Variant> variants;
    for (auto& [name, command] : recipes) {
        const fs::path out = name == "gdcmconv-raw" ? raw : dir / (name + ".dcm");
        if (const auto at = command.find(" OUT"); at != std::string::npos) {
            command.replace(at, 4, " " + quote(out));
        }
        const auto result = run_command(command);
        if (result.exit_code != 0 || !fs::exists(out)) {
            throw std::runtime_error("`" + command + "` failed: " + result.output);
        }
        variants.push_back({name, out, command});
    }
    return variants;
}

}  // namespace medanchor::testing
