// The file arguments of the commands that take many images (hash, predict): folders expand to
// their regular files, recursively, sorted; files stay as given, so a missing one is reported
// by the reader with its name.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace medanchor::app {

std::vector<std::filesystem::path> expand_inputs(const std::vector<std::string>& inputs);

}  // namespace medanchor::app
