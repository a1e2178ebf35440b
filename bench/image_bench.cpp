// Decode + hash throughput on a CT-size slice (512 x 512, 16-bit) and a large radiograph
// (3000 x 3000, 16-bit, 12 stored), uncompressed and JPEG-LS; and, like with like, in the same
// run:
//   - in process: the canonical hash step alone (public and keyed) against OpenSSL's SHA-256
//     (EVP) of the very same canonical bytes already in memory;
//   - process against process: the whole `medanchor hash --public FILE.dcm` command (start,
//     read, decode, hash, print) against `sha256sum` and `openssl dgst -sha256` of the canonical
//     bytes' file (which the tools only read and hash), each a child process.
// Prints figures; asserts nothing about time; skips a benchmark whose digest disagrees with the
// public hash. Wall-clock time throughout (child processes' CPU time would be missed).
//   build/bench/medanchor_bench_image
#include <benchmark/benchmark.h>
#include <openssl/evp.h>

#include <cstdio>
#include <random>

#include "../tests/image/test_support.h"
#include "image/deid.h"
#include "image/image_hash.h"
#include "image/reader.h"

namespace {

namespace fs = std::filesystem;
using medanchor::image::Image;
using medanchor::image::SiteKey;

struct Fixture {
    fs::path raw;        // explicit VR little endian
    fs::path jpegls;     // JPEG-LS lossless (dcmcjpls), empty if the tool is missing
    fs::path canonical;  // the canonical form, for sha256sum
    std::vector<std::uint8_t> canonical_in_memory;
    std::size_t canonical_bytes = 0;
};

const medanchor::testing::ScratchDir& scratch() {
    static const medanchor::testing::ScratchDir dir;
    return dir;
}

// A smooth synthetic body-like image with noise (so JPEG-LS has realistic work to do).
Fixture make(const std::string& name, std::uint16_t rows, std::uint16_t cols,
             std::uint16_t bits_stored, bool is_signed) {
    Fixture f;
    std::mt19937 rng(42);
    std::normal_distribution<double> noise(0.0, 12.0);
    std::vector<std::uint8_t> pixels(std::size_t{rows} * cols * 2);
    const double max = (1 << (bits_stored - (is_signed ? 1 : 0))) - 1;
    for (std::size_t r = 0; r < rows; ++r) {
        for (std::size_t c = 0; c < cols; ++c) {
            const double dx = (double(c) - cols / 2.0) / cols;
            const double dy = (double(r) - rows / 2.0) / rows;
            double v = max * 0.4 * (1.0 - 2.5 * (dx * dx + dy * dy)) + noise(rng);
            v = std::clamp(v, is_signed ? -max : 0.0, max);
            const auto s = static_cast<std::uint16_t>(static_cast<std::int32_t>(v));
            pixels[2 * (r * cols + c)] = static_cast<std::uint8_t>(s);
            pixels[2 * (r * cols + c) + 1] = static_cast<std::uint8_t>(s >> 8);
        }
    }
    f.raw = scratch() / (name + ".dcm");
    medanchor::testing::write_bytes(
        f.raw, medanchor::testing::DicomBuilder()
                   .image(rows, cols, 1, 16, bits_stored, is_signed ? 1 : 0, "MONOCHROME2", pixels)
                   .bytes());
    const fs::path jls = scratch() / (name + "-jls.dcm");
    if (medanchor::testing::run_command("dcmcjpls " + medanchor::testing::quote(f.raw) + " " +
                                        medanchor::testing::quote(jls))
            .exit_code == 0) {
        f.jpegls = jls;
    }
    auto img = medanchor::image::read_image(f.raw);
    if (!img.ok()) {
        std::fprintf(stderr, "bench fixture: %s\n", img.error().message().c_str());
        std::abort();
    }
    const auto header = medanchor::image::canonical_header(img->geometry, img->pixels.size());
    std::vector<std::uint8_t> canonical(header.begin(), header.end());
    canonical.insert(canonical.end(), img->pixels.begin(), img->pixels.end());
    f.canonical = scratch() / (name + ".canonical");
    medanchor::testing::write_bytes(f.canonical, canonical);
    f.canonical_bytes = canonical.size();
    f.canonical_in_memory = std::move(canonical);
    return f;
}

const Fixture& ct() {
    static const Fixture f = make("ct-512x512", 512, 512, 16, true);
    return f;
}
const Fixture& radiograph() {
    static const Fixture f = make("xr-3000x3000", 3000, 3000, 12, false);
    return f;
}

const SiteKey& key() {
    static const SiteKey k = [] {
        std::array<std::uint8_t, 32> bytes{};
        for (std::size_t i = 0; i < bytes.size(); ++i)
            bytes[i] = static_cast<std::uint8_t>(i);
        return SiteKey::from_bytes(bytes);
    }();
    return k;
}

const Fixture& pick(int which) {
    return which == 0 ? ct() : radiograph();
}

void BM_DecodeAndHash(benchmark::State& state, int which, bool jpegls) {
    const Fixture& f = pick(which);
    const fs::path& file = jpegls ? f.jpegls : f.raw;
    if (file.empty()) {
        state.SkipWithError("dcmcjpls not installed");
        return;
    }
    for (auto _ : state) {
        auto img = medanchor::image::read_image(file);
        if (!img.ok()) {
            state.SkipWithError(img.error().message().c_str());
            return;
        }
        benchmark::DoNotOptimize(medanchor::image::hash_image(*img, &key()));
    }
    state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * f.canonical_bytes));
}

void BM_HashOnly(benchmark::State& state, int which, bool keyed) {
    const Fixture& f = pick(which);
    auto img = medanchor::image::read_image(f.raw);
    for (auto _ : state) {
        benchmark::DoNotOptimize(medanchor::image::hash_image(*img, keyed ? &key() : nullptr));
    }
    state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * f.canonical_bytes));
}

