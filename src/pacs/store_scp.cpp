// StoreScp on DCMTK 3.6.7's dcmnet. Three things here differ from DCMTK's own DcmSCPPool, each
// for a reason:
//
// 1. The listening socket is ours. DCMTK binds its acceptor to INADDR_ANY (dul.cc, in 3.6.7 and
//    still today) with no way to choose the address, and medanchor's servers bind loopback unless
//    told otherwise. So we bind bind_address:port, accept connections ourselves, and hand each one
//    to DCMTK as an "external socket" (dcmExternalSocketHandle, DCMTK's inetd mode), under a
//    process-wide mutex since that handle is one global. The pool's listen() is replaced by that
//    accept loop; a self-pipe wakes it at once on stop().
// 2. Workers detach their threads. DcmBaseSCPPool deletes a worker that finished without ever
//    joining its thread, which leaks the thread's stack for every association; a detached thread
//    gives it back when it ends.
// 3. The data set of a C-STORE is collected as bytes (DataSetBytes below) instead of being parsed
//    by DCMTK as it arrives. DIMSE_receiveDataSetInMemory stops reading at the first parse error
//    and leaves the rest of the data set on the association, where it would be read as the next
//    command; and DCMTK allocates an element's declared length before reading it, so a few hostile
//    bytes can ask for gigabytes. Collected whole (up to max_object_bytes), the bytes go through
//    the image layer's structural gate (image::read_instance_uids), which checks every declared
//    length before DCMTK or GDCM parse anything.
#include "pacs/store_scp.h"

#include <arpa/inet.h>
#include <dcmtk/config/osconfig.h>  // must come first
#include <dcmtk/dcmdata/dcdatset.h>
#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcfilefo.h>
#include <dcmtk/dcmdata/dcostrmb.h>
#include <dcmtk/dcmdata/dcuid.h>
#include <dcmtk/dcmdata/dcxfer.h>
#include <dcmtk/dcmnet/dul.h>
#include <dcmtk/dcmnet/scppool.h>
#include <dcmtk/dcmnet/scpthrd.h>
#include <dcmtk/oflog/oflog.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <thread>

#include "image/instance_uids.h"
#include "image/transfer_syntaxes.h"

namespace medanchor::pacs {

struct StoreScp::Impl {
    StoreScpOptions options;
    StoreHandler handler;

    int listen_fd = -1;
    int wake_read = -1;  // the self-pipe stop() writes to
    int wake_write = -1;
    std::uint16_t port = 0;
    T_ASC_Network* network = nullptr;
    std::unique_ptr<DcmBaseSCPPool> pool;
    std::thread listener;

    // Associations handed to workers and not yet finished.
    std::mutex mutex;
    std::condition_variable all_done;
    unsigned active = 0;
    bool stopped = false;

    std::atomic<std::uint64_t> associations_accepted{0};
    std::atomic<std::uint64_t> associations_rejected{0};
    std::atomic<std::uint64_t> echoes{0};
    std::atomic<std::uint64_t> instances_handled{0};
    std::atomic<std::uint64_t> instances_refused{0};

