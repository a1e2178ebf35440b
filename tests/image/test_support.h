// Shared by the image and CLI tests, the benchmarks and the fuzz seed generator: where the real
// test files are, running a command, a scratch folder, and a minimal DICOM writer that builds
// files byte by byte from the standard (PS3.5/PS3.10), independently of the code under test.
#pragma once

#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <random>
#include <regex>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace medanchor::testing {

namespace fs = std::filesystem;

// pydicom's public, de-identified test files, as Debian's python3-pydicom installs them
// (MIT licence; see tests/data/README.md). MEDANCHOR_PYDICOM_DATA overrides the path.
inline fs::path pydicom_dir() {
    if (const char* env = std::getenv("MEDANCHOR_PYDICOM_DATA"); env != nullptr && *env) {
        return env;
    }
    return "/usr/lib/python3/dist-packages/pydicom/data/test_files";
}

inline fs::path pydicom_file(const std::string& name) {
    return pydicom_dir() / name;
}

struct CommandResult {
    int exit_code = -1;
    std::string output;  // stdout and stderr together
};

// Runs `command` through /bin/sh, capturing stdout and stderr.
inline CommandResult run_command(const std::string& command) {
    CommandResult result;
    FILE* pipe = ::popen((command + " 2>&1").c_str(), "r");
    if (pipe == nullptr)
        return result;
    std::array<char, 4096> buffer{};
    std::size_t n;
    while ((n = std::fread(buffer.data(), 1, buffer.size(), pipe)) > 0) {
        result.output.append(buffer.data(), n);
    }
    const int status = ::pclose(pipe);
    result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    return result;
}

inline std::string quote(const fs::path& p) {
    // Built by appending characters: "'" + std::string trips GCC 12's false -Wrestrict at -O3
    // (see cmake/Gcc12FalsePositives.cmake) in every file that includes this header.
    std::string quoted(1, '\'');
    quoted.append(p.string());
    quoted.push_back('\'');
    return quoted;
}

// How a piece of code ended when run in a child process: so a test can show that something that
// used to abort() (an assertion inside GDCM) now returns, without the abort taking the whole test
// binary down with it.
struct ChildOutcome {
    bool exited = false;  // returned normally (else: killed by a signal, e.g. SIGABRT)
    int code = -1;        // its exit code when it exited
    int signal = 0;       // the signal that ended it otherwise
};

// Runs `body` in a forked child; the child exits with body()'s return value. `file_size_limit`
// (bytes), when non-zero, sets RLIMIT_FSIZE in the child: writes past it fail with EFBIG, as on
// a full disk, without root and without touching the rest of the suite.
inline ChildOutcome run_in_child(const std::function<int()>& body, rlim_t file_size_limit = 0) {
    std::fflush(nullptr);
    const pid_t child = ::fork();
    if (child == 0) {
        if (file_size_limit != 0) {
            std::signal(SIGXFSZ, SIG_IGN);
            struct rlimit limit {
                file_size_limit, file_size_limit
            };
            ::setrlimit(RLIMIT_FSIZE, &limit);
        }
        ::_exit(body());
    }
    ChildOutcome outcome;
    int status = 0;
    if (child < 0 || ::waitpid(child, &status, 0) != child)
        return outcome;
    outcome.exited = WIFEXITED(status);
    outcome.code = outcome.exited ? WEXITSTATUS(status) : -1;
    outcome.signal = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
    return outcome;
}

// pydicom's decoding (Debian's python3-pydicom: an independent DICOM reader) of each file:
// the hex of its samples, little-endian, keyed by the path as given. One Python run for all.
inline std::map<std::string, std::string> pydicom_samples(const fs::path& scratch,
                                                          const std::vector<fs::path>& files) {
    {
        std::ofstream script(scratch / "pydicom_samples.py");
        script << "import sys, pydicom, numpy as np\n"
                  "for f in sys.argv[1:]:\n"
                  "    a = pydicom.dcmread(f).pixel_array\n"
                  "    b = np.ascontiguousarray(a.astype(a.dtype.newbyteorder('<'))).tobytes()\n"
                  "    print(f, b.hex())\n";
    }
    std::string command = "/usr/bin/python3 " + quote(scratch / "pydicom_samples.py");
    for (const auto& f : files)
        command += " " + quote(f);
    const auto r = run_command(command);
    if (r.exit_code != 0)
        throw std::runtime_error("pydicom could not read the files: " + r.output.substr(0, 2000));
    std::map<std::string, std::string> values;
    std::istringstream lines(r.output);
    for (std::string file, hex; lines >> file >> hex;)
        values[file] = hex;
    return values;
}

// The errors dicom3tools' dciodvfy (Debian package dicom3tools; an independent IOD checker)
// reports for a file, one line each, with every number (UIDs, values) replaced by "N" so the
// errors of an input and of its de-identified copy (new UIDs, dummy values) can be compared.
inline std::set<std::string> dciodvfy_errors(const fs::path& file) {
    const auto r = run_command("dciodvfy " + quote(file));
    std::set<std::string> errors;
    std::istringstream lines(r.output);
    static const std::regex numbers("[0-9]+(\\.[0-9]+)*");
    for (std::string line; std::getline(lines, line);) {
        if (line.rfind("Error", 0) == 0)
            errors.insert(std::regex_replace(line, numbers, "N"));
    }
    return errors;
}

