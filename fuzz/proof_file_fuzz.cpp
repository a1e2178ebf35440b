// libFuzzer target: the anchor.proof.json parser reads files handed over by anyone (a proof that
// travels with a report). It must never crash, hang or allocate beyond its bounds; what it
// accepts must be a proof the library can work with: verify_proof answers, and a proof that
// verifies is written back by format_proof and read back to the same proof (seeds:
// tests/chain/data/).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "chain/proof_file.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace medanchor::chain;
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    auto proof = parse_proof(text, "fuzz.proof.json");
    if (!proof.ok())
        return 0;
    if (!verify_proof(*proof)) {
        if (format_proof(*proof).ok())
            std::abort();  // a proof that does not verify must never be written
        return 0;
    }
    auto written = format_proof(*proof);
    if (!written.ok())
        std::abort();
    auto again = parse_proof(*written, "fuzz.proof.json");
    if (!again.ok() || !(*again == *proof))
        std::abort();
    return 0;
}