    ~Impl() {
        for (int fd : {listen_fd, wake_read, wake_write}) {
            if (fd >= 0)
                ::close(fd);
        }
        if (network != nullptr)
            ASC_dropNetwork(&network);
    }
};

namespace {

// dcmExternalSocketHandle is one process-wide value: one thread at a time sets it, lets DCMTK
// take the socket, and clears it.
std::mutex& external_socket_mutex() {
    static std::mutex mutex;
    return mutex;
}

// Errors come back as values; DCMTK's own logging would only repeat them on stderr. Reverse DNS
// of every peer would be slow and tell us nothing we use.
void configure_dcmtk_once() {
    static const bool done = [] {
        OFLog::configure(OFLogger::FATAL_LOG_LEVEL);
        dcmDisableGethostbyaddr.set(OFTrue);
        return true;
    }();
    (void)done;
}

// Where a transfer syntax comes in our order of preference, when a sender proposes several in
// one presentation context. Lossy encodings first: a sender offering one holds the image that
// way, and decompressing it there could give slightly different pixels from ours (JPEG decoders
// are not bit-exact), so the keyed image hash would differ from the archived file's. Then
// explicit VR little endian (it keeps the VRs of private elements), the other uncompressed
// ones, and last the lossless compressed ones (same pixels, more work to decode).
int preference(const char* uid) {
    const DcmXfer xfer(uid);
    if (xfer.isEncapsulated() && xfer.isLossy())
        return 0;
    if (xfer.getXfer() == EXS_LittleEndianExplicit)
        return 1;
    if (xfer.isNotEncapsulated())
        return 2;
    return 3;
}

std::vector<std::string> transfer_syntaxes_by_preference() {
    const auto decodable = image::decodable_transfer_syntaxes();
    std::vector<const char*> uids(decodable.begin(), decodable.end());
    std::stable_sort(uids.begin(), uids.end(),
                     [](const char* a, const char* b) { return preference(a) < preference(b); });
    return {uids.begin(), uids.end()};
}

// A DcmDataset that parses nothing. DIMSE_receiveDataSetInMemory gives it each PDV through
// read(); it keeps the bytes, up to `limit`, and past that only counts them. It never reports an
// error, so DCMTK always reads the whole data set off the association.
class DataSetBytes : public DcmDataset {
  public:
    explicit DataSetBytes(std::size_t limit) : limit_(limit) {}

    OFCondition read(DcmInputStream& in, const E_TransferSyntax /*xfer*/,
                     const E_GrpLenEncoding /*glenc*/, const Uint32 /*maxReadLength*/) override {
        while (in.avail() > 0) {
            const auto n = static_cast<std::size_t>(in.avail());
            if (!too_large_ && n <= limit_ - bytes_.size()) {
                const std::size_t at = bytes_.size();
                if (at + n > bytes_.capacity())
                    bytes_.reserve(std::min(limit_, std::max(at + n, 2 * bytes_.capacity())));
                bytes_.resize(at + n);
                in.read(bytes_.data() + at, static_cast<offile_off_t>(n));
            } else {
                too_large_ = true;
                std::vector<std::uint8_t>().swap(bytes_);
                in.skip(static_cast<offile_off_t>(n));
            }
        }
        return in.eos() ? EC_Normal : EC_StreamNotifyClient;
    }

    bool too_large() const { return too_large_; }
    std::vector<std::uint8_t>& bytes() { return bytes_; }

  private:
    std::size_t limit_;
    bool too_large_ = false;
    std::vector<std::uint8_t> bytes_;
};

// The received data set as a Part 10 file: DCMTK writes the file meta information (preamble,
// "DICM", group 0002 with the request's SOP Class and Instance UIDs and the negotiated transfer
// syntax), and the data set follows exactly as it came.
Result<std::vector<std::uint8_t>> part10_file(const char* sop_class, const char* sop_instance,
                                              const OFString& transfer_syntax,
                                              const std::vector<std::uint8_t>& data_set,
                                              const std::string& name) {
    DcmFileFormat file;
    DcmDataset* ds = file.getDataset();
    DcmMetaInfo* meta = file.getMetaInfo();
    if (ds->putAndInsertString(DCM_SOPClassUID, sop_class).bad() ||
        ds->putAndInsertString(DCM_SOPInstanceUID, sop_instance).bad() ||
        file.validateMetaInfo(DcmXfer(transfer_syntax.c_str()).getXfer()).bad()) {
        return Error(ErrorCode::kCorrupt, name +
                                              ": the C-STORE request's UIDs do not make a "
                                              "file meta header");
    }
    std::vector<char> chunk(4096);
    DcmOutputBufferStream out(chunk.data(), static_cast<offile_off_t>(chunk.size()));
    std::vector<std::uint8_t> bytes;
    meta->transferInit();
    OFCondition written;
    do {
        written = meta->write(out, EXS_LittleEndianExplicit, EET_ExplicitLength, nullptr);
        void* buffer = nullptr;
        offile_off_t length = 0;
        out.flushBuffer(buffer, length);
        const auto* p = static_cast<const std::uint8_t*>(buffer);
        bytes.insert(bytes.end(), p, p + length);
    } while (written == EC_StreamNotifyClient);
    meta->transferEnd();
    if (written.bad())
        return Error(ErrorCode::kInternal, name + ": DCMTK cannot write a file meta header");
    bytes.reserve(bytes.size() + data_set.size());
    bytes.insert(bytes.end(), data_set.begin(), data_set.end());
    return bytes;
}

// One association's service, on its worker thread.
class Receiver : public DcmThreadSCP {
  public:
    explicit Receiver(StoreScp::Impl& impl) : impl_(impl) {}

