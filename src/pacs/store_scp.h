// The DICOM listener's transport: a Storage SCP (C-STORE) and Verification SCP (C-ECHO) on
// DCMTK's thread pool (DcmBaseSCPPool with DcmThreadSCP workers), for PACS and modalities that
// push images to medanchor (docs/pacs.md). It receives; what to do with an instance is the
// caller's StoreHandler. It never writes what it receives to disk.
//
// What it accepts: Verification and DCMTK's 120 "long SCU" storage SOP classes (121 presentation
// contexts, under DCMTK's limit of 128 per list, with Verification first so C-ECHO is always
// among them), each in every transfer syntax the image layer decodes
// (image/transfer_syntaxes.h). Associations from a calling AE title not in the allowed list, or
// to a called AE title other than ours, are rejected at association.
//
// An instance is handed to the handler only when it has been received whole, is at most
// max_object_bytes, parses through the image layer's structural gate, and its SOP Class and
// Instance UIDs are those of the C-STORE request; otherwise it is answered with a failure
// status (below) without the handler, and the association goes on. Every byte of the data set
// is always read off the association, so a refused instance never disturbs the next one.
// DCMTK stays behind this header.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "common/error.h"
#include "pacs/dimse.h"

namespace medanchor::pacs {

// One instance received by C-STORE, parsed and checked.
struct ReceivedInstance {
    std::string calling_ae;  // the sender's AE title (one of the allowed ones)
    std::string sop_class_uid;
    std::string sop_instance_uid;
    std::string study_instance_uid;
    std::string series_instance_uid;
    std::string transfer_syntax_uid;  // the one negotiated for it, in which it arrived
    // A DICOM Part 10 file: a file meta header medanchor wrote (DCMTK's implementation UID), then
    // the data set exactly as it came off the network. image::decode_dicom() reads it.
    std::vector<std::uint8_t> part10;
};

// Decides the status of one received instance. Called on the worker thread of its association,
// concurrently for different associations: it must be thread-safe. It should not throw; an
// exception is answered with StoreStatus::kProcessingFailure.
using StoreHandler = std::function<StoreStatus(ReceivedInstance&& instance)>;

struct StoreScpOptions {
    std::string ae_title = "MEDANCHOR";  // ours: an association must call it
    // An IPv4 address of this machine. Loopback by default: a PACS on another machine needs it
    // set explicitly (docs/pacs.md says what else that exposes).
    std::string bind_address = "127.0.0.1";
    std::uint16_t port = 11112;  // 0: the kernel picks a free one (port() tells which)
    // Calling AE titles accepted; empty accepts any (valid) AE title.
    std::vector<std::string> allowed_calling_aes;
    // The largest PDU we receive, announced at association (DCMTK's bounds: 4096 to 131072).
    std::uint32_t max_pdu_bytes = 65536;
    // The largest data set accepted; a bigger one is read off the network without being kept
    // and refused with kOutOfResources. Up to about twice this is held in memory per association
    // while an instance is parsed.
    std::size_t max_object_bytes = std::size_t{512} << 20;
    // Associations served at once; one more is rejected ("local limit exceeded") until one ends.
    unsigned worker_threads = 4;
    // Waiting for the association request, and for each message or PDU on an association: a
    // sender silent for longer is dropped. Time taken by a large object while data keeps coming
    // is not bounded.
    std::chrono::seconds acse_timeout{30};
    std::chrono::seconds dimse_timeout{60};
    // Told why an instance was refused before the handler: the status answered and the reason
    // (kTooLarge, kCorrupt, kUnsupported), whose message names the sender's AE title and the
    // request's message ID, never the instance's UIDs. Called on the worker thread, like the
    // handler; may be empty.
    std::function<void(StoreStatus status, const Error& why)> on_refused;
};

// Counters since start, for tests and monitoring.
struct StoreScpStats {
    std::uint64_t associations_accepted = 0;
    std::uint64_t associations_rejected = 0;  // AE titles, no presentation context, busy
    std::uint64_t echoes = 0;
    std::uint64_t instances_handled = 0;  // handed to the handler (whatever it answered)
    std::uint64_t instances_refused = 0;  // answered with a failure before the handler
};

class StoreScp {
  public:
    // Checks the options (kInvalidArgument naming the option), binds bind_address:port (taken or
    // not an address of this machine: kInvalidArgument; kPermission; kIo) and starts listening on
    // a thread of its own before returning.
    static Result<std::unique_ptr<StoreScp>> start(StoreScpOptions options, StoreHandler handler);
    // stop().
    ~StoreScp();
    StoreScp(const StoreScp&) = delete;
    StoreScp& operator=(const StoreScp&) = delete;

    std::uint16_t port() const;
    StoreScpStats stats() const;

    // Stops accepting connections at once, then waits until the associations being served end
    // (each ends when its sender releases it, or after dimse_timeout of silence). Idempotent.
    // Thread safety: any thread but a handler's.
    void stop();

    struct Impl;

  private:
    explicit StoreScp(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
};

// The presentation contexts a StoreScp accepts, in its order of preference of transfer syntax:
// what tests and docs/pacs.md check against.
std::vector<std::string> accepted_sop_classes();  // Verification first
std::vector<std::string> accepted_transfer_syntaxes();

}  // namespace medanchor::pacs
