// A real Orthanc (Debian's `orthanc` 1.10.1 with the `orthanc-dicomweb` plugin) for tests: a
// config written to a scratch folder, `Orthanc cfg.json` started as a child process on free
// loopback ports (HTTP and DICOM), waited for until GET /system answers, and stopped (SIGTERM,
// then SIGKILL) and removed on destruction. Needs no systemd and no root.
//
// The config: storage in the scratch folder, in memory for the jobs; remote HTTP access off and
// authentication off (Orthanc 1.10 has no bind-address option: RemoteAccessAllowed=false is what
// keeps its HTTP server to loopback callers); the DICOMweb plugin at /dicom-web/; StableAge 1 s so
// StableSeries comes quickly; one DICOM modality, "medanchor" = MEDANCHOR@127.0.0.1:listener_port
// (a port reserved here for a test's StoreScp), which is also the only peer Orthanc accepts C-STORE
// from (DicomAlwaysAllowStore off, DicomCheckModalityHost on).
#pragma once

#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <thread>

#include "common/http.h"
#include "image/test_support.h"

namespace medanchor::testing {

inline constexpr char kOrthancDicomWebPlugin[] = "/usr/share/orthanc/plugins/libOrthancDicomWeb.so";

// A TCP port on 127.0.0.1 that was free a moment ago (the kernel's pick, released at once).
inline int free_loopback_port() {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof addr;
    int port = 0;
    if (fd >= 0 && ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &length) == 0)
        port = ntohs(addr.sin_port);
    if (fd >= 0)
        ::close(fd);
    return port;
}

class OrthancProcess {
  public:
    // Starts Orthanc; ok() says whether it answers. A port taken between choosing it and
    // Orthanc binding it makes Orthanc exit: then it is tried again with new ports.
    OrthancProcess() {
        for (int attempt = 0; attempt < 3 && !ok_; ++attempt)
            ok_ = start();
    }
    ~OrthancProcess() { stop(); }
    OrthancProcess(const OrthancProcess&) = delete;
    OrthancProcess& operator=(const OrthancProcess&) = delete;

    bool ok() const { return ok_; }
    // What went wrong when !ok(): the reason and the end of Orthanc's log.
    const std::string& failure() const { return failure_; }

    std::string url() const { return "http://127.0.0.1:" + std::to_string(http_port_); }
    std::string dicomweb_url() const { return url() + "/dicom-web"; }
    int dicom_port() const { return dicom_port_; }
    static constexpr char kAeTitle[] = "ORTHANC";
    // The modality entry for a test's listener: Orthanc sends to MEDANCHOR@127.0.0.1:this.
    static constexpr char kListenerModality[] = "medanchor";
    static constexpr char kListenerAeTitle[] = "MEDANCHOR";
    int listener_port() const { return listener_port_; }

    void stop() {
        if (pid_ <= 0)
            return;
        ::kill(pid_, SIGTERM);
        for (int i = 0; i < 100; ++i) {
            if (::waitpid(pid_, nullptr, WNOHANG) == pid_) {
                pid_ = -1;
                return;
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
        }
        ::kill(pid_, SIGKILL);
        ::waitpid(pid_, nullptr, 0);
        pid_ = -1;
    }

  private:
    bool start() {
        http_port_ = free_loopback_port();
        dicom_port_ = free_loopback_port();
        listener_port_ = free_loopback_port();
        const auto storage = dir_ / ("db-" + std::to_string(http_port_));
        const nlohmann::json config = {
            {"Name", "medanchor-test"},
            {"StorageDirectory", storage.string()},
            {"IndexDirectory", storage.string()},
            {"HttpPort", http_port_},
            {"DicomPort", dicom_port_},
            {"DicomAet", kAeTitle},
            {"RemoteAccessAllowed", false},
            {"AuthenticationEnabled", false},
            {"HttpServerEnabled", true},
            {"DicomServerEnabled", true},
            {"Plugins", {kOrthancDicomWebPlugin}},
            {"DicomWeb", {{"Enable", true}, {"Root", "/dicom-web/"}}},
            {"DicomModalities",
             {{kListenerModality, {kListenerAeTitle, "127.0.0.1", listener_port_}}}},
            {"DicomAlwaysAllowStore", false},
            {"DicomCheckModalityHost", true},
            {"DicomScuTimeout", 10},
            {"StableAge", 1},
            {"SaveJobs", false},
            {"ConcurrentJobs", 2},
            {"HttpThreadsCount", 8},
            {"StorageCompression", false},
            {"LogExportedResources", false},
        };
        const auto cfg = dir_ / "cfg.json";
        std::ofstream(cfg) << config.dump(2);
        log_ = dir_ / "orthanc.log";
        pid_ = ::fork();
        if (pid_ < 0) {
            failure_ = "fork failed";
            return false;
        }
        if (pid_ == 0) {
            ::prctl(PR_SET_PDEATHSIG, SIGKILL);  // never outlives a crashed test
            // Only async-signal-safe calls between fork and exec.
            const int out = ::open(log_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
            if (out >= 0) {
                ::dup2(out, STDOUT_FILENO);
                ::dup2(out, STDERR_FILENO);
            }
            ::execlp("Orthanc", "Orthanc", cfg.c_str(), static_cast<char*>(nullptr));
            ::_exit(127);
        }
        HttpClient http(std::chrono::seconds(2));
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
        while (std::chrono::steady_clock::now() < deadline) {
            if (::waitpid(pid_, nullptr, WNOHANG) == pid_) {
                pid_ = -1;
                failure_ = "Orthanc exited while starting:\n" + log_tail();
                return false;
            }
            auto system = http.get(url() + "/system");
            if (system.ok() && system->status == 200)
                return true;
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
        }
        failure_ = "Orthanc did not answer within 30 s:\n" + log_tail();
        stop();
        return false;
    }

    std::string log_tail() const {
        std::ifstream in(log_);
        std::stringstream all;
        all << in.rdbuf();
        const std::string text = all.str();
        return text.size() > 3000 ? text.substr(text.size() - 3000) : text;
    }

    ScratchDir scratch_;
    std::filesystem::path dir_ = scratch_.path();
    std::filesystem::path log_;
    pid_t pid_ = -1;
    int http_port_ = 0;
    int dicom_port_ = 0;
    int listener_port_ = 0;
    bool ok_ = false;
    std::string failure_;
};

}  // namespace medanchor::testing