  protected:
    OFBool checkCalledAETitleAccepted(const OFString& called) override {
        return trim_ae_title(called.c_str()) == impl_.options.ae_title;
    }

    OFBool checkCallingAETitleAccepted(const OFString& calling) override {
        const std::string_view ae = trim_ae_title(calling.c_str());
        if (!is_valid_ae_title(ae))
            return OFFalse;
        const auto& allowed = impl_.options.allowed_calling_aes;
        return allowed.empty() || std::find(allowed.begin(), allowed.end(), ae) != allowed.end();
    }

    void refuseAssociation(const DcmRefuseReasonType reason) override {
        ++impl_.associations_rejected;
        DcmThreadSCP::refuseAssociation(reason);
    }

    void notifyAssociationAcknowledge() override { ++impl_.associations_accepted; }

    OFCondition handleECHORequest(T_DIMSE_C_EchoRQ& request,
                                  const T_ASC_PresentationContextID id) override {
        ++impl_.echoes;
        return DcmThreadSCP::handleECHORequest(request, id);
    }

    OFCondition handleIncomingCommand(T_DIMSE_Message* message,
                                      const DcmPresentationContextInfo& context) override {
        if (message->CommandField != DIMSE_C_STORE_RQ)
            return DcmThreadSCP::handleIncomingCommand(message, context);
        T_DIMSE_C_StoreRQ& request = message->msg.CStoreRQ;
        DataSetBytes data(impl_.options.max_object_bytes);
        DcmDataset* target = &data;
        // A failure here is the network's or a protocol violation: the association ends.
        OFCondition received = receiveSTORERequest(request, context.presentationContextID, target);
        if (received.bad())
            return received;
        const StoreStatus status = decide(request, context, data);
        return sendSTOREResponse(context.presentationContextID, request,
                                 static_cast<Uint16>(status));
    }

  private:
    StoreStatus refuse(StoreStatus status, const Error& why) {
        ++impl_.instances_refused;
        if (impl_.options.on_refused) {
            try {
                impl_.options.on_refused(status, why);
            } catch (...) {
                // An observer's failure changes nothing for the sender.
            }
        }
        return status;
    }

    StoreStatus decide(const T_DIMSE_C_StoreRQ& request, const DcmPresentationContextInfo& context,
                       DataSetBytes& data) {
        const std::string calling(trim_ae_title(getPeerAETitle().c_str()));
        // Names the instance in messages without its UIDs (they identify a patient's study).
        const std::string name =
            "C-STORE from " + calling + " (message " + std::to_string(request.MessageID) + ")";
        if (data.too_large()) {
            return refuse(StoreStatus::kOutOfResources,
                          Error(ErrorCode::kTooLarge,
                                name + ": data set larger than " +
                                    std::to_string(impl_.options.max_object_bytes) + " bytes"));
        }
        auto file = part10_file(request.AffectedSOPClassUID, request.AffectedSOPInstanceUID,
                                context.acceptedTransferSyntax, data.bytes(), name);
        std::vector<std::uint8_t>().swap(data.bytes());
        if (!file)
            return refuse(StoreStatus::kCannotUnderstand, file.error());
        auto uids = image::read_instance_uids(*file, name);
        if (!uids) {
            return refuse(uids.error().code() == ErrorCode::kTooLarge
                              ? StoreStatus::kOutOfResources
                              : StoreStatus::kCannotUnderstand,
                          uids.error());
        }
        if (uids->sop_class != request.AffectedSOPClassUID ||
            uids->sop_instance != request.AffectedSOPInstanceUID) {
            return refuse(StoreStatus::kDataSetMismatch,
                          Error(ErrorCode::kCorrupt,
                                name + ": the data set's SOP Class or Instance UID is not the one "
                                       "the request announces"));
        }
        ReceivedInstance instance{calling,
                                  std::move(uids->sop_class),
                                  std::move(uids->sop_instance),
                                  std::move(uids->study),
                                  std::move(uids->series),
                                  context.acceptedTransferSyntax.c_str(),
                                  std::move(*file)};
        ++impl_.instances_handled;
        try {
            return impl_.handler(std::move(instance));
        } catch (...) {
            return StoreStatus::kProcessingFailure;
        }
    }

