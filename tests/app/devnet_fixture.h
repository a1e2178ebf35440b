// Helpers for tests that run against the real local chain (devnet/server.mjs) on loopback: a free
// port, the public devnet accounts' keys from settings/Devnet.toml, and digests as Clarity buffers.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fstream>
#include <string>

#include "app/ops/devnet_process.h"
#include "stacks/clarity_value.h"
#include "stacks/hash.h"
#include "stacks/keys.h"

namespace medanchor::testing {

inline int free_port() {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    socklen_t len = sizeof addr;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
    ::close(fd);
    return ntohs(addr.sin_port);
}

// The mnemonic of [accounts.NAME] in settings/Devnet.toml (public development accounts).
inline std::string mnemonic(const std::string& account) {
    std::ifstream in(ops::source_root() / "settings" / "Devnet.toml");
    std::string line;
    bool in_section = false;
    while (std::getline(in, line)) {
        if (line.starts_with("["))
            in_section = line == "[accounts." + account + "]";
        if (in_section && line.starts_with("mnemonic")) {
            return line.substr(line.find('"') + 1, line.rfind('"') - line.find('"') - 1);
        }
    }
    return "";
}

inline stacks::PrivateKey devnet_key(const std::string& account) {
    return *stacks::PrivateKey::from_mnemonic(mnemonic(account));
}

inline stacks::Value digest(const std::string& text) {
    const auto h = stacks::sha256(stacks::Bytes(text.begin(), text.end()));
    return stacks::Value::buffer(stacks::Bytes(h.begin(), h.end()));
}

}  // namespace medanchor::testing
