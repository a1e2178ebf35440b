// What the PACS layer's tests share: the sample CT slices, dcmdump as an independent reader of a
// file's attributes, and an inbox that records what a StoreScp hands over.
#pragma once

#include <cstdio>
#include <filesystem>
#include <mutex>
#include <regex>
#include <string>
#include <vector>

#include "image/test_support.h"
#include "pacs/store_scp.h"

namespace medanchor::testing {

// samples/ct/ctsim-42-0000i.dcm, i from 0 to 5: one simulated CT series.
inline std::filesystem::path sample_ct(int i) {
    char name[32];
    std::snprintf(name, sizeof name, "ctsim-42-%05d.dcm", i);
    return std::filesystem::path(MEDANCHOR_SOURCE_DIR) / "samples" / "ct" / name;
}

// The value of one attribute as dcmdump prints it: "(0008,0018) UI [1.2.3]  # ...".
inline std::string dcmdump_value(const std::filesystem::path& file, const std::string& keyword) {
    const auto out = run_command("dcmdump +P " + keyword + " " + quote(file)).output;
    std::smatch m;
    if (std::regex_search(out, m, std::regex(R"(\[([^\]]*)\])")))
        return m[1];
    return "";
}

// Records what the listener hands over, and answers `answer`.
class Inbox {
  public:
    pacs::StoreHandler handler(pacs::StoreStatus answer = pacs::StoreStatus::kSuccess) {
        return [this, answer](pacs::ReceivedInstance&& instance) {
            const std::lock_guard lock(mutex_);
            received_.push_back(std::move(instance));
            return answer;
        };
    }
    std::vector<pacs::ReceivedInstance> received() const {
        const std::lock_guard lock(mutex_);
        return received_;
    }

  private:
    mutable std::mutex mutex_;
    std::vector<pacs::ReceivedInstance> received_;
};

}  // namespace medanchor::testing