    StoreScp::Impl& impl_;
};

class Pool;

// DcmSCPPool's worker (a DcmThreadSCP on an OFThread), built with a reference to its StoreScp,
// which DcmSCPPool's default-constructed workers cannot have.
class Worker : public DcmBaseSCPPool::DcmBaseSCPWorker, private Receiver {
  public:
    Worker(Pool& pool, StoreScp::Impl& impl);

    OFCondition setSharedConfig(const DcmSharedSCPConfig& config) override {
        return Receiver::setSharedConfig(config);
    }
    OFBool busy() override { return Receiver::isConnected(); }

  protected:
    OFCondition workerListen(T_ASC_Association* const assoc) override {
        return Receiver::run(assoc);
    }
    void run() override;

  private:
    Pool& pool_;
};

class Pool : public DcmBaseSCPPool {
  public:
    explicit Pool(StoreScp::Impl& impl) : impl_(impl) {}

    // The accept loop (see the top of this file); returns when stop() wakes it.
    OFCondition listen() override {
        const DcmSharedSCPConfig shared(getConfig());
        for (;;) {
            pollfd fds[2] = {{impl_.listen_fd, POLLIN, 0}, {impl_.wake_read, POLLIN, 0}};
            if (::poll(fds, 2, -1) < 0) {
                if (errno == EINTR)
                    continue;
                return EC_Normal;
            }
            if (fds[1].revents != 0)
                return EC_Normal;
            const int fd = ::accept4(impl_.listen_fd, nullptr, nullptr, SOCK_CLOEXEC);
            if (fd < 0) {
                // Out of descriptors or memory: let associations end before trying again.
                if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM)
                    std::this_thread::sleep_for(std::chrono::milliseconds(100));
                continue;
            }
            serve(fd, shared);
        }
    }

    // Called by a worker whose association has ended; deletes it.
    void worker_finished(DcmBaseSCPWorker* worker, OFCondition result) {
        notifyThreadExit(worker, result);
        const std::lock_guard lock(impl_.mutex);
        --impl_.active;
        impl_.all_done.notify_all();
    }

  protected:
    DcmBaseSCPWorker* createSCPWorker() override { return new Worker(*this, impl_); }

  private:
    void serve(int fd, const DcmSharedSCPConfig& shared) {
        // DCMTK would leave the socket open if it failed before taking it (getpeername on a
        // connection already reset): find that out first.
        sockaddr_storage peer{};
        socklen_t length = sizeof peer;
        if (::getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &length) != 0) {
            ::close(fd);
            return;
        }
        T_ASC_Association* assoc = nullptr;
        OFCondition cond;
        {
            const std::lock_guard lock(external_socket_mutex());
            dcmExternalSocketHandle.set(fd);
            // Reads the association request here, bounded by the ACSE timeout.
            cond = ASC_receiveAssociation(impl_.network, &assoc, impl_.options.max_pdu_bytes,
                                          nullptr, nullptr, OFFalse, DUL_NOBLOCK,
                                          static_cast<int>(impl_.options.acse_timeout.count()));
            dcmExternalSocketHandle.set(DCMNET_INVALID_SOCKET);
        }
        if (cond.bad()) {
            dropAndDestroyAssociation(assoc);
            return;
        }
        {
            const std::lock_guard lock(impl_.mutex);
            ++impl_.active;
        }
        cond = runAssociation(assoc, shared);
        if (cond.bad()) {
            {
                const std::lock_guard lock(impl_.mutex);
                --impl_.active;
            }
            ++impl_.associations_rejected;
            rejectAssociation(assoc, cond == NET_EC_SCPBusy
                                         ? ASC_REASON_SP_PRES_LOCALLIMITEXCEEDED
                                         : ASC_REASON_SP_PRES_TEMPORARYCONGESTION);
            dropAndDestroyAssociation(assoc);
        }
    }

    StoreScp::Impl& impl_;
};

Worker::Worker(Pool& pool, StoreScp::Impl& impl)
    : DcmBaseSCPWorker(pool), Receiver(impl), pool_(pool) {}