// OpenSSL's SHA-256 (EVP, one call) of the canonical bytes already in memory: the in-process
// baseline for BM_HashOnly's public hash (the same bytes, the same function).
void BM_OpenSslSha256(benchmark::State& state, int which) {
    const Fixture& f = pick(which);
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int length = 0;
    for (auto _ : state) {
        if (EVP_Digest(f.canonical_in_memory.data(), f.canonical_in_memory.size(), digest, &length,
                       EVP_sha256(), nullptr) != 1) {
            state.SkipWithError("EVP_Digest failed");
            return;
        }
        benchmark::DoNotOptimize(digest);
    }
    auto img = medanchor::image::read_image(f.raw);
    const auto ours = medanchor::image::hash_image(*img, nullptr);
    if (length != 32 || !std::equal(digest, digest + 32, ours.digest.begin()))
        state.SkipWithError("OpenSSL's digest disagrees with the public hash");
    state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * f.canonical_bytes));
}

// A whole command in a child process, as a user runs it: `medanchor hash --public` of the DICOM
// file, or `sha256sum` / `openssl dgst -sha256 -r` of the canonical bytes' file. Its digest must
// be the public hash of the image.
void BM_Command(benchmark::State& state, int which, const char* tool) {
    const Fixture& f = pick(which);
    const bool ours = std::string(tool) == "medanchor";
    const std::string command =
        ours ? std::string(MEDANCHOR_BIN) + " hash --public " + medanchor::testing::quote(f.raw)
             : std::string(tool) + " " + medanchor::testing::quote(f.canonical);
    std::string last;
    for (auto _ : state) {
        last = medanchor::testing::run_command(command).output;
    }
    auto img = medanchor::image::read_image(f.raw);
    const std::string expected = medanchor::image::hash_image(*img, nullptr).hex();
    const std::string digest = ours ? last.substr(last.find(':') + 1, 64) : last.substr(0, 64);
    if (digest != expected)
        state.SkipWithError(
            ("the command's digest disagrees with the public hash: " + last).c_str());
    state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * f.canonical_bytes));
}

// What `analyze` does to a DICOM input before inference, in the same run: decode_dicom and then
// deidentify_in_memory (two DCMTK parses, two GDCM parses: the loader before decode-once) against
// decode_and_deidentify (one of each: the loader now), on the simulated CT sample (256 x 256,
// what bench/peer times) and the 512 x 512 and 3000 x 3000 fixtures, uncompressed.
fs::path analysed_file(int which) {
    if (which == 2)
        return fs::path(MEDANCHOR_SOURCE_DIR) / "samples" / "ct" / "ctsim-42-00000.dcm";
    return pick(which).raw;
}

const medanchor::image::UidRemapper& remapper() {
    static const medanchor::image::UidRemapper uids(key());
    return uids;
}

void BM_DecodeThenDeidentify(benchmark::State& state, int which) {
    const fs::path file = analysed_file(which);
    const auto bytes = medanchor::testing::read_bytes(file);
    for (auto _ : state) {
        auto img = medanchor::image::decode_dicom(bytes, "bench");
        auto copy = medanchor::image::deidentify_in_memory(bytes, file, {}, remapper());
        if (!img || !copy)
            state.SkipWithError("cannot decode or de-identify the fixture");
        benchmark::DoNotOptimize(copy->part10.data());
    }
}

void BM_DecodeAndDeidentifyOnce(benchmark::State& state, int which) {
    const fs::path file = analysed_file(which);
    const auto bytes =
        std::make_shared<const std::vector<std::uint8_t>>(medanchor::testing::read_bytes(file));
    for (auto _ : state) {
        auto both = medanchor::image::decode_and_deidentify(bytes, "bench", file, {}, remapper());
        if (!both)
            state.SkipWithError("cannot decode or de-identify the fixture");
        benchmark::DoNotOptimize(both->deid.part10.data());
    }
}

BENCHMARK_CAPTURE(BM_DecodeThenDeidentify, ctsim_256, 2)->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_DecodeAndDeidentifyOnce, ctsim_256, 2)->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_DecodeThenDeidentify, ct_512, 0)->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_DecodeAndDeidentifyOnce, ct_512, 0)->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_DecodeThenDeidentify, xr_3000, 1)->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_DecodeAndDeidentifyOnce, xr_3000, 1)->Unit(benchmark::kMillisecond);

BENCHMARK_CAPTURE(BM_DecodeAndHash, ct_raw, 0, false)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_DecodeAndHash, ct_jpegls, 0, true)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK_CAPTURE(BM_DecodeAndHash, xr_raw, 1, false)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_DecodeAndHash, xr_jpegls, 1, true)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK_CAPTURE(BM_HashOnly, ct_public, 0, false)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_HashOnly, ct_keyed, 0, true)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_HashOnly, xr_public, 1, false)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_HashOnly, xr_keyed, 1, true)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_OpenSslSha256, ct_openssl_evp, 0)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK_CAPTURE(BM_OpenSslSha256, xr_openssl_evp, 1)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK_CAPTURE(BM_Command, ct_medanchor_hash, 0, "medanchor")
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK_CAPTURE(BM_Command, ct_sha256sum, 0, "sha256sum")
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK_CAPTURE(BM_Command, ct_openssl_dgst, 0, "openssl dgst -sha256 -r")
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK_CAPTURE(BM_Command, xr_medanchor_hash, 1, "medanchor")
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK_CAPTURE(BM_Command, xr_sha256sum, 1, "sha256sum")
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK_CAPTURE(BM_Command, xr_openssl_dgst, 1, "openssl dgst -sha256 -r")
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