// A fresh folder under the system temp dir, removed with its contents on destruction.
class ScratchDir {
  public:
    ScratchDir() {
        std::random_device rd;
        path_ = fs::temp_directory_path() /
                ("medanchor-test-" + std::to_string(rd()) + std::to_string(rd()));
        fs::create_directories(path_);
    }
    ~ScratchDir() {
        std::error_code ec;
        fs::remove_all(path_, ec);
    }
    ScratchDir(const ScratchDir&) = delete;
    ScratchDir& operator=(const ScratchDir&) = delete;
    const fs::path& path() const { return path_; }
    fs::path operator/(const std::string& name) const { return path_ / name; }

  private:
    fs::path path_;
};

inline std::vector<std::uint8_t> read_bytes(const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    return std::vector<std::uint8_t>(std::istreambuf_iterator<char>(in), {});
}

inline void write_bytes(const fs::path& path, const std::vector<std::uint8_t>& bytes) {
    std::ofstream out(path, std::ios::binary);
    out.write(reinterpret_cast<const char*>(bytes.data()),
              static_cast<std::streamsize>(bytes.size()));
}

#ifdef MEDANCHOR_SOURCE_DIR
// A valid CT with an overlay plane and Overlay Comments (6000,4000), made from pydicom's
// CT_small.dcm by tools/fixtures/overlay_ct.py: the input that made GDCM assert (issue 11).
inline fs::path make_overlay_ct(const fs::path& dir) {
    const fs::path out = dir / "overlay.dcm";
    const auto r =
        run_command("/usr/bin/python3 " +
                    quote(fs::path(MEDANCHOR_SOURCE_DIR) / "tools" / "fixtures" / "overlay_ct.py") +
                    " " + quote(pydicom_file("CT_small.dcm")) + " " + quote(out));
    if (r.exit_code != 0)
        throw std::runtime_error("overlay_ct.py failed: " + r.output);
    return out;
}
#endif

// A DICOM Part 10 file in Explicit VR Little Endian, built from elements given in any order.
class DicomBuilder {
  public:
    DicomBuilder& add(std::uint16_t group, std::uint16_t element, const char* vr,
                      std::vector<std::uint8_t> value) {
        elements_[(std::uint32_t{group} << 16) | element] = {vr, std::move(value)};
        return *this;
    }
    DicomBuilder& text(std::uint16_t group, std::uint16_t element, const char* vr,
                       const std::string& value) {
        std::vector<std::uint8_t> v(value.begin(), value.end());
        if (v.size() % 2)
            v.push_back(std::string(vr) == "UI" ? 0 : ' ');
        return add(group, element, vr, std::move(v));
    }
    DicomBuilder& us(std::uint16_t group, std::uint16_t element, std::uint16_t value) {
        return add(group, element, "US",
                   {static_cast<std::uint8_t>(value), static_cast<std::uint8_t>(value >> 8)});
    }
    // A monochrome or colour image header plus native pixel data.
    DicomBuilder& image(std::uint16_t rows, std::uint16_t columns, std::uint16_t samples,
                        std::uint16_t bits_allocated, std::uint16_t bits_stored,
                        std::uint16_t representation, const std::string& photometric,
                        std::vector<std::uint8_t> pixels, int frames = 1,
                        std::uint16_t planar = 0) {
        text(0x0008, 0x0016, "UI", "1.2.840.10008.5.1.4.1.1.7");
        text(0x0008, 0x0018, "UI", "1.2.3.4.5.6.7.8.9");
        text(0x0008, 0x0060, "CS", "OT");
        us(0x0028, 0x0002, samples);
        text(0x0028, 0x0004, "CS", photometric);
        if (samples > 1)
            us(0x0028, 0x0006, planar);
        if (frames != 1)
            text(0x0028, 0x0008, "IS", std::to_string(frames));
        us(0x0028, 0x0010, rows);
        us(0x0028, 0x0011, columns);
        us(0x0028, 0x0100, bits_allocated);
        us(0x0028, 0x0101, bits_stored);
        us(0x0028, 0x0102, static_cast<std::uint16_t>(bits_stored - 1));
        us(0x0028, 0x0103, representation);
        if (pixels.size() % 2)
            pixels.push_back(0);
        return add(0x7FE0, 0x0010, bits_allocated > 8 ? "OW" : "OB", std::move(pixels));
    }