void Worker::run() {
    ::pthread_detach(::pthread_self());
    // (DcmSCP has an m_assoc of its own.)
    T_ASC_Association* assoc = DcmBaseSCPWorker::m_assoc;
    DcmBaseSCPWorker::m_assoc = nullptr;
    const OFCondition result = workerListen(assoc);
    pool_.worker_finished(this, result);  // deletes this: nothing of it may be used below
}

Status check_options(const StoreScpOptions& o) {
    const auto bad = [](const std::string& what) {
        return Status(Error(ErrorCode::kInvalidArgument, "DICOM listener: " + what));
    };
    if (!is_valid_ae_title(o.ae_title) || trim_ae_title(o.ae_title) != o.ae_title)
        return bad("AE title '" + o.ae_title + "' is not 1 to 16 printable characters");
    for (const auto& ae : o.allowed_calling_aes) {
        if (!is_valid_ae_title(ae) || trim_ae_title(ae) != ae)
            return bad("allowed calling AE title '" + ae + "' is not a valid AE title");
    }
    if (o.max_pdu_bytes < ASC_MINIMUMPDUSIZE || o.max_pdu_bytes > ASC_MAXIMUMPDUSIZE) {
        return bad("maximum PDU size " + std::to_string(o.max_pdu_bytes) + " is not between " +
                   std::to_string(ASC_MINIMUMPDUSIZE) + " and " +
                   std::to_string(ASC_MAXIMUMPDUSIZE) + " bytes");
    }
    if (o.max_object_bytes == 0)
        return bad("the maximum object size must be at least one byte");
    if (o.worker_threads == 0 || o.worker_threads > 1024)
        return bad("worker threads must be from 1 to 1024");
    if (o.acse_timeout.count() < 1 || o.dimse_timeout.count() < 1 ||
        o.acse_timeout.count() > 86400 || o.dimse_timeout.count() > 86400)
        return bad("timeouts must be from 1 second to a day");
    return Status::Ok();
}

Status bind_listening_socket(StoreScp::Impl& impl) {
    const auto& o = impl.options;
    const std::string where = o.bind_address + ":" + std::to_string(o.port);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(o.port);
    if (::inet_pton(AF_INET, o.bind_address.c_str(), &addr.sin_addr) != 1) {
        return Error(ErrorCode::kInvalidArgument,
                     "DICOM listener: '" + o.bind_address + "' is not an IPv4 address");
    }
    impl.listen_fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    const int reuse = 1;
    if (impl.listen_fd < 0 ||
        ::setsockopt(impl.listen_fd, SOL_SOCKET, SO_REUSEADDR, &reuse, sizeof reuse) != 0) {
        return Error(ErrorCode::kIo, "DICOM listener: cannot create a socket: " +
                                         std::string(std::strerror(errno)));
    }
    if (::bind(impl.listen_fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
        ::listen(impl.listen_fd, 64) != 0) {
        const int e = errno;
        const ErrorCode code = e == EACCES || e == EPERM               ? ErrorCode::kPermission
                               : e == EADDRINUSE || e == EADDRNOTAVAIL ? ErrorCode::kInvalidArgument
                                                                       : ErrorCode::kIo;
        return Error(code, "DICOM listener: cannot listen on " + where + ": " + std::strerror(e));
    }
    socklen_t length = sizeof addr;
    ::getsockname(impl.listen_fd, reinterpret_cast<sockaddr*>(&addr), &length);
    impl.port = ntohs(addr.sin_port);
    int pipe_fds[2];
    if (::pipe2(pipe_fds, O_CLOEXEC) != 0) {
        return Error(ErrorCode::kIo,
                     "DICOM listener: cannot create a pipe: " + std::string(std::strerror(errno)));
    }
    impl.wake_read = pipe_fds[0];
    impl.wake_write = pipe_fds[1];
    return Status::Ok();
}

Status configure_pool(StoreScp::Impl& impl) {
    const auto& o = impl.options;
    DcmSCPConfig& cfg = impl.pool->getConfig();
    cfg.setAETitle(o.ae_title.c_str());
    cfg.setMaxReceivePDULength(o.max_pdu_bytes);
    cfg.setACSETimeout(static_cast<Uint32>(o.acse_timeout.count()));
    cfg.setDIMSEBlockingMode(DIMSE_NONBLOCKING);
    cfg.setDIMSETimeout(static_cast<Uint32>(o.dimse_timeout.count()));
    cfg.setHostLookupEnabled(OFFalse);
    cfg.setRespondWithCalledAETitle(OFFalse);
    impl.pool->setMaxThreads(static_cast<Uint16>(o.worker_threads));

    OFList<OFString> all;
    OFList<OFString> uncompressed;
    for (const auto& uid : transfer_syntaxes_by_preference()) {
        all.push_back(uid.c_str());
        if (DcmXfer(uid.c_str()).isNotEncapsulated())
            uncompressed.push_back(uid.c_str());
    }
    const auto classes = accepted_sop_classes();
    for (std::size_t i = 0; i < classes.size(); ++i) {
        const OFCondition added = cfg.addPresentationContext(
            classes[i].c_str(), i == 0 ? uncompressed : all, ASC_SC_ROLE_DEFAULT);
        if (added.bad()) {
            return Error(ErrorCode::kInternal,
                         "DICOM listener: DCMTK refuses presentation context " + classes[i] + ": " +
                             added.text());
        }
    }
    return Status::Ok();
}

}  // namespace

