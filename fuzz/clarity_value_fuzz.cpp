// libFuzzer target: the Clarity value decoder parses bytes that come from the network (node
// responses, transactions). It must never crash, hang or allocate beyond its bounds, and what it
// accepts must survive a round trip (encode, decode, compare). Byte equality is not required:
// like the node, the decoder accepts tuple fields in any order and re-encodes them sorted.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "stacks/clarity_value.h"
#include "stacks/transaction.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace medanchor::stacks;
    const ByteView input(data, size);
    if (auto value = deserialize(input); value.ok()) {
        auto round = deserialize(serialize(*value));
        if (!round.ok() || !(*round == *value))
            std::abort();
        (void)value->to_string();
    }
    if (auto tx = deserialize_transaction(input); tx.ok()) {
        auto again = serialize(*tx);
        if (!again.ok())
            std::abort();
        auto round = deserialize_transaction(*again);
        if (!round.ok() || round->nonce != tx->nonce || round->fee != tx->fee)
            std::abort();
        (void)verify_signature(*tx);
    }
    return 0;
}