    std::vector<std::uint8_t> bytes(
        const std::string& transfer_syntax = "1.2.840.10008.1.2.1") const {
        std::vector<std::uint8_t> meta;
        auto meta_text = [&](std::uint16_t element, const char* vr, std::string value) {
            if (value.size() % 2)
                value.push_back('\0');
            put_element(meta, 0x0002, element, vr,
                        std::vector<std::uint8_t>(value.begin(), value.end()));
        };
        put_element(meta, 0x0002, 0x0001, "OB", {0x00, 0x01});
        meta_text(0x0002, "UI", "1.2.840.10008.5.1.4.1.1.7");
        meta_text(0x0003, "UI", "1.2.3.4.5.6.7.8.9");
        meta_text(0x0010, "UI", transfer_syntax);
        meta_text(0x0012, "UI", "1.2.3.4");
        std::vector<std::uint8_t> out;
        out.reserve(256 + meta.size());
        out.resize(128, 0);
        for (char c : std::string("DICM"))
            out.push_back(static_cast<std::uint8_t>(c));
        const auto length = static_cast<std::uint32_t>(meta.size());
        put_element(
            out, 0x0002, 0x0000, "UL",
            {static_cast<std::uint8_t>(length), static_cast<std::uint8_t>(length >> 8),
             static_cast<std::uint8_t>(length >> 16), static_cast<std::uint8_t>(length >> 24)});
        out.insert(out.end(), meta.begin(), meta.end());
        for (const auto& [tag, element] : elements_) {
            put_element(out, static_cast<std::uint16_t>(tag >> 16),
                        static_cast<std::uint16_t>(tag & 0xFFFF), element.first.c_str(),
                        element.second);
        }
        return out;
    }

    // Writes an element header with an arbitrary declared length (for lying headers).
    static void put_header(std::vector<std::uint8_t>& out, std::uint16_t group,
                           std::uint16_t element, const char* vr, std::uint32_t length) {
        auto le16 = [&](std::uint16_t v) {
            out.push_back(static_cast<std::uint8_t>(v));
            out.push_back(static_cast<std::uint8_t>(v >> 8));
        };
        le16(group);
        le16(element);
        out.push_back(static_cast<std::uint8_t>(vr[0]));
        out.push_back(static_cast<std::uint8_t>(vr[1]));
        const std::string v(vr);
        if (v == "OB" || v == "OW" || v == "SQ" || v == "UN" || v == "UT" || v == "OF") {
            le16(0);
            le16(static_cast<std::uint16_t>(length));
            le16(static_cast<std::uint16_t>(length >> 16));
        } else {
            le16(static_cast<std::uint16_t>(length));
        }
    }

  private:
    static void put_element(std::vector<std::uint8_t>& out, std::uint16_t group,
                            std::uint16_t element, const char* vr,
                            const std::vector<std::uint8_t>& value) {
        put_header(out, group, element, vr, static_cast<std::uint32_t>(value.size()));
        out.insert(out.end(), value.begin(), value.end());
    }

    std::map<std::uint32_t, std::pair<std::string, std::vector<std::uint8_t>>> elements_;
};

// The value of a sequence (0008,1140) nested `depth` levels deep in total (this one included):
// one item per level, the innermost holding a Referenced SOP Class UID. Explicit VR little endian;
// the inner levels with undefined lengths and delimiters, or with defined lengths.
inline std::vector<std::uint8_t> nested_sequence_value(int depth, bool defined_lengths) {
    auto le16 = [](std::vector<std::uint8_t>& out, std::uint16_t v) {
        out.push_back(static_cast<std::uint8_t>(v));
        out.push_back(static_cast<std::uint8_t>(v >> 8));
    };
    auto le32 = [&](std::vector<std::uint8_t>& out, std::uint32_t v) {
        le16(out, static_cast<std::uint16_t>(v));
        le16(out, static_cast<std::uint16_t>(v >> 16));
    };
    // The innermost item's content.
    std::vector<std::uint8_t> content;
    DicomBuilder::put_header(content, 0x0008, 0x1150, "UI", 26);
    const std::string uid = "1.2.840.10008.5.1.4.1.1.7";
    content.insert(content.end(), uid.begin(), uid.end());
    content.push_back(0);
    for (int level = depth; level >= 1; --level) {
        std::vector<std::uint8_t> item;  // the item at this level, holding `content`
        le16(item, 0xFFFE);
        le16(item, 0xE000);
        le32(item, defined_lengths ? static_cast<std::uint32_t>(content.size()) : 0xFFFFFFFFu);
        item.insert(item.end(), content.begin(), content.end());
        if (!defined_lengths) {
            le16(item, 0xFFFE);
            le16(item, 0xE00D);
            le32(item, 0);
        }
        if (level == 1)
            return item;  // the outer element's value (the builder writes its header)
        content.clear();  // the sequence element one level up, holding this item
        le16(content, 0x0008);
        le16(content, 0x1140);
        content.push_back('S');
        content.push_back('Q');
        le16(content, 0);
        le32(content, defined_lengths ? static_cast<std::uint32_t>(item.size()) : 0xFFFFFFFFu);
        content.insert(content.end(), item.begin(), item.end());
        if (!defined_lengths) {
            le16(content, 0xFFFE);
            le16(content, 0xE0DD);
            le32(content, 0);
        }
    }
    return content;
}

}  // namespace medanchor::testing