std::vector<std::string> accepted_sop_classes() {
    std::vector<std::string> classes{UID_VerificationSOPClass};
    for (int i = 0; i < numberOfDcmLongSCUStorageSOPClassUIDs; ++i)
        classes.emplace_back(dcmLongSCUStorageSOPClassUIDs[i]);
    return classes;
}

std::vector<std::string> accepted_transfer_syntaxes() {
    return transfer_syntaxes_by_preference();
}

StoreScp::StoreScp(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Result<std::unique_ptr<StoreScp>> StoreScp::start(StoreScpOptions options, StoreHandler handler) {
    if (Status ok = check_options(options); !ok)
        return ok.error();
    if (!handler)
        return Error(ErrorCode::kInvalidArgument, "DICOM listener: no handler for instances");
    configure_dcmtk_once();
    auto impl = std::make_unique<Impl>();
    impl->options = std::move(options);
    impl->handler = std::move(handler);
    if (Status bound = bind_listening_socket(*impl); !bound)
        return bound.error();
    {
        // An acceptor network without a listening socket of DCMTK's own: with an external
        // socket set, ASC_initializeNetwork creates none.
        const std::lock_guard lock(external_socket_mutex());
        dcmExternalSocketHandle.set(impl->listen_fd);
        const OFCondition made = ASC_initializeNetwork(
            NET_ACCEPTOR, 0, static_cast<int>(impl->options.acse_timeout.count()), &impl->network);
        dcmExternalSocketHandle.set(DCMNET_INVALID_SOCKET);
        if (made.bad()) {
            return Error(
                ErrorCode::kInternal,
                std::string("DICOM listener: DCMTK network set-up failed: ") + made.text());
        }
    }
    impl->pool = std::make_unique<Pool>(*impl);
    if (Status configured = configure_pool(*impl); !configured)
        return configured.error();
    Impl* raw = impl.get();
    impl->listener = std::thread([raw] { raw->pool->listen(); });
    return std::unique_ptr<StoreScp>(new StoreScp(std::move(impl)));
}

StoreScp::~StoreScp() {
    stop();
}

std::uint16_t StoreScp::port() const {
    return impl_->port;
}

StoreScpStats StoreScp::stats() const {
    return {impl_->associations_accepted.load(), impl_->associations_rejected.load(),
            impl_->echoes.load(), impl_->instances_handled.load(), impl_->instances_refused.load()};
}

void StoreScp::stop() {
    {
        const std::lock_guard lock(impl_->mutex);
        if (impl_->stopped)
            return;
        impl_->stopped = true;
    }
    const char byte = 0;
    while (::write(impl_->wake_write, &byte, 1) < 0 && errno == EINTR) {
    }
    impl_->listener.join();
    // Connections waiting in the backlog are refused from here on.
    ::close(impl_->listen_fd);
    impl_->listen_fd = -1;
    std::unique_lock lock(impl_->mutex);
    impl_->all_done.wait(lock, [this] { return impl_->active == 0; });
}

}  // namespace medanchor::pacs
