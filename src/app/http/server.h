// `medanchor serve`: the REST API over loopback (or TLS), its accounts and limits. A front end
// (STYLE rule 12): it parses requests, checks the caller's role (roles.h), calls the job
// service (jobs.h), the verification or review service, or the ledger, and answers JSON; errors
// become `{error:{code,message}}` with the HTTP status of common/error.h's table. docs/api.md is
// the reference; docs/api.openapi.json (served at /api/openapi.json) lists every route, and a test
// holds the two equal.
//
// Thread safety: run() blocks on the calling thread and serves requests on a bounded pool;
// stop() may be called from any thread (the SIGTERM watcher calls it).
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "app/dicom/listener.h"
#include "app/http/roles.h"
#include "chain/session.h"
#include "common/error.h"

namespace medanchor::http {

struct ServeOptions {
    std::string host = "127.0.0.1";
    int port = 8080;  // 0: any free port (tests read port() after bind())
    // Both or neither: HTTPS with this certificate chain and private key (PEM).
    std::string tls_cert;
    std::string tls_key;
    // Plain HTTP on an address other than loopback sends bearer tokens and uploads in clear:
    // refused at bind() unless this is set (a TLS-terminating proxy on the same network).
    bool allow_plain_http = false;
    // Limits. A body over max_upload_bytes is refused with 413 before it is read to the end;
    // more than max_files files in one upload is 413 too.
    std::size_t max_upload_bytes = 256u << 20;
    std::size_t max_files = 64;
    // Worker threads: each request, and each open event stream, holds one while it runs, so
    // at most max_event_streams of them are streams and the rest always answer requests.
    std::size_t threads = 32;
    std::size_t max_event_streams = 16;
    int read_timeout_s = 30;   // a client that sends nothing for this long is dropped
    int write_timeout_s = 30;  // ... or that reads nothing for this long
    // Where the server keeps its state: ledger.sqlite, reports/, site.key (see docs/api.md).
    std::filesystem::path data_dir;
    std::filesystem::path users;  // the account store; default data_dir/users.sqlite
    // The ledger: empty, data_dir/ledger.sqlite. A postgresql:// URI puts the server in queue
    // mode (docs/scale.md, "Front ends"): uploads are de-identified into `spool` (default
    // data_dir/spool; made absolute) and queued for `medanchor worker`, their progress read
    // from the queue every queue_poll_ms; the server analyses and anchors nothing itself.
    std::string ledger;
    std::filesystem::path spool;
    int queue_poll_ms = 1000;
    // The chain (resolved at bind(): chain::resolve fills the devnet defaults in).
    chain::ChainConfig chain;
    // The model bundle folder, loaded once at bind() and shared by every upload. REQUIRES: set
    // (the CLI gives the shipped reference model by default).
    std::filesystem::path model;
    bool anchor = true;             // anchor in the background (chain::AnchoringService)
    int anchor_interval_ms = 1000;  // how often anchoring settles what it sent
    bool keep_originals = false;    // keep uploads under data_dir/originals/ (off: never stored)
    bool log_requests = true;       // one line per request on stderr (no token, no query string)
    // Each read-only call of the chain's registry view (/api/chain/...) is tried twice, each try
    // given this long: a node that does not answer costs a request a bounded time (504).
    int chain_read_timeout_ms = 5000;
    // `--listen-dicom`: the DICOM listener in this process (docs/pacs.md, "In medanchor serve"),
    // sharing the server's analysis service, ledger, site key and the anchoring of the account
    // `dicom_account` (one with a signing key), whose principal its analyses are recorded for.
    // bind() sets its data_dir (DATA/pacs), ledger_path and analysis options; its state is read
    // at /api/pacs/... and its counters join /api/metrics.
    std::optional<dicom::ListenOptions> dicom;
    std::string dicom_account;
};

// "127.0.0.1:8080", "[::1]:8443", ":9000" (an empty host is 127.0.0.1), "0.0.0.0:8443":
// the host and port; kInvalidArgument, naming `option` and the text, when it is not ADDR:PORT.
Result<std::pair<std::string, int>> parse_listen(std::string_view text,
                                                 std::string_view option = "--listen");

// The options of every socket medanchor listens on with cpp-httplib: its own defaults less
// SO_REUSEPORT, which let a second server bind a port another already serves (the kernel then
// shares the connections between them), plus SO_REUSEADDR (which cpp-httplib sets only where
// SO_REUSEPORT is missing): a restart binds its port while old connections are in TIME_WAIT.
// For httplib::Server::set_socket_options.
void listen_socket_options(int sock);

// One route as registered: the method, the path in OpenAPI form ("/api/jobs/{id}") and the
// permission it needs (none: public).
struct RouteInfo {
    std::string method;
    std::string path;
    std::optional<Permission> permission;
};

class ApiServer {
  public:
    explicit ApiServer(ServeOptions options);
    ~ApiServer();
    ApiServer(const ApiServer&) = delete;
    ApiServer& operator=(const ApiServer&) = delete;

    // Opens the account store and the ledger, loads the TLS files and binds the port. Errors
    // name the file or the address.
    Status bind();
    // REQUIRES: bind() succeeded. The bound port (useful with port 0).
    int port() const;
    // The DICOM listener's port; 0 without one.
    std::uint16_t dicom_port() const;
    // Serves until stop(); then stops taking jobs, finishes the accepted ones and the anchoring
    // round under way, and returns.
    Status run();
    // Thread-safe; idempotent.
    void stop();

    // Every route, in registration order.
    std::vector<RouteInfo> routes() const;

  private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

// A file of the web UI (web/, embedded at build time): served at `path` ("/index.html" is
// also served at "/").
struct WebAsset {
    std::string_view path;
    std::string_view media_type;
    std::string_view content;
};
std::span<const WebAsset> web_assets();

// The OpenAPI 3 document (docs/api.openapi.json, embedded at build time).
std::string_view openapi_document();

}  // namespace medanchor::http
