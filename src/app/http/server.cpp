// The only file that touches cpp-httplib.
#include "app/http/server.h"

#include <arpa/inet.h>
#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <charconv>
#include <chrono>
#include <iostream>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>

#include "app/dicom/metrics.h"
#include "app/http/jobs.h"
#include "chain/contract.h"
#include "chain/proof_file.h"
#include "chain/registry.h"
#include "common/encoding.h"
#include "common/file_io.h"
#include "image/reader.h"
#include "inference/model_bundle.h"
#include "inference/preprocess.h"
#include "inference/saliency.h"
#include "ledger/accounts.h"
#include "ledger/ledger.h"
#include "ledger/merkle_store.h"
#include "ledger/pacs_store.h"
#include "report/dicom_sr.h"
#include "report/report.h"
#include "service/analysis_service.h"
#include "service/model_input.h"
#include "service/review_service.h"
#include "service/verification_service.h"
#include "stacks/keys.h"

namespace medanchor::http {
namespace fs = std::filesystem;
using json = nlohmann::ordered_json;

namespace {

// The files of a report folder a client may download, and their media types. A client names
// one of these; nothing it sends is ever joined to a path.
struct ReportFile {
    const char* name;
    const char* media_type;
};
constexpr ReportFile kReportFiles[] = {
    {"report.json", "application/json"},
    {"report.fhir.json", "application/fhir+json"},
    {"report.sr.dcm", "application/dicom"},
    {"saliency.png", "image/png"},
};

// Media types an upload's part may declare (or none, or application/octet-stream): the bytes
// decide in the end (the pipeline sniffs them).
bool acceptable_part_type(const std::string& type) {
    return type.empty() || type == "application/octet-stream" || type == "application/dicom" ||
           type == "image/png" || type == "image/jpeg" || type == "image/tiff";
}

using service::Digest;
// The longest review note accepted (its digest goes on chain; the note stays with the caller).
constexpr std::size_t kMaxNoteBytes = 64 * 1024;
// The most models one GET /api/chain/models reads: each is a read-only call to the node.
constexpr std::int64_t kMaxModelPage = 50;

struct Caller {
    ledger::Account account;
    Role role = Role::kAuditor;
};

// A fault of the server itself (status 500: a local file it could not read or write, a bug) is
// told to the caller by number only: its message names the server's files, which are none of the
// caller's business. The log gets the whole message under the same number.
void send_error(httplib::Response& res, const Error& e, int status_override = 0) {
    static std::atomic<std::uint64_t> incidents{0};
    const auto& info = error_info(e.code());
    res.status = status_override != 0 ? status_override : info.http_status;
    std::string message = e.message();
    if (res.status == 500) {
        const auto n = ++incidents;
        std::cerr << "medanchor serve: incident " << n << " [" << info.name << "]: " << message
                  << "\n";
        message =
            "the server could not complete this (incident " + std::to_string(n) + " in its log)";
    }
    json body = {{"error", {{"code", info.name}, {"message", message}}}};
    res.set_content(body.dump(), "application/json");
}

// A file of the server's own (a report folder's) that cannot be read is the server's fault,
// whatever the reason (kCorrupt included), unless it is simply not there.
void send_file_error(httplib::Response& res, const Error& e, const char* not_found) {
    if (e.code() == ErrorCode::kNotFound)
        send_error(res, Error(ErrorCode::kNotFound, not_found));
    else
        send_error(res, e, 500);
}

void send_json(httplib::Response& res, const json& body, int status = 200) {
    res.status = status;
    res.set_content(body.dump(), "application/json");
}

// "recorded" (pending in the ledger), "sent" (in a transaction), "confirmed", or the ledger's
// own word for the states off that path (needs_review, failed).
const char* anchoring_state(ledger::AnalysisState s) {
    switch (s) {
        case ledger::AnalysisState::kPending:
            return "recorded";
        case ledger::AnalysisState::kBroadcast:
            return "sent";
        case ledger::AnalysisState::kConfirmed:
            return "confirmed";
        case ledger::AnalysisState::kNeedsReview:
            return "needs_review";
        case ledger::AnalysisState::kFailed:
            return "failed";
    }
    return "?";
}

json analysis_json(const ledger::Analysis& a) {
    json j = {
        {"id", a.id},
        {"created_at", a.created_at},
        {"updated_at", a.updated_at},
        {"image_hash", a.hash_mode + ":" + a.image_hash},
        {"model",
         {{"name", a.model_name}, {"version", a.model_version}, {"sha256", a.model_sha256}}},
        {"finding", a.finding},
        {"confidence_bp", a.confidence_bp},
        {"analyst", a.analyst},
        {"state", ledger::to_string(a.state)},
        {"anchoring", anchoring_state(a.state)},
        {"report_digest", a.report_digest},
    };
    j["review_reason"] = a.review_reason.empty() ? json(nullptr) : json(a.review_reason);
    j["last_error"] = a.last_error.empty() ? json(nullptr) : json(a.last_error);
    j["txid"] = a.txid ? json(*a.txid) : json(nullptr);
    j["onchain_id"] = a.onchain_id ? json(*a.onchain_id) : json(nullptr);
    j["block_height"] = a.block_height ? json(*a.block_height) : json(nullptr);
    j["block_time"] = a.block_time ? json(*a.block_time) : json(nullptr);
    json files = json::array();
    if (a.report_dir) {
        std::error_code ec;
        for (const auto& f : kReportFiles) {
            if (fs::is_regular_file(fs::path(*a.report_dir) / f.name, ec))
                files.push_back(f.name);
        }
    }
    j["files"] = files;
    return j;
}

// A Clarity value as JSON, for the chain's view: a tuple is an object whose kebab-case field names
// become snake_case ("min-confidence" → "min_confidence"), an optional is null or its value, a
// uint or int is a JSON number when |v| <= 2^53 (every double holds it exactly) and a decimal
// string beyond, a buffer is lowercase hex, a principal its address, a string its text.
json clarity_json(const stacks::Value& v) {
    using stacks::ValueKind;
    constexpr stacks::UInt128 kExact = stacks::UInt128(1) << 53;
    switch (v.kind()) {
        case ValueKind::kUInt:
            return v.as_uint() <= kExact ? json(static_cast<std::uint64_t>(v.as_uint()))
                                         : json(stacks::uint128_to_string(v.as_uint()));
        case ValueKind::kInt: {
            const stacks::Int128 i = v.as_int();
            const bool exact = i >= -static_cast<stacks::Int128>(kExact) &&
                               i <= static_cast<stacks::Int128>(kExact);
            return exact ? json(static_cast<std::int64_t>(i)) : json(stacks::int128_to_string(i));
        }
        case ValueKind::kTrue:
        case ValueKind::kFalse:
            return v.as_bool();
        case ValueKind::kBuffer:
            return to_hex(v.bytes());
        case ValueKind::kStandardPrincipal:
        case ValueKind::kContractPrincipal: {
            // Clarity notation is 'ST...; the address itself is what clients compare.
            std::string text = v.to_string();
            if (!text.empty() && text.front() == '\'')
                text.erase(0, 1);
            return text;
        }
        case ValueKind::kNone:
            return nullptr;
        case ValueKind::kSome:
            return clarity_json(v.inner());
        case ValueKind::kOk:
        case ValueKind::kErr:
            return json{{v.kind() == ValueKind::kOk ? "ok" : "err", clarity_json(v.inner())}};
        case ValueKind::kList: {
            json items = json::array();
            for (const auto& item : v.items())
                items.push_back(clarity_json(item));
            return items;
        }
        case ValueKind::kTuple: {
            json o = json::object();
            for (const auto& [name, field] : v.fields()) {
                std::string key = name;
                std::replace(key.begin(), key.end(), '-', '_');
                o[key] = clarity_json(field);
            }
            return o;
        }
        case ValueKind::kStringAscii:
        case ValueKind::kStringUtf8:
            return v.text();
    }
    return nullptr;
}

// A principal's standing as GET /api/chain/professionals answers it: the on-chain record, the
// roles, and the professional's status in the contract's words ("active", or "inactive" with the
// error a submission would get: ERR-NOT-VERIFIED, ERR-SUSPENDED, ERR-VERIFICATION-EXPIRED).
json standing_json(const chain::Standing& s) {
    json j = {{"principal", s.principal}, {"admin", s.admin}, {"verifier", s.verifier}};
    if (!s.professional) {
        j["professional"] = nullptr;
        j["status"] = "not-registered";
        j["why_inactive"] = nullptr;
        return j;
    }
    j["professional"] = clarity_json(*s.professional);
    const std::uint64_t reason = chain::uint_field(*s.professional, "inactive-reason");
    const stacks::Value* active = s.professional->field("active");
    const bool is_active = active != nullptr && active->as_bool();
    j["status"] = is_active ? "active" : "inactive";
    if (is_active || reason == 0) {
        j["why_inactive"] = nullptr;
    } else {
        const chain::ContractError* e = chain::find_contract_error(reason);
        j["why_inactive"] = {
            {"code", reason},
            {"name", e ? e->name : "unknown"},
            {"meaning", e ? e->meaning : "an error code the contract does not define"}};
    }
    return j;
}

std::optional<std::int64_t> parse_id(const std::string& text) {
    std::int64_t v = 0;
    auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
    if (ec != std::errc() || p != text.data() + text.size() || v <= 0)
        return std::nullopt;
    return v;
}

// 127.0.0.0/8, ::1 and "localhost": only this machine can connect.
bool is_loopback(const std::string& host) {
    if (host == "localhost")
        return true;
    in_addr v4{};
    if (inet_pton(AF_INET, host.c_str(), &v4) == 1)
        return (ntohl(v4.s_addr) >> 24) == 127;
    in6_addr v6{};
    return inet_pton(AF_INET6, host.c_str(), &v6) == 1 && IN6_IS_ADDR_LOOPBACK(&v6);
}

}  // namespace

void listen_socket_options(int sock) {
    httplib::default_socket_options(sock);
#ifdef SO_REUSEPORT
    const int no = 0;
    ::setsockopt(sock, SOL_SOCKET, SO_REUSEPORT, &no, sizeof no);
#endif
    // cpp-httplib sets SO_REUSEADDR only where SO_REUSEPORT is missing: set here, so a server
    // restarted while its port has connections in TIME_WAIT binds it (Linux still refuses a
    // second listener on a live port with SO_REUSEADDR alone).
    const int yes = 1;
    ::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
}

Result<std::pair<std::string, int>> parse_listen(std::string_view text, std::string_view option) {
    const auto bad = [&](const char* why) {
        return Error(
            ErrorCode::kInvalidArgument,
            std::string(option) + " " + escape_for_display(text) + ": " + why + " (ADDR:PORT)");
    };
    const auto colon = text.rfind(':');
    if (colon == std::string_view::npos)
        return bad("no port");
    std::string host(text.substr(0, colon));
    if (host.size() >= 2 && host.front() == '[' && host.back() == ']')
        host = host.substr(1, host.size() - 2);
    if (host.empty())
        host = "127.0.0.1";
    const std::string_view port_text = text.substr(colon + 1);
    int port = -1;
    auto [p, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
    if (ec != std::errc() || p != port_text.data() + port_text.size() || port < 0 || port > 65535)
        return bad("the port is not a number in 0..65535");
    if (host.find_first_of(" /\\") != std::string::npos)
        return bad("not an address");
    return std::pair{host, port};
}

// A DICOM UID as a route may name one: 1 to 64 digits and dots, no empty component (PS3.5 9.1).
bool is_dicom_uid(std::string_view text) {
    if (text.empty() || text.size() > 64 || text.front() == '.' || text.back() == '.')
        return false;
    for (std::size_t i = 0; i < text.size(); ++i) {
        const char c = text[i];
        if (c == '.' ? text[i - 1] == '.' : !std::isdigit(static_cast<unsigned char>(c)))
            return false;
    }
    return true;
}

const char* phase_name(dicom::SeriesPhase p) {
    switch (p) {
        case dicom::SeriesPhase::kReceiving:
            return "receiving";
        case dicom::SeriesPhase::kWaiting:
            return "waiting";
        case dicom::SeriesPhase::kAnalysing:
            return "analysing";
    }
    return "?";
}

json send_json_item(const ledger::PacsSend& send) {
    json j = {{"destination", send.destination},
              {"kind", send.kind},
              {"state", send.state == ledger::SendState::kSent ? "sent" : "pending"},
              {"attempts", send.attempts},
              {"created_at", send.created_at}};
    j["sent_at"] = send.sent_at ? json(*send.sent_at) : json(nullptr);
    j["last_error"] = send.last_error.empty() ? json(nullptr) : json(send.last_error);
    return j;
}

struct ApiServer::Impl {
    ServeOptions options;
    std::unique_ptr<httplib::Server> server;
    std::filesystem::path ledger_path;
    std::optional<image::SiteKey> site_key;
    // One of each for the server's lifetime: the model bundle is loaded once, here.
    std::unique_ptr<service::AnalysisService> analyses;
    std::unique_ptr<service::VerificationService> verification;
    std::unique_ptr<JobService> jobs;
    // serve --listen-dicom (declared after jobs and analyses: stopped and destroyed first).
    std::unique_ptr<dicom::Listener> listener;
    // The worst finding of each series as last computed, with the number of analysed instances
    // it was computed from (a series only grows): reports are read once per change, not per poll.
    std::mutex worst_mutex;
    std::map<std::string, std::pair<std::size_t, json>> worst_cache;
    std::unique_ptr<chain::RegistryReader> registry;  // the chain's view (bounded reads)
    std::optional<ledger::AccountStore> accounts;
    std::mutex accounts_mutex;
    std::vector<RouteInfo> routes;
    std::atomic<std::size_t> streams{0};
    std::atomic<bool> stopped{false};
    std::mutex errors_mutex;
    std::map<std::string, std::uint64_t> http_errors;  // by error code name
    std::atomic<std::uint64_t> requests{0};
    int port = 0;
    int listen_socket = -1;  // the bound socket (bind())

    using Handler = std::function<void(const httplib::Request&, httplib::Response&, const Caller*)>;

    // Who is calling: nullopt, with `res` filled (401), when the token is missing or unknown.
    std::optional<Caller> authenticate(const httplib::Request& req, httplib::Response& res) {
        const std::string header = req.get_header_value("Authorization");
        constexpr std::string_view kBearer = "bearer ";
        const auto unauthenticated = [&](const char* why) {
            res.set_header("WWW-Authenticate", "Bearer");
            send_error(res, Error(ErrorCode::kPermission, why), 401);
            return std::nullopt;
        };
        // The scheme's name is case-insensitive (RFC 9110 11.1); a token is hex of either case
        // (its digest is of the lowercase spelling `users add` printed).
        std::string token = header.size() > kBearer.size() ? header.substr(kBearer.size()) : "";
        std::string scheme = header.substr(0, std::min(header.size(), kBearer.size()));
        for (auto* text : {&scheme, &token}) {
            for (char& c : *text)
                c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        }
        if (token.empty() || scheme != kBearer)
            return unauthenticated("this endpoint needs an `Authorization: Bearer TOKEN` header");
        if (!is_lower_hex(token, 64))
            return unauthenticated("the bearer token is not 64 hex digits");
        const std::string digest = to_hex(sha256(token));
        Result<std::optional<ledger::Account>> found = std::optional<ledger::Account>{};
        {
            std::lock_guard lock(accounts_mutex);
            found = accounts->find_by_token_sha256(digest);
        }
        if (!found) {
            send_error(res, found.error());
            return std::nullopt;
        }
        if (!*found)
            return unauthenticated("unknown bearer token");
        auto role = parse_role((*found)->role);
        if (!role)
            return unauthenticated("the account has an unknown role");
        return Caller{**found, *role};
    }

    void add(const char* method, std::string path, const std::string& pattern,
             std::optional<Permission> permission, Handler handler) {
        routes.push_back(RouteInfo{method, path, permission});
        auto wrapped = [this, permission, handler = std::move(handler)](const httplib::Request& req,
                                                                        httplib::Response& res) {
            if (!permission) {
                handler(req, res, nullptr);
                return;
            }
            auto caller = authenticate(req, res);
            if (!caller)
                return;
            if (!allows(caller->role, *permission)) {
                send_error(
                    res, Error(ErrorCode::kPermission, std::string("a ") + to_string(caller->role) +
                                                           " may not " + to_string(*permission)));
                return;
            }
            handler(req, res, &*caller);
        };
        const std::string m = method;
        if (m == "GET")
            server->Get(pattern, wrapped);
        else if (m == "POST")
            server->Post(pattern, wrapped);
        else if (m == "DELETE")
            server->Delete(pattern, wrapped);
    }

    Result<ledger::Ledger> ledger() { return ledger::Ledger::open(ledger_path); }

    // The analysis a route's {id} names; kNotFound ("no such analysis") for an id the ledger
    // does not hold, the ledger's own error when it cannot be read.
    Result<ledger::Analysis> analysis(const std::string& id_text) {
        auto id = parse_id(id_text);
        auto book = ledger();
        if (!book)
            return book.error();
        auto a = id ? book->get(*id) : Result<ledger::Analysis>(Error(ErrorCode::kNotFound, ""));
        if (!a && a.error().code() != ErrorCode::kNotFound)
            return a.error();
        if (!a)
            return Error(ErrorCode::kNotFound, "no such analysis");
        return a;
    }

    // The de-identified image of a report folder (image.deid.dcm), windowed as the model's
    // preprocessing windows it, as an 8-bit grey PNG at the image's own size: the background
    // the web UI lays the saliency map over. kNotFound when the folder has no image.
    Result<std::vector<std::uint8_t>> render_image_png(const fs::path& report_dir);
    // The verdict of one image hash (VerificationService: the object `verify --json` prints).
    void send_verification(httplib::Response& res, const service::HashTarget& target);
    void verify_upload(const httplib::Request& req, httplib::Response& res);
    // POST /api/analyses/{id}/review and /retract: signed with the caller's key.
    void review(const httplib::Request& req, httplib::Response& res, const Caller& caller,
                bool retract);
    // {"analyses": [...]}: the ledger's analyses in `state` (all: nullopt), oldest first, at most
    // `limit` (0: no limit).
    void send_analyses(httplib::Response& res, std::optional<ledger::AnalysisState> state,
                       std::size_t limit) {
        auto book = ledger();
        auto list =
            book ? book->list(state, limit) : Result<std::vector<ledger::Analysis>>(book.error());
        if (!list) {
            send_error(res, list.error());
            return;
        }
        json items = json::array();
        for (const auto& a : *list)
            items.push_back(analysis_json(a));
        send_json(res, {{"analyses", items}});
    }
    // A read of the chain's view failed: a principal that is no principal is the client's
    // (400); anything else is the node's: 504 when it did not answer in time, else 502, with the
    // error's own code and message.
    void send_chain_error(httplib::Response& res, const Error& e) {
        if (e.code() == ErrorCode::kInvalidArgument)
            send_error(res, e);
        else
            send_error(res, e, e.code() == ErrorCode::kTimeout ? 504 : 502);
    }
    // The caller's signing key; nullopt, with `res` filled (no-key 400, or the key file's
    // error), when there is none to use.
    std::optional<stacks::PrivateKey> signing_key(const Caller& caller, httplib::Response& res);
    // A signed call's outcome: 200 {"action","txid","block_height","status":"success"}, or the
    // status of outcome_status()'s error (409 `contract` with `contract_error` naming the
    // contract's ERR-..., ...) with the same fields and "error".
    void send_outcome(httplib::Response& res, const Result<chain::CallOutcome>& outcome);
    // POST /api/chain/...: an admin's registry call, signed with the caller's key.
    void registry_write(httplib::Response& res, const Caller& caller,
                        const Result<chain::RegistryCall>& call);
    // POST /api/chain/professionals/{principal}/{verify,suspend,reinstate}: a verifier's act.
    void credential(const httplib::Request& req, httplib::Response& res, const Caller& caller,
                    const std::string& verb);
    // GET /api/chain/...: parameters, models, professionals; POST: the writes above.
    void register_chain_routes();
    void register_routes();
    std::string metrics_text();
    // GET /api/pacs/...: nullptr, with `res` filled (404 naming --listen-dicom), without the
    // listener; else a store on the ledger (or `res` filled with its error).
    std::optional<ledger::PacsStore> pacs_store(httplib::Response& res);
    // One series' status object (docs/api.md, "PACS"); `detail` adds its instances.
    json series_json(ledger::PacsStore& store, const ledger::PacsSeries& series,
                     const std::map<std::string, dicom::SeriesPhase>& phases, bool detail);
    // The worst finding among a series' analysed instances (report::worst_image's order), or null.
    json worst_finding(const ledger::PacsSeries& series,
                       const std::vector<ledger::PacsInstance>& rows);
    void register_pacs_routes();
    // serve --listen-dicom: the listener on the server's services, for options.dicom_account.
    Status start_listener();
    void upload(const httplib::Request& req, httplib::Response& res, const Caller& caller);
    void events(const httplib::Request& req, httplib::Response& res);
    // The job with its analyses' anchoring state, as sent by GET /api/jobs/{id} and its events.
    json job_json(const Job& job);
};

json ApiServer::Impl::job_json(const Job& job) {
    json files = json::array();
    auto book = ledger();
    std::size_t analysed = 0;
    for (std::size_t i = 0; i < job.files.size(); ++i) {
        const auto& f = job.files[i];
        json jf = {{"index", i}, {"state", f.state}};
        if (f.state == "analysed" || f.state == "failed")
            ++analysed;
        if (f.analysis_id) {
            jf["analysis_id"] = *f.analysis_id;
            if (book) {
                if (auto a = book->get(*f.analysis_id); a) {
                    jf["finding"] = a->finding;
                    jf["confidence_bp"] = a->confidence_bp;
                    jf["anchoring"] = anchoring_state(a->state);
                    jf["txid"] = a->txid ? json(*a->txid) : json(nullptr);
                    jf["block_height"] = a->block_height ? json(*a->block_height) : json(nullptr);
                }
            }
        }
        if (!f.error_code.empty())
            jf["error"] = {{"code", f.error_code}, {"message", f.error_message}};
        files.push_back(jf);
    }
    const std::size_t total = job.files.size();
    json j = {
        {"id", job.id},
        {"owner", job.owner},
        {"state", job.state},
        {"created_at", job.created_at},
        {"progress",
         {{"done", analysed}, {"total", total}, {"percent", total ? analysed * 100 / total : 100}}},
        {"files", files}};
    if (job.state == "interrupted") {
        // What the client must send again: the files a restart cut off before analysis.
        json missing = json::array();
        for (std::size_t i = 0; i < job.files.size(); ++i) {
            if (job.files[i].state == "interrupted")
                missing.push_back(i);
        }
        j["not_analysed"] = missing;
    }
    return j;
}

void ApiServer::Impl::upload(const httplib::Request& req, httplib::Response& res,
                             const Caller& caller) {
    if (!req.is_multipart_form_data()) {
        send_error(res, Error(ErrorCode::kUnsupported,
                              "an upload is multipart/form-data with one `file` part per image"));
        return;
    }
    std::vector<std::string> parts;
    for (const auto& [name, part] : req.files) {
        if (name != "file") {
            send_error(res, Error(ErrorCode::kInvalidArgument,
                                  "unexpected form field (only `file` parts are accepted)"));
            return;
        }
        if (!acceptable_part_type(part.content_type)) {
            send_error(res, Error(ErrorCode::kUnsupported,
                                  "a part's Content-Type is not DICOM, PNG, JPEG or TIFF"));
            return;
        }
    }
    const std::size_t count = req.files.count("file");
    if (count == 0) {
        send_error(res, Error(ErrorCode::kNoInput, "the upload holds no `file` part"));
        return;
    }
    if (count > options.max_files) {
        send_error(res, Error(ErrorCode::kTooLarge, std::to_string(count) +
                                                        " files in one upload; at most " +
                                                        std::to_string(options.max_files)));
        return;
    }
    if (caller.account.principal.empty()) {
        send_error(res, Error(ErrorCode::kNoKey,
                              "no signing key is bound to this account (medanchor users add "
                              "--key-file)"));
        return;
    }
    // multimap order for one key is insertion order: the parts stay in upload order.
    auto range = req.files.equal_range("file");
    for (auto it = range.first; it != range.second; ++it)
        parts.push_back(it->second.content);
    auto id =
        jobs->submit(caller.account.name,
                     Signer{caller.account.principal, caller.account.key_file, caller.account.name},
                     std::move(parts));
    if (!id) {
        send_error(res, id.error(), id.error().code() == ErrorCode::kTimeout ? 503 : 0);
        return;
    }
    res.set_header("Location", "/api/jobs/" + *id);
    send_json(res, {{"id", *id}, {"files", count}, {"events", "/api/jobs/" + *id + "/events"}},
              202);
}

void ApiServer::Impl::events(const httplib::Request& req, httplib::Response& res) {
    const std::string id = req.matches[1];
    if (!jobs->get(id)) {
        send_error(res, Error(ErrorCode::kNotFound, "no such job"));
        return;
    }
    // Each stream holds a worker thread while it is open: a bound keeps threads for requests.
    if (streams.fetch_add(1) >= options.max_event_streams) {
        streams.fetch_sub(1);
        send_error(res, Error(ErrorCode::kTooLarge, "too many event streams open; try later"), 503);
        return;
    }
    struct State {
        std::uint64_t seen = 0;
        std::string last;
        bool first = true;
    };
    auto state = std::make_shared<State>();
    res.set_header("Cache-Control", "no-cache");
    res.set_chunked_content_provider(
        "text/event-stream",
        [this, id, state](std::size_t, httplib::DataSink& sink) {
            auto job = state->first
                           ? jobs->get(id)
                           : jobs->wait_change(id, state->seen, std::chrono::milliseconds(500));
            state->first = false;
            if (!job) {
                sink.done();
                return true;
            }
            state->seen = job->version;
            const json j = job_json(*job);
            std::string text = j.dump();
            if (text != state->last) {
                state->last = text;
                std::string event = "event: job\ndata: ";
                event += text;
                event += "\n\n";
                if (!sink.write(event.data(), event.size()))
                    return false;
            }
            // Finished when every file is analysed or failed and no analysis waits for the
            // chain any more (confirmed, held for review, or failed).
            bool finished = job->state == "done" || job->state == "interrupted";
            for (const auto& f : j["files"]) {
                const std::string a = f.value("anchoring", "");
                finished = finished && a != "recorded" && a != "sent";
            }
            if (finished || stopped.load())
                sink.done();
            return true;
        },
        [this](bool) { streams.fetch_sub(1); });
}

std::optional<ledger::PacsStore> ApiServer::Impl::pacs_store(httplib::Response& res) {
    if (!listener) {
        send_error(res, Error(ErrorCode::kNotFound,
                              "the DICOM listener is not running: start the server with "
                              "--listen-dicom [AE@]PORT (docs/pacs.md)"));
        return std::nullopt;
    }
    auto store = ledger::PacsStore::open(ledger_path);
    if (!store) {
        send_error(res, store.error());
        return std::nullopt;
    }
    return std::move(*store);
}

json ApiServer::Impl::worst_finding(const ledger::PacsSeries& series,
                                    const std::vector<ledger::PacsInstance>& rows) {
    if (series.analysed == 0)
        return nullptr;
    {
        std::lock_guard lock(worst_mutex);
        if (auto it = worst_cache.find(series.series_uid);
            it != worst_cache.end() && it->second.first == series.analysed)
            return it->second.second;
    }
    auto book = ledger();
    if (!book)
        return nullptr;
    report::SeriesSummary summary;
    std::vector<std::int64_t> ids;
    for (const auto& row : rows) {
        if (!row.analysis_id)
            continue;
        auto a = book->get(*row.analysis_id);
        auto rep =
            a ? report::from_json(a->report_json) : Result<report::AnalysisReport>(a.error());
        if (!rep || !rep->image.dicom)
            continue;
        summary.images.push_back(report::SeriesImage{*rep, *rep->image.dicom});
        ids.push_back(*row.analysis_id);
    }
    if (summary.images.empty())
        return nullptr;
    const std::size_t w = report::worst_image(summary);
    const auto& r = summary.images[w].report.result;
    json out = {{"analysis_id", ids[w]},
                {"finding", r.finding_code},
                {"display", r.finding_display},
                {"confidence_bp", r.confidence_bp}};
    std::lock_guard lock(worst_mutex);
    worst_cache[series.series_uid] = {series.analysed, out};
    return out;
}

json ApiServer::Impl::series_json(ledger::PacsStore& store, const ledger::PacsSeries& series,
                                  const std::map<std::string, dicom::SeriesPhase>& phases,
                                  bool detail) {
    // Waiting in the spool: the listener's phase (a series spooled by an earlier run and not yet
    // looked at waits); otherwise done: summarised when an instance was analysed.
    std::string state;
    if (series.spooled > 0) {
        const auto it = phases.find(series.series_uid);
        state = it != phases.end() ? phase_name(it->second) : "waiting";
    } else {
        state = series.analysed > 0 ? "summarised" : "failed";
    }
    json j = {{"series_uid", series.series_uid},
              {"study_uid", series.study_uid},
              {"state", state},
              {"instances",
               {{"received", series.instances},
                {"analysed", series.analysed},
                {"failed", series.failed},
                {"waiting", series.spooled}}},
              {"first_received_at", series.first_received_at},
              {"last_received_at", series.last_received_at}};
    j["last_analysed_at"] =
        series.last_analysed_at ? json(*series.last_analysed_at) : json(nullptr);
    auto rows = store.series(series.series_uid);
    j["worst"] = rows ? worst_finding(series, *rows) : json(nullptr);
    json sends = json::array();
    if (auto list = store.series_sends(series.series_uid); list) {
        for (const auto& send : *list)
            sends.push_back(send_json_item(send));
    }
    j["sends"] = sends;
    if (detail && rows) {
        auto book = ledger();
        json instances = json::array();
        for (const auto& row : *rows) {
            // Never original_uids (they stay in the ledger) nor the spool path.
            json i = {{"sop_uid", row.sop_uid},
                      {"sop_class_uid", row.sop_class_uid},
                      {"received_at", row.received_at}};
            i["state"] = row.analysis_id ? "analysed" : row.error ? "failed" : "waiting";
            i["analysis_id"] = row.analysis_id ? json(*row.analysis_id) : json(nullptr);
            i["error"] = row.error ? json(*row.error) : json(nullptr);
            if (row.analysis_id && book) {
                if (auto a = book->get(*row.analysis_id); a) {
                    i["finding"] = a->finding;
                    i["confidence_bp"] = a->confidence_bp;
                    i["anchoring"] = anchoring_state(a->state);
                }
            }
            instances.push_back(i);
        }
        j["instance_list"] = instances;
    }
    return j;
}

void ApiServer::Impl::register_pacs_routes() {
    add("GET", "/api/pacs/series", "/api/pacs/series", Permission::kRead,
        [this](const httplib::Request& req, httplib::Response& res, const Caller*) {
            std::size_t limit = 50, offset = 0;
            if (req.has_param("limit")) {
                auto l = parse_id(req.get_param_value("limit"));
                if (!l || *l < 1 || *l > 1000) {
                    send_error(res, Error(ErrorCode::kInvalidArgument, "limit: 1..1000"));
                    return;
                }
                limit = static_cast<std::size_t>(*l);
            }
            if (req.has_param("offset")) {
                auto n = req.get_param_value("offset") == "0"
                             ? std::optional<std::int64_t>(0)
                             : parse_id(req.get_param_value("offset"));
                if (!n || *n < 0) {
                    send_error(res, Error(ErrorCode::kInvalidArgument, "offset: a number from 0"));
                    return;
                }
                offset = static_cast<std::size_t>(*n);
            }
            auto store = pacs_store(res);
            if (!store)
                return;
            auto page = store->series_page(limit, offset);
            auto total = page ? store->series_count() : Result<std::size_t>(page.error());
            if (!total) {
                send_error(res, total.error());
                return;
            }
            const auto phases = listener->phases();
            json items = json::array();
            for (const auto& series : *page)
                items.push_back(series_json(*store, series, phases, false));
            send_json(res,
                      {{"series", items}, {"total", *total}, {"limit", limit}, {"offset", offset}});
        });
    add("GET", "/api/pacs/series/{uid}", "/api/pacs/series/([^/]{1,100})", Permission::kRead,
        [this](const httplib::Request& req, httplib::Response& res, const Caller*) {
            const std::string uid = req.matches[1];
            if (!is_dicom_uid(uid)) {
                send_error(res, Error(ErrorCode::kInvalidArgument,
                                      "the series UID: 1 to 64 digits and dots"));
                return;
            }
            auto store = pacs_store(res);
            if (!store)
                return;
            auto series = store->series_summary(uid);
            if (!series) {
                send_error(res, series.error());
                return;
            }
            if (!*series) {
                send_error(res, Error(ErrorCode::kNotFound, "no such series"));
                return;
            }
            send_json(res, series_json(*store, **series, listener->phases(), true));
        });
    add("GET", "/api/pacs/stats", "/api/pacs/stats", Permission::kRead,
        [this](const httplib::Request&, httplib::Response& res, const Caller*) {
            if (!pacs_store(res))
                return;
            const auto s = listener->stats();
            send_json(res, {{"port", listener->port()},
                            {"instances_received", s.instances_received},
                            {"instances_duplicate", s.instances_duplicate},
                            {"instances_ignored", s.instances_ignored},
                            {"instances_refused", s.instances_refused},
                            {"images_analysed", s.images_analysed},
                            {"images_failed", s.images_failed},
                            {"series_analysed", s.series_analysed},
                            {"sends_ok", s.sends_ok},
                            {"sends_failed", s.sends_failed}});
        });
}

std::string ApiServer::Impl::metrics_text() {
    std::string out;
    const auto line = [&](const std::string& s) {
        out += s;
        out += '\n';
    };
    line("# HELP medanchor_images_analysed_total Images analysed since the server started.");
    line("# TYPE medanchor_images_analysed_total counter");
    line("medanchor_images_analysed_total " + std::to_string(jobs->images_analysed()));
    line("# HELP medanchor_queue_depth Uploaded images waiting to be analysed.");
    line("# TYPE medanchor_queue_depth gauge");
    line("medanchor_queue_depth " + std::to_string(jobs->queue_depth()));
    if (auto book = ledger(); book) {
        if (auto counts = book->counts(); counts) {
            line("# HELP medanchor_analyses Analyses in the ledger, by state.");
            line("# TYPE medanchor_analyses gauge");
            for (auto s : ledger::kAnalysisStates) {
                const auto it = counts->find(s);
                line(std::string("medanchor_analyses{state=\"") + ledger::to_string(s) + "\"} " +
                     std::to_string(it == counts->end() ? 0 : it->second));
            }
        }
        // The age of the oldest analysis recorded and not yet confirmed on chain.
        const auto lag = ledger::anchoring_lag_seconds(*book);
        line(
            "# HELP medanchor_anchoring_lag_seconds Age of the oldest analysis not yet confirmed.");
        line("# TYPE medanchor_anchoring_lag_seconds gauge");
        line("medanchor_anchoring_lag_seconds " + std::to_string(lag ? *lag : 0));
    }
    line("# HELP medanchor_anchoring_passes_total Anchoring passes, per signing account.");
    line("# TYPE medanchor_anchoring_passes_total counter");
    const auto anchoring = jobs->anchoring();
    for (const auto& a : anchoring) {
        line("medanchor_anchoring_passes_total{analyst=\"" + a.principal + "\"} " +
             std::to_string(a.passes));
    }
    line(
        "# HELP medanchor_anchoring_waiting Accounts whose last anchoring pass failed (it "
        "retries), by kind.");
    line("# TYPE medanchor_anchoring_waiting gauge");
    for (const auto& a : anchoring) {
        if (a.last_error) {
            line("medanchor_anchoring_waiting{analyst=\"" + a.principal + "\",kind=\"" +
                 error_info(a.last_error->code()).name + "\"} 1");
        }
    }
    line("# HELP medanchor_errors_total Failed images and requests, by kind.");
    line("# TYPE medanchor_errors_total counter");
    auto errors = jobs->errors_by_kind();
    {
        std::lock_guard lock(errors_mutex);
        for (const auto& [k, n] : http_errors)
            errors[k] += n;
    }
    for (const auto& [k, n] : errors)
        line("medanchor_errors_total{kind=\"" + k + "\"} " + std::to_string(n));
    line("# HELP medanchor_http_requests_total Requests answered.");
    line("# TYPE medanchor_http_requests_total counter");
    line("medanchor_http_requests_total " + std::to_string(requests.load()));
    if (listener)
        out += dicom::metrics_text(listener->stats(), ledger_path);
    return out;
}

Result<std::vector<std::uint8_t>> ApiServer::Impl::render_image_png(const fs::path& report_dir) {
    auto img = image::read_image(report_dir / "image.deid.dcm");
    if (!img)
        return img.error();
    auto input = service::to_model_input(*img, "image.deid.dcm");
    if (!input)
        return input.error();
    auto prepared = inference::preprocess(*input, analyses->bundle().manifest);
    if (!prepared)
        return prepared.error();
    // An all-zero saliency map: render_saliency_png then blends nothing over the windowed
    // image, which is exactly the plain rendering (one PNG encoder for both).
    inference::SaliencyMap none;
    none.rows = prepared->content_y + prepared->content_height;
    none.columns = prepared->content_x + prepared->content_width;
    none.values.assign(static_cast<std::size_t>(none.rows) * none.columns, 0.0f);
    return inference::render_saliency_png(none, *prepared);
}

void ApiServer::Impl::send_verification(httplib::Response& res, const service::HashTarget& target) {
    auto v = verification->verify(target, nullptr);
    if (!v) {
        send_error(res, v.error());
        return;
    }
    // A verdict is an answer, whatever it says: 200 with the verdict; a local report that could
    // not be read is in its "error" member (the check is incomplete).
    res.set_content(service::to_json(*v), "application/json");
}

void ApiServer::Impl::verify_upload(const httplib::Request& req, httplib::Response& res) {
    if (!req.is_multipart_form_data() || req.files.count("file") != 1 || req.files.size() != 1) {
        send_error(res, Error(ErrorCode::kUnsupported,
                              "verification takes multipart/form-data with exactly one `file` "
                              "part: the image"));
        return;
    }
    const auto& part = req.files.find("file")->second;
    if (!acceptable_part_type(part.content_type)) {
        send_error(res, Error(ErrorCode::kUnsupported,
                              "the part's Content-Type is not DICOM, PNG, JPEG or TIFF"));
        return;
    }
    const std::string& bytes = part.content;
    if (image::sniff_magic({reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size()}) ==
        image::Magic::kUnknown) {
        send_error(res, Error(ErrorCode::kUnsupported,
                              "the image: not a DICOM, PNG, JPEG or TIFF image (by its first "
                              "bytes)"));
        return;
    }
    // Hashed with the site key, as analyses are: the keyed hash the chain holds. Nothing of the
    // upload is stored.
    auto target = service::hash_target(
        service::ImageSource::bytes(std::vector<std::uint8_t>(bytes.begin(), bytes.end()),
                                    "the image"),
        &*site_key);
    if (!target) {
        send_error(res, target.error());
        return;
    }
    target->label = "upload";
    send_verification(res, *target);
}

void ApiServer::Impl::review(const httplib::Request& req, httplib::Response& res,
                             const Caller& caller, bool retract) {
    auto body = json::parse(req.body, nullptr, false);
    if (!body.is_object()) {
        send_error(res, Error(ErrorCode::kInvalidArgument, "the body is not a JSON object"));
        return;
    }
    bool confirm = false;
    std::uint64_t reason = 1;
    Digest note_digest{};
    if (!retract) {
        const auto given = body.find("decision");
        const std::string decision =
            given != body.end() && given->is_string() ? given->get<std::string>() : "";
        if (decision != "confirm" && decision != "dispute") {
            send_error(res,
                       Error(ErrorCode::kInvalidArgument, "decision: \"confirm\" or \"dispute\""));
            return;
        }
        confirm = decision == "confirm";
        const auto note = body.find("note");
        if (note == body.end() || !note->is_string() || note->get<std::string>().empty() ||
            note->get<std::string>().size() > kMaxNoteBytes) {
            send_error(res,
                       Error(ErrorCode::kInvalidArgument,
                             "note: the reviewer's note, 1 to " + std::to_string(kMaxNoteBytes) +
                                 " bytes (its SHA-256 goes on chain, never the note)"));
            return;
        }
        const auto d = sha256(note->get<std::string>());
        std::copy(d.begin(), d.end(), note_digest.begin());
    } else if (body.contains("reason")) {
        if (!body["reason"].is_number_unsigned() || body["reason"].get<std::uint64_t>() == 0 ||
            body["reason"].get<std::uint64_t>() > 255) {
            send_error(res, Error(ErrorCode::kInvalidArgument, "reason: a code in 1..255"));
            return;
        }
        reason = body["reason"].get<std::uint64_t>();
    }
    auto a = analysis(req.matches[1]);
    if (!a) {
        send_error(res, a.error());
        return;
    }
    // The contract refuses these too (ERR-SELF-REVIEW, ERR-NOT-AUTHOR); said here before
    // anything is signed.
    const bool own = a->analyst == caller.account.principal;
    if (!retract && own) {
        send_error(res, Error(ErrorCode::kPermission,
                              "you may not review your own analysis (retract it instead)"));
        return;
    }
    if (retract && !own) {
        send_error(
            res, Error(ErrorCode::kPermission, "only the analyst who anchored it may retract it"));
        return;
    }
    if (!a->onchain_id) {
        send_error(res, Error(ErrorCode::kNotAnchored,
                              "analysis " + std::to_string(a->id) + " is not on chain (" +
                                  ledger::to_string(a->state) +
                                  "): there is nothing to review or retract yet"));
        return;
    }
    auto key = signing_key(caller, res);
    if (!key)
        return;
    // A Merkle-anchored analysis is a leaf of a root (its onchain_id is the root's id): it is
    // reviewed with the proof written beside its report, never as the record of that id.
    auto store = ledger::MerkleStore::open(ledger_path);
    if (!store) {
        send_error(res, store.error());
        return;
    }
    auto leaf = store->leaf_of(a->id);
    if (!leaf) {
        send_error(res, leaf.error());
        return;
    }
    std::optional<chain::LeafProof> proof;
    if (*leaf) {
        if (!a->report_dir) {
            send_error(res, Error(ErrorCode::kNotFound,
                                  "analysis " + std::to_string(a->id) +
                                      " is Merkle-anchored and its report folder is unknown: "
                                      "its proof file is needed to review it"));
            return;
        }
        auto read = chain::read_proof_file(std::filesystem::path(*a->report_dir) /
                                           std::string(chain::kProofFileName));
        if (!read) {
            send_file_error(res, read.error(),
                            "the analysis' Merkle proof file is not in its report folder");
            return;
        }
        proof = std::move(*read);
    }
    // One session per request: the key's nonce is asked from the node (ReviewService's rule:
    // one thread at a time per session).
    service::ReviewService reviews(chain::ChainSession(options.chain, *key));
    auto outcome = proof ? (retract ? reviews.retract_leaf(*proof, reason)
                                    : reviews.review_leaf(*proof, confirm, note_digest))
                         : (retract ? reviews.retract(*a->onchain_id, reason)
                                    : reviews.review(*a->onchain_id, confirm, note_digest));
    send_outcome(res, outcome);
}

std::optional<stacks::PrivateKey> ApiServer::Impl::signing_key(const Caller& caller,
                                                               httplib::Response& res) {
    if (caller.account.principal.empty() || caller.account.key_file.empty()) {
        send_error(res, Error(ErrorCode::kNoKey,
                              "no signing key is bound to this account (medanchor users add "
                              "--key-file)"));
        return std::nullopt;
    }
    auto key = stacks::read_key_file(caller.account.key_file);
    if (!key) {
        send_error(res, key.error());
        return std::nullopt;
    }
    return std::move(*key);
}

void ApiServer::Impl::send_outcome(httplib::Response& res,
                                   const Result<chain::CallOutcome>& outcome) {
    if (!outcome) {
        send_error(res, outcome.error());
        return;
    }
    json j = {{"action", outcome->action}, {"txid", outcome->txid}};
    if (outcome->confirmed) {
        const auto& status = outcome->confirmed->status;
        j["block_height"] = status.block_height != 0 ? json(status.block_height) : json(nullptr);
        // The contract's refusal by name, for a client to act on (ERR-SUSPENDED, ...).
        if (status.result) {
            if (auto refusal = chain::contract_refusal(*status.result)) {
                const chain::ContractError* e = chain::find_contract_error(refusal->code);
                j["contract_error"] = {{"code", refusal->code},
                                       {"name", e ? e->name : "unknown"},
                                       {"meaning", e ? e->meaning : "not a code of the contract"}};
            }
        }
    }
    if (auto s = chain::outcome_status(*outcome); !s) {
        json e = {{"code", error_info(s.error().code()).name}, {"message", s.error().message()}};
        j["error"] = e;
        send_json(res, j, error_info(s.error().code()).http_status);
        return;
    }
    j["status"] = "success";
    send_json(res, j);
}

void ApiServer::Impl::registry_write(httplib::Response& res, const Caller& caller,
                                     const Result<chain::RegistryCall>& call) {
    if (!call) {
        send_error(res, call.error());
        return;
    }
    auto key = signing_key(caller, res);
    if (!key)
        return;
    // One session per request (its nonce is asked from the node), as for reviews.
    chain::ChainSession session(options.chain, *key);
    send_outcome(res, chain::submit(session, *call, /*wait=*/true));
}

void ApiServer::Impl::credential(const httplib::Request& req, httplib::Response& res,
                                 const Caller& caller, const std::string& verb) {
    const std::string principal = req.matches[1];
    if (!stacks::Value::parse_principal(principal)) {
        send_error(res, Error(ErrorCode::kInvalidArgument,
                              escape_for_display(principal) + ": not a Stacks principal"));
        return;
    }
    auto body = json::parse(req.body.empty() ? "{}" : req.body, nullptr, false);
    if (!body.is_object()) {
        send_error(res, Error(ErrorCode::kInvalidArgument, "the body is not a JSON object"));
        return;
    }
    std::uint64_t reason = 1;
    if (body.contains("reason")) {
        if (!body["reason"].is_number_unsigned() || body["reason"].get<std::uint64_t>() > 255) {
            send_error(res, Error(ErrorCode::kInvalidArgument, "reason: a code in 0..255"));
            return;
        }
        reason = body["reason"].get<std::uint64_t>();
    }
    std::uint64_t days = 0;
    if (verb == "verify") {
        if (!body.contains("expires_in_days") || !body["expires_in_days"].is_number_unsigned()) {
            send_error(res, Error(ErrorCode::kInvalidArgument,
                                  "expires_in_days: how long the verification runs, 1 to 36500 "
                                  "days from the chain's latest block"));
            return;
        }
        days = body["expires_in_days"].get<std::uint64_t>();
        if (days == 0 || days > 36500) {
            send_error(res, Error(ErrorCode::kInvalidArgument, "expires_in_days: 1 to 36500"));
            return;
        }
    }
    auto key = signing_key(caller, res);
    if (!key)
        return;
    service::ReviewService reviews(chain::ChainSession(options.chain, *key));
    if (verb == "verify") {
        // From the chain's clock, which the contract compares the expiry with.
        auto expiry = chain::expiry_in_days(reviews.session().node(), days, nullptr);
        if (!expiry) {
            send_chain_error(res, expiry.error());
            return;
        }
        send_outcome(res, reviews.verify_professional(principal, *expiry, reason));
    } else if (verb == "suspend") {
        send_outcome(res, reviews.suspend_professional(principal, reason));
    } else {
        send_outcome(res, reviews.reinstate_professional(principal, reason));
    }
}

void ApiServer::Impl::register_chain_routes() {
    add("GET", "/api/chain/parameters", "/api/chain/parameters", Permission::kRead,
        [this](const httplib::Request&, httplib::Response& res, const Caller*) {
            auto p = registry->parameters();
            if (!p) {
                send_chain_error(res, p.error());
                return;
            }
            send_json(res,
                      {{"contract", options.chain.contract_id}, {"parameters", clarity_json(*p)}});
        });
    add("GET", "/api/chain/models", "/api/chain/models", Permission::kRead,
        [this](const httplib::Request& req, httplib::Response& res, const Caller*) {
            std::int64_t start = 1, limit = 20;
            if (req.has_param("start")) {
                auto s = parse_id(req.get_param_value("start"));
                if (!s || *s > (std::int64_t{1} << 53)) {
                    send_error(res,
                               Error(ErrorCode::kInvalidArgument, "start: a model id, 1 to 2^53"));
                    return;
                }
                start = *s;
            }
            if (req.has_param("limit")) {
                auto l = parse_id(req.get_param_value("limit"));
                if (!l || *l > kMaxModelPage) {
                    send_error(res, Error(ErrorCode::kInvalidArgument,
                                          "limit: 1.." + std::to_string(kMaxModelPage)));
                    return;
                }
                limit = *l;
            }
            auto page = registry->models(static_cast<std::uint64_t>(start),
                                         static_cast<std::uint64_t>(limit));
            if (!page) {
                send_chain_error(res, page.error());
                return;
            }
            json models = json::array();
            for (const auto& m : page->models) {
                json j = {{"id", m.id}};
                j.update(clarity_json(m.record));
                models.push_back(j);
            }
            const std::uint64_t next = static_cast<std::uint64_t>(start + limit);
            send_json(res, {{"model_count", page->model_count},
                            {"start", start},
                            {"models", models},
                            {"next", next <= page->model_count ? json(next) : json(nullptr)}});
        });
    add("GET", "/api/chain/professionals", "/api/chain/professionals", Permission::kRead,
        [this](const httplib::Request&, httplib::Response& res, const Caller*) {
            // The principals this server knows: each account's bound key's (docs/api.md says
            // why not the chain's whole register).
            Result<std::vector<ledger::Account>> list = std::vector<ledger::Account>{};
            {
                std::lock_guard lock(accounts_mutex);
                list = accounts->list();
            }
            if (!list) {
                send_error(res, list.error());
                return;
            }
            std::map<std::string, json> by_principal;
            for (const auto& a : *list) {
                if (a.principal.empty())
                    continue;
                by_principal[a.principal]["accounts"].push_back(
                    {{"name", a.name}, {"role", a.role}});
            }
            json items = json::array();
            for (auto& [principal, local] : by_principal) {
                auto s = registry->standing(principal);
                if (!s) {
                    send_chain_error(res, s.error());
                    return;
                }
                json j = standing_json(*s);
                j["accounts"] = local["accounts"];
                items.push_back(j);
            }
            send_json(res, {{"professionals", items}});
        });
    add("GET", "/api/chain/professionals/{principal}", "/api/chain/professionals/([^/]{1,200})",
        Permission::kRead,
        [this](const httplib::Request& req, httplib::Response& res, const Caller*) {
            auto s = registry->standing(req.matches[1]);
            if (!s) {
                send_chain_error(res, s.error());
                return;
            }
            if (s->unknown()) {
                send_error(res, Error(ErrorCode::kNotFound,
                                      s->principal +
                                          " is neither a registered professional nor a verifier "
                                          "or admin of the contract"));
                return;
            }
            send_json(res, standing_json(*s));
        });
    for (const char* verb : {"verify", "suspend", "reinstate"}) {
        add("POST", std::string("/api/chain/professionals/{principal}/") + verb,
            std::string("/api/chain/professionals/([^/]{1,200})/") + verb, Permission::kCredential,
            [this, verb](const httplib::Request& req, httplib::Response& res, const Caller* c) {
                credential(req, res, *c, verb);
            });
    }
    // A JSON object body, or a 400 said here.
    const auto object_body = [](const httplib::Request& req,
                                httplib::Response& res) -> std::optional<json> {
        auto body = json::parse(req.body, nullptr, false);
        if (!body.is_object()) {
            send_error(res, Error(ErrorCode::kInvalidArgument, "the body is not a JSON object"));
            return std::nullopt;
        }
        return body;
    };
    add("POST", "/api/chain/models", "/api/chain/models", Permission::kAdminister,
        [this, object_body](const httplib::Request& req, httplib::Response& res, const Caller* c) {
            auto body = object_body(req, res);
            if (!body)
                return;
            const auto text = [&](const char* k) {
                return (*body).contains(k) && (*body)[k].is_string() ? (*body)[k].get<std::string>()
                                                                     : std::string();
            };
            const auto& min = (*body)["min_confidence"];
            if (!min.is_null() && !min.is_number_unsigned()) {
                send_error(res, Error(ErrorCode::kInvalidArgument,
                                      "min_confidence: basis points, 0 to 10000"));
                return;
            }
            registry_write(
                res, *c,
                chain::register_model_call(text("model_hash"), text("name"), text("version"),
                                           min.is_null() ? 0 : min.get<std::uint64_t>()));
        });
    add("POST", "/api/chain/models/{id}/retire", "/api/chain/models/([0-9]{1,18})/retire",
        Permission::kAdminister,
        [this](const httplib::Request& req, httplib::Response& res, const Caller* c) {
            auto id = parse_id(req.matches[1]);
            if (!id) {
                send_error(res, Error(ErrorCode::kInvalidArgument, "the model id: 1 or more"));
                return;
            }
            registry_write(res, *c, chain::retire_model_call(static_cast<std::uint64_t>(*id)));
        });
    add("POST", "/api/chain/parameters", "/api/chain/parameters", Permission::kAdminister,
        [this, object_body](const httplib::Request& req, httplib::Response& res, const Caller* c) {
            auto body = object_body(req, res);
            if (!body)
                return;
            // One parameter per request: each is its own transaction, and its own answer.
            const bool min = body->contains("min_confidence");
            const bool period = body->contains("max_verification_period");
            const json& v = min ? (*body)["min_confidence"] : (*body)["max_verification_period"];
            if (min == period || body->size() != 1 || !v.is_number_unsigned()) {
                send_error(res, Error(ErrorCode::kInvalidArgument,
                                      "give one of min_confidence (basis points) or "
                                      "max_verification_period (seconds)"));
                return;
            }
            const auto n = v.get<std::uint64_t>();
            registry_write(
                res, *c,
                min ? chain::set_min_confidence_call(n)
                    : Result<chain::RegistryCall>(chain::set_max_verification_period_call(n)));
        });
    for (const bool pause : {true, false}) {
        add("POST", pause ? "/api/chain/pause" : "/api/chain/unpause",
            pause ? "/api/chain/pause" : "/api/chain/unpause", Permission::kAdminister,
            [this, pause](const httplib::Request&, httplib::Response& res, const Caller* c) {
                registry_write(res, *c, chain::pause_call(pause));
            });
    }
    for (const bool appoint : {true, false}) {
        add(appoint ? "POST" : "DELETE", "/api/chain/verifiers/{principal}",
            "/api/chain/verifiers/([^/]{1,200})", Permission::kAdminister,
            [this, appoint](const httplib::Request& req, httplib::Response& res, const Caller* c) {
                registry_write(res, *c, chain::verifier_call(req.matches[1], appoint));
            });
    }
}

void ApiServer::Impl::register_routes() {
    // The web UI: fixed files from memory, outside the API (and its OpenAPI document). The
    // policy keeps the page to its own origin: no inline script, nothing fetched elsewhere.
    for (const auto& asset : web_assets()) {
        auto serve = [&asset](const httplib::Request&, httplib::Response& res) {
            res.set_header("Content-Security-Policy",
                           "default-src 'self'; img-src 'self' blob:; frame-ancestors 'none'");
            res.set_content(asset.content.data(), asset.content.size(),
                            std::string(asset.media_type));
        };
        server->Get(std::string(asset.path), serve);
        if (asset.path == "/index.html")
            server->Get("/", serve);
    }
    add("GET", "/api/health", "/api/health", std::nullopt,
        [this](const httplib::Request&, httplib::Response& res, const Caller*) {
            send_json(res, {{"status", jobs->stopping() ? "stopping" : "ok"},
                            {"queue_depth", jobs->queue_depth()}});
        });
    add("GET", "/api/openapi.json", "/api/openapi.json", std::nullopt,
        [](const httplib::Request&, httplib::Response& res, const Caller*) {
            res.set_content(std::string(openapi_document()), "application/json");
        });
    add("GET", "/api/metrics", "/api/metrics", Permission::kRead,
        [this](const httplib::Request&, httplib::Response& res, const Caller*) {
            res.set_content(metrics_text(), "text/plain; version=0.0.4");
        });
    add("GET", "/api/me", "/api/me", Permission::kRead,
        [this](const httplib::Request&, httplib::Response& res, const Caller* c) {
            json perms = json::array();
            for (auto p : {Permission::kRead, Permission::kAnalyze, Permission::kReview,
                           Permission::kCredential, Permission::kAdminister}) {
                if (allows(c->role, p))
                    perms.push_back(to_string(p));
            }
            send_json(res, {{"name", c->account.name},
                            {"role", to_string(c->role)},
                            {"principal", c->account.principal},
                            {"permissions", perms},
                            {"pacs", listener != nullptr}});
        });
    add("POST", "/api/jobs", "/api/jobs", Permission::kAnalyze,
        [this](const httplib::Request& req, httplib::Response& res, const Caller* c) {
            upload(req, res, *c);
        });
    add("GET", "/api/jobs/{id}", "/api/jobs/([0-9a-f]{32})", Permission::kRead,
        [this](const httplib::Request& req, httplib::Response& res, const Caller*) {
            auto job = jobs->get(req.matches[1]);
            if (!job) {
                send_error(res, Error(ErrorCode::kNotFound, "no such job"));
                return;
            }
            send_json(res, job_json(*job));
        });
    add("GET", "/api/jobs/{id}/events", "/api/jobs/([0-9a-f]{32})/events", Permission::kRead,
        [this](const httplib::Request& req, httplib::Response& res, const Caller*) {
            events(req, res);
        });
    add("GET", "/api/analyses/{id}", "/api/analyses/([0-9]{1,18})", Permission::kRead,
        [this](const httplib::Request& req, httplib::Response& res, const Caller*) {
            auto a = analysis(req.matches[1]);
            if (!a) {
                send_error(res, a.error());
                return;
            }
            send_json(res, analysis_json(*a));
        });
    add("GET", "/api/analyses/{id}/files/{name}",
        "/api/analyses/([0-9]{1,18})/files/([a-z.]{1,32})", Permission::kRead,
        [this](const httplib::Request& req, httplib::Response& res, const Caller*) {
            const std::string name = req.matches[2];
            const ReportFile* file = nullptr;
            for (const auto& f : kReportFiles) {
                if (name == f.name)
                    file = &f;
            }
            auto a = analysis(req.matches[1]);
            if (!a && a.error().code() != ErrorCode::kNotFound) {
                send_error(res, a.error());
                return;
            }
            if (!a || file == nullptr || !a->report_dir) {
                send_error(res, Error(ErrorCode::kNotFound, "no such analysis or file"));
                return;
            }
            // The folder comes from the ledger, the name from the fixed table above.
            auto bytes = read_regular_file(fs::path(*a->report_dir) / file->name, 256u << 20);
            if (!bytes) {
                send_file_error(res, bytes.error(), "no such analysis or file");
                return;
            }
            res.set_content(reinterpret_cast<const char*>(bytes->data()), bytes->size(),
                            file->media_type);
        });
    add("GET", "/api/analyses/{id}/image.png", "/api/analyses/([0-9]{1,18})/image.png",
        Permission::kRead,
        [this](const httplib::Request& req, httplib::Response& res, const Caller*) {
            auto a = analysis(req.matches[1]);
            if (!a || !a->report_dir) {
                send_error(res, a ? Error(ErrorCode::kNotFound, "no such analysis") : a.error());
                return;
            }
            auto png = render_image_png(*a->report_dir);
            if (!png) {
                send_file_error(res, png.error(), "the analysis has no image");
                return;
            }
            res.set_content(reinterpret_cast<const char*>(png->data()), png->size(), "image/png");
        });
    add("POST", "/api/analyses/{id}/review", "/api/analyses/([0-9]{1,18})/review",
        Permission::kReview,
        [this](const httplib::Request& req, httplib::Response& res, const Caller* c) {
            review(req, res, *c, false);
        });
    add("POST", "/api/analyses/{id}/retract", "/api/analyses/([0-9]{1,18})/retract",
        Permission::kReview,
        [this](const httplib::Request& req, httplib::Response& res, const Caller* c) {
            review(req, res, *c, true);
        });
    add("POST", "/api/verify", "/api/verify", Permission::kRead,
        [this](const httplib::Request& req, httplib::Response& res, const Caller*) {
            verify_upload(req, res);
        });
    add("GET", "/api/verify/{hash}", "/api/verify/([^/]{1,100})", Permission::kRead,
        [this](const httplib::Request& req, httplib::Response& res, const Caller*) {
            // "hmac-sha256:HEX", "sha256:HEX" or 64 bare hex digits (the site's keyed hash).
            auto target = service::parse_hash_target(req.matches[1]);
            if (!target) {
                send_error(res, Error(ErrorCode::kInvalidArgument,
                                      "the hash: 64 hex digits, or hmac-sha256:HEX / sha256:HEX"));
                return;
            }
            target->label = "hash";
            send_verification(res, *target);
        });
    add("GET", "/api/ledger", "/api/ledger", Permission::kRead,
        [this](const httplib::Request& req, httplib::Response& res, const Caller*) {
            std::optional<ledger::AnalysisState> state;
            if (req.has_param("state")) {
                auto s = ledger::parse_analysis_state(req.get_param_value("state"));
                if (!s) {
                    send_error(res, Error(ErrorCode::kInvalidArgument,
                                          "state: one of needs_review, pending, broadcast, "
                                          "confirmed, failed"));
                    return;
                }
                state = *s;
            }
            std::size_t limit = 100;
            if (req.has_param("limit")) {
                auto l = parse_id(req.get_param_value("limit"));
                if (!l || *l > 1000) {
                    send_error(res, Error(ErrorCode::kInvalidArgument, "limit: 1..1000"));
                    return;
                }
                limit = static_cast<std::size_t>(*l);
            }
            send_analyses(res, state, limit);
        });
    add("GET", "/api/review-queue", "/api/review-queue", Permission::kRead,
        [this](const httplib::Request&, httplib::Response& res, const Caller*) {
            send_analyses(res, ledger::AnalysisState::kNeedsReview, 0);
        });
    register_chain_routes();
    register_pacs_routes();
}

ApiServer::ApiServer(ServeOptions options) : impl_(std::make_unique<Impl>()) {
    impl_->options = std::move(options);
    if (impl_->options.users.empty())
        impl_->options.users = impl_->options.data_dir / "users.sqlite";
}

ApiServer::~ApiServer() {
    stop();
}

Status ApiServer::bind() {
    auto& o = impl_->options;
    if (o.tls_cert.empty() != o.tls_key.empty())
        return Error(ErrorCode::kInvalidArgument, "--tls-cert and --tls-key go together");
    if (o.tls_cert.empty() && !is_loopback(o.host) && !o.allow_plain_http) {
        return Error(ErrorCode::kInvalidArgument,
                     "--listen " + escape_for_display(o.host) +
                         ": plain HTTP beyond loopback would send bearer tokens and images in "
                         "clear; give --tls-cert and --tls-key (or --allow-plain-http behind a "
                         "TLS proxy on a trusted network)");
    }
    if (o.threads < 2 || o.max_event_streams >= o.threads) {
        return Error(ErrorCode::kInvalidArgument,
                     "--threads must be at least 2 and more than the event stream limit");
    }
    if (o.dicom && ledger::is_postgres_location(o.ledger)) {
        // The listener keeps its series in the ledger's SQLite tables and analyses in process;
        // on a PostgreSQL ledger it is `medanchor listen`'s to queue what it receives.
        return Error(ErrorCode::kUnsupported,
                     "--listen-dicom with a PostgreSQL ledger: not supported (the listener's "
                     "tables are SQLite only); run `medanchor listen` beside the server");
    }
    // The state folder is private: the ledger, the reports and the site key are in it. A
    // folder that exists is made private only when it is empty or already the server's, so a
    // mistyped --data (a home folder) is refused instead of having its mode changed. Checked
    // before anything is opened in it (the account store's default file is there).
    if (auto s = check_state_folder(
            o.data_dir,
            {"ledger.sqlite", "users.sqlite", "jobs.sqlite", "site.key", "reports", "spool"},
            "--data", "server");
        !s)
        return s;
    auto accounts = ledger::AccountStore::open(o.users);
    if (!accounts)
        return accounts.error();
    impl_->accounts.emplace(std::move(*accounts));

    if (o.model.empty())
        return Error(ErrorCode::kInvalidArgument, "serve: no model bundle folder (--model)");
    auto chain = chain::resolve(o.chain);
    if (!chain)
        return chain.error();
    o.chain = *chain;
    // Each account's address was derived for the network `users add` was given; on another
    // network its key signs as another address, its uploads would carry an analyst the key never
    // anchors, and its reviews would check the wrong "own". Refused now, the user named. (A key
    // that cannot be read is said when the user first needs it, as before.)
    if (auto list = impl_->accounts->list(); !list) {
        return list.error();
    } else {
        for (const auto& a : *list) {
            if (a.key_file.empty())
                continue;
            auto key = stacks::read_key_file(a.key_file);
            if (!key)
                continue;
            const std::string signs_as = chain::ChainSession(o.chain, *key).sender();
            if (signs_as != a.principal) {
                return Error(ErrorCode::kInvalidArgument,
                             "user " + a.name + " was added acting as " + a.principal +
                                 ", but on " + to_string(o.chain.network) + " its key signs as " +
                                 signs_as + ": remove the user and add it again with --network " +
                                 to_string(o.chain.network));
            }
        }
    }
    std::error_code ec;
    fs::create_directories(o.data_dir, ec);
    if (ec)
        return Error(ErrorCode::kIo, o.data_dir.string() + ": " + ec.message());
    fs::permissions(o.data_dir, fs::perms::owner_all, fs::perm_options::replace, ec);
    if (ec)
        return Error(ErrorCode::kIo, o.data_dir.string() + ": " + ec.message());
    JobSettings settings;
    if (o.keep_originals) {
        settings.originals = o.data_dir / "originals";
        fs::create_directories(settings.originals, ec);
        if (!ec)
            fs::permissions(settings.originals, fs::perms::owner_all, fs::perm_options::replace,
                            ec);
        if (ec)
            return Error(ErrorCode::kIo, settings.originals.string() + ": " + ec.message());
    }
    const fs::path site_key_path = o.data_dir / "site.key";
    auto key = image::SiteKey::load(site_key_path);
    if (!key && key.error().code() == ErrorCode::kNoKey)
        key = image::SiteKey::create(site_key_path);
    if (!key)
        return key.error();
    impl_->site_key = *key;
    auto bundle = inference::load_model_bundle(o.model);
    if (!bundle)
        return bundle.error();
    auto store = service::ArtifactStore::open(o.data_dir / "reports");
    if (!store)
        return store.error();
    const bool queue_mode = ledger::is_postgres_location(o.ledger);
    impl_->ledger_path = o.ledger.empty() ? o.data_dir / "ledger.sqlite" : fs::path(o.ledger);
    auto analysis = service::AnalysisService::open(service::AnalysisService::Dependencies{
        std::make_shared<const inference::ModelBundle>(std::move(*bundle)), *key,
        impl_->ledger_path, std::move(*store), 0});
    if (!analysis)
        return analysis.error();
    impl_->analyses = std::move(*analysis);
    auto verification = service::VerificationService::open(o.chain, impl_->ledger_path);
    if (!verification)
        return verification.error();
    impl_->verification = std::move(*verification);
    // Reads of the chain's view: two tries of chain_read_timeout_ms at most, so a node that does
    // not answer costs a request about twice that per call, never a hang.
    impl_->registry = std::make_unique<chain::RegistryReader>(
        o.chain, stacks::RetryPolicy{2, std::chrono::milliseconds(200), 2.0,
                                     std::chrono::milliseconds(o.chain_read_timeout_ms)});

    // The job list survives a restart; what the last server left unfinished is interrupted.
    auto job_store = ledger::JobStore::open(o.data_dir / "jobs.sqlite");
    if (!job_store)
        return job_store.error();
    // In queue mode the workers go on with what the last server queued: it is followed again
    // (JobService), not interrupted.
    auto interrupted =
        queue_mode ? Result<std::size_t>(std::size_t{0}) : job_store->mark_interrupted();
    if (!interrupted)
        return interrupted.error();
    if (*interrupted > 0) {
        std::cerr << "medanchor serve: " << *interrupted << " job"
                  << (*interrupted == 1 ? " was" : "s were")
                  << " interrupted by the last shutdown; marked interrupted (GET /api/jobs/ID "
                     "lists the files not analysed)\n";
    }
    settings.chain = o.chain;
    settings.anchor = o.anchor;
    settings.settle_interval = std::chrono::milliseconds(o.anchor_interval_ms);
    if (queue_mode) {
        QueueSettings q;
        q.ledger = o.ledger;
        q.spool = fs::absolute(o.spool.empty() ? o.data_dir / "spool" : o.spool);
        q.model_sha256 = impl_->analyses->bundle().manifest.model_sha256;
        q.poll_interval = std::chrono::milliseconds(std::max(o.queue_poll_ms, 10));
        // Private when the server makes it (de-identified images are still images): workers run
        // as the server's user, or the operator makes the folder and sets its group first.
        if (!fs::exists(q.spool, ec)) {
            fs::create_directories(q.spool, ec);
            if (!ec)
                fs::permissions(q.spool, fs::perms::owner_all, fs::perm_options::replace, ec);
        }
        if (ec)
            return Error(ErrorCode::kIo, q.spool.string() + ": " + ec.message());
        // Two anchoring writers on one key would share its nonces: the elected one anchors.
        auto book = impl_->ledger();
        if (!book)
            return book.error();
        std::cerr << "medanchor serve: ledger " << book->display_name()
                  << ": uploads are de-identified into " << escape_for_display(q.spool.string())
                  << " and queued for `medanchor worker` (model " << q.model_sha256
                  << "); this server analyses and anchors nothing: `medanchor anchorer` "
                     "anchors\n";
        settings.anchor = false;
        settings.queue = std::move(q);
    }
    Impl* impl = impl_.get();
    impl_->jobs = std::make_unique<JobService>(
        *impl_->analyses, *impl_->site_key, std::move(settings),
        [impl]() {
            std::vector<Signer> out;
            std::lock_guard lock(impl->accounts_mutex);
            if (auto list = impl->accounts->list(); list) {
                for (const auto& a : *list) {
                    if (!a.key_file.empty())
                        out.push_back({a.principal, a.key_file, a.name});
                }
            }
            return out;
        },
        std::move(*job_store));

    if (!o.tls_cert.empty()) {
        // Read first for a clear error; the key must be private like every key medanchor reads.
        if (auto cert = read_regular_file(o.tls_cert, 1u << 20); !cert)
            return cert.error();
        if (auto key = read_secret_file(o.tls_key, 1u << 20); !key)
            return key.error();
        auto ssl = std::make_unique<httplib::SSLServer>(o.tls_cert.c_str(), o.tls_key.c_str());
        if (!ssl->is_valid()) {
            return Error(ErrorCode::kCorrupt, o.tls_cert + ", " + o.tls_key +
                                                  ": not a PEM certificate and its private key");
        }
        impl_->server = std::move(ssl);
    } else {
        impl_->server = std::make_unique<httplib::Server>();
    }
    auto& server = *impl_->server;
    const std::size_t threads = o.threads;
    server.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
    server.set_payload_max_length(o.max_upload_bytes);
    server.set_read_timeout(o.read_timeout_s, 0);
    server.set_write_timeout(o.write_timeout_s, 0);
    server.set_keep_alive_timeout(5);
    server.set_keep_alive_max_count(100);
    // Headers and body go out in separate writes: with Nagle's algorithm the second waits for
    // the client's delayed ACK, 40 ms on Linux, on every keep-alive request (measured with
    // bench/http_bench.cpp: 43 ms p50 for /api/health without this, under 1 ms with it).
    server.set_tcp_nodelay(true);
    // Debian's cpp-httplib (0.11, compiled) listens with a backlog of 5: 64 clients connecting
    // at once overflowed the accept queue, the kernel dropped their handshakes and they retried
    // a second later (bench/http_bench.cpp: p99 1.02 s at 64 clients, under 0.1 s with this).
    // The listening socket is found through the socket-options hook (which keeps httplib's own
    // options) and listened on again with the system's maximum, which Linux allows.
    server.set_socket_options([impl](socket_t sock) {
        listen_socket_options(sock);
        impl->listen_socket = sock;
    });
    server.set_default_headers(
        {{"X-Content-Type-Options", "nosniff"}, {"Cache-Control", "no-store"}});
    server.set_error_handler([impl](const httplib::Request&, httplib::Response& res) {
        if (!res.body.empty())
            return;
        const ErrorCode code = res.status == 413   ? ErrorCode::kTooLarge
                               : res.status == 404 ? ErrorCode::kNotFound
                               : res.status >= 500 ? ErrorCode::kInternal
                                                   : ErrorCode::kInvalidArgument;
        const int status = res.status;
        send_error(res,
                   Error(code, status == 413   ? "the request is larger than the server accepts"
                               : status == 404 ? "no such endpoint"
                                               : "the request could not be handled"),
                   status);
    });
    server.set_exception_handler(
        [](const httplib::Request&, httplib::Response& res, std::exception_ptr ep) {
            std::string what = "unknown";
            try {
                std::rethrow_exception(ep);
            } catch (const std::exception& e) {
                what = e.what();
            } catch (...) {
            }
            send_error(res, Error(ErrorCode::kInternal, "internal error: " + what));
        });
    server.set_logger([impl](const httplib::Request& req, const httplib::Response& res) {
        impl->requests.fetch_add(1);
        if (res.status >= 400) {
            auto body = json::parse(res.body, nullptr, false);
            std::string kind = "invalid-argument";
            if (body.is_object() && body.contains("error"))
                kind = body["error"].value("code", kind);
            std::lock_guard lock(impl->errors_mutex);
            ++impl->http_errors[kind];
        }
        if (!impl->options.log_requests)
            return;
        // The route's pattern, never the path or the query a client sent: those could carry
        // anything, an identity or a token pasted in the wrong place.
        std::string route = "-";
        for (const auto& r : impl->routes) {
            if (r.method != req.method)
                continue;
            // Match the OpenAPI path against the request path segment by segment.
            std::string_view p = req.path, t = r.path;
            bool ok = true;
            while (ok && !p.empty() && !t.empty()) {
                const auto pe = p.find('/', 1), te = t.find('/', 1);
                const auto ps = p.substr(0, pe), ts = t.substr(0, te);
                ok = ps == ts || (ts.size() > 2 && ts[1] == '{');
                p = pe == std::string_view::npos ? std::string_view() : p.substr(pe);
                t = te == std::string_view::npos ? std::string_view() : t.substr(te);
            }
            if (ok && p.empty() && t.empty()) {
                route = r.path;
                break;
            }
        }
        std::cerr << "medanchor serve: " << req.method << ' ' << route << ' ' << res.status << '\n';
    });
    impl_->register_routes();

    const int port = o.port == 0 ? server.bind_to_any_port(o.host)
                                 : (server.bind_to_port(o.host, o.port) ? o.port : -1);
    if (port <= 0) {
        return Error(ErrorCode::kIo, o.host + ":" + std::to_string(o.port) +
                                         ": cannot listen (in use, or not an address of this "
                                         "machine)");
    }
    impl_->port = port;
    if (impl_->listen_socket >= 0)
        ::listen(impl_->listen_socket, SOMAXCONN);
    if (o.dicom)
        return impl_->start_listener();
    return Status::Ok();
}

Status ApiServer::Impl::start_listener() {
    const auto& o = options;
    auto list = [this] {
        std::lock_guard lock(accounts_mutex);
        return accounts->list();
    }();
    if (!list)
        return list.error();
    const auto it = std::find_if(list->begin(), list->end(), [&](const ledger::Account& a) {
        return a.name == o.dicom_account;
    });
    if (o.dicom_account.empty() || it == list->end()) {
        return Error(
            ErrorCode::kInvalidArgument,
            "--listen-as: " +
                (o.dicom_account.empty() ? std::string("missing")
                                         : "no user " + escape_for_display(o.dicom_account)) +
                "; --listen-dicom records the received images' analyses for a user "
                "with a signing key (medanchor users add NAME --key-file FILE)");
    }
    if (it->key_file.empty()) {
        return Error(ErrorCode::kNoKey, "--listen-as " + it->name +
                                            ": the user has no signing key (medanchor users add "
                                            "NAME --key-file FILE)");
    }
    const Signer signer{it->principal, it->key_file, it->name};
    dicom::ListenOptions l = *o.dicom;
    l.data_dir = o.data_dir / "pacs";
    l.ledger_path = ledger_path;
    l.analysis = jobs->analysis_options(signer);
    auto started =
        dicom::Listener::start(std::move(l), *site_key, *analyses, jobs->anchoring_for(signer));
    if (!started)
        return started.error();
    listener = std::move(*started);
    return Status::Ok();
}

std::uint16_t ApiServer::dicom_port() const {
    return impl_->listener ? impl_->listener->port() : 0;
}

int ApiServer::port() const {
    return impl_->port;
}

Status ApiServer::run() {
    impl_->jobs->start();
    const bool ok = impl_->server->listen_after_bind();
    // The listener first: associations under way finish and what they stored is spooled (the
    // next start analyses it); then the jobs and the anchoring both share.
    if (impl_->listener)
        impl_->listener->stop();
    impl_->jobs->stop();
    if (!ok && !impl_->stopped.load())
        return Error(ErrorCode::kIo, "the server stopped listening");
    return Status::Ok();
}

void ApiServer::stop() {
    if (impl_->stopped.exchange(true))
        return;
    if (impl_->server)
        impl_->server->stop();
}

std::vector<RouteInfo> ApiServer::routes() const {
    return impl_->routes;
}

}  // namespace medanchor::http
