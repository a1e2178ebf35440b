;; title: medical-analysis
;; summary: Append-only, auditable record of AI analyses of medical images.
;;
;; What goes on chain is only what must be public and tamper-evident: a keyed hash of the image
;; pixels (never the image, never a patient identifier), the model that produced the finding, the
;; finding code, its calibrated confidence in basis points, the digest of the full off-chain report,
;; the analyst principal, and the block height, time and burn block height; or, for many analyses
;; at once, the root of a Merkle tree of them (docs/merkle.md) with its analyst, model, size and
;; threshold. docs/contract.md is the reference for every function, role, error code and event below.
;;
;; Roles:
;;   admin        - adds/removes admins (never the last), appoints/dismisses verifiers, sets system
;;                  parameters, registers/retires models, pauses/unpauses submissions; may shorten
;;                  any verification and reinstate any suspended professional.
;;   verifier     - a credentialing authority: verifies registered professionals until an expiry
;;                  (block time), suspends and reinstates them with a reason code. Each grant and
;;                  suspension records its verifier, who alone (besides an admin) may shorten or lift it.
;;   professional - registers with a salted hash of their licence record; may submit and review
;;                  analyses only while verified, unexpired and not suspended.
;;
;; Authorization is always checked against `contract-caller`, never `tx-sender`: a contract that a
;; role holder happens to call cannot borrow their authority (the phishing pattern `tx-sender`
;; allows). A role may still be held by a contract principal (a multisig, a DAO), which then acts
;; by calling this contract directly.

;; ---------------------------------------------------------------------------------------------
;; Error codes: stable, in the range u1000-u1099; documented in docs/contract.md.
;; ---------------------------------------------------------------------------------------------

;; Roles and system administration (u1000-u1019)
(define-constant ERR-NOT-ADMIN (err u1000)) ;; caller is not an admin
(define-constant ERR-NOT-VERIFIER (err u1001)) ;; caller is not a verifier
(define-constant ERR-ALREADY-ADMIN (err u1002)) ;; principal is already an admin
(define-constant ERR-UNKNOWN-ADMIN (err u1003)) ;; principal is not an admin
(define-constant ERR-LAST-ADMIN (err u1004)) ;; removing would leave no admin
(define-constant ERR-ALREADY-VERIFIER (err u1005)) ;; principal is already a verifier
(define-constant ERR-UNKNOWN-VERIFIER (err u1006)) ;; principal is not a verifier
(define-constant ERR-INVALID-PARAMETER (err u1007)) ;; parameter value out of range
(define-constant ERR-ALREADY-PAUSED (err u1008)) ;; pause while paused
(define-constant ERR-NOT-PAUSED (err u1009)) ;; unpause while not paused
(define-constant ERR-PAUSED (err u1010)) ;; submissions and reviews are paused

;; Professionals (u1020-u1039)
(define-constant ERR-ALREADY-REGISTERED (err u1020)) ;; principal already registered
(define-constant ERR-NOT-REGISTERED (err u1021)) ;; principal is not a registered professional
(define-constant ERR-INVALID-CREDENTIAL (err u1022)) ;; credential hash not 32 bytes or all zero, or specialty not a code
(define-constant ERR-NOT-VERIFIED (err u1023)) ;; professional was never verified
(define-constant ERR-VERIFICATION-EXPIRED (err u1024)) ;; professional's verification has expired
(define-constant ERR-SUSPENDED (err u1025)) ;; professional is suspended
(define-constant ERR-NOT-SUSPENDED (err u1026)) ;; reinstating a professional who is not suspended
(define-constant ERR-INVALID-EXPIRY (err u1027)) ;; expiry not in the future or beyond the maximum period
(define-constant ERR-SELF-VERIFICATION (err u1028)) ;; a verifier may not verify, suspend or reinstate themselves
(define-constant ERR-NOT-GRANTOR (err u1029)) ;; only the verifier who granted a running verification, or an admin, may shorten it
(define-constant ERR-NOT-SUSPENDER (err u1030)) ;; only the verifier who suspended a professional, or an admin, may reinstate them

;; Models (u1040-u1059)
(define-constant ERR-UNKNOWN-MODEL (err u1040)) ;; no model with this id
(define-constant ERR-MODEL-RETIRED (err u1041)) ;; model is retired
(define-constant ERR-MODEL-EXISTS (err u1042)) ;; a model with this hash is already registered
(define-constant ERR-INVALID-MODEL (err u1043)) ;; hash not 32 bytes or all zero, empty name/version, or minimum > 10000

;; Analyses (u1060-u1079)
(define-constant ERR-INVALID-IMAGE-HASH (err u1060)) ;; image hash is not 32 bytes or is all zero
(define-constant ERR-INVALID-FINDING (err u1061)) ;; finding code is empty or has a character outside CODE-CHARS
(define-constant ERR-INVALID-CONFIDENCE (err u1062)) ;; confidence above 10000 basis points
(define-constant ERR-CONFIDENCE-BELOW-THRESHOLD (err u1063)) ;; below the global or the model's minimum
(define-constant ERR-EMPTY-BATCH (err u1064)) ;; batch has no analyses
(define-constant ERR-INVALID-REPORT-DIGEST (err u1065)) ;; report digest is not 32 bytes or is all zero
(define-constant ERR-INVALID-ROOT (err u1066)) ;; Merkle root is not 32 bytes or is all zero
(define-constant ERR-INVALID-LEAF-COUNT (err u1067)) ;; leaf count not in 1 .. MAX-ROOT-LEAVES
(define-constant ERR-ROOT-EXISTS (err u1068)) ;; the caller has already anchored this root
(define-constant ERR-UNKNOWN-ROOT (err u1069)) ;; the leaf's analyst anchored no root with this hash
(define-constant ERR-INVALID-PROOF (err u1070)) ;; index past the tree, or the leaf and proof do not give the root
(define-constant ERR-LEAF-MISMATCH (err u1071)) ;; the leaf names another model than its root

;; Review and retraction (u1080-u1099)
(define-constant ERR-UNKNOWN-ANALYSIS (err u1080)) ;; no analysis with this id
(define-constant ERR-SELF-REVIEW (err u1081)) ;; the author may not review their own analysis
(define-constant ERR-ALREADY-REVIEWED (err u1082)) ;; this reviewer already reviewed this analysis
(define-constant ERR-NOT-AUTHOR (err u1083)) ;; only the author may retract
(define-constant ERR-ANALYSIS-RETRACTED (err u1084)) ;; the analysis is retracted
(define-constant ERR-INVALID-NOTE-DIGEST (err u1085)) ;; review note digest is not 32 bytes or is all zero

;; ---------------------------------------------------------------------------------------------
;; Constants
;; ---------------------------------------------------------------------------------------------

(define-constant CONTRACT-VERSION u2)
(define-constant BASIS-POINTS u10000)
;; Hashes and digests are SHA-256 (or HMAC-SHA-256) outputs: exactly 32 bytes, never all zero.
(define-constant ZERO-32 0x0000000000000000000000000000000000000000000000000000000000000000)
;; Codes (finding, specialty) are identifiers such as "SCT:27550009" or "nodule-present": letters,
;; digits and . _ : - only. No spaces or punctuation, so free text (a name, a note) does not fit.
(define-constant CODE-CHARS "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._:-")
;; The batch bound is the list bound of `submit-analyses`; chosen from the cost table in
;; docs/contract.md so that a full batch stays a small share of a block's budget.
(define-constant MAX-BATCH-SIZE u50)
;; The longest `max-verification-period` an admin may set: five years of 365 days, in seconds.
;; Bounded so that no setting can make a verification effectively permanent.
(define-constant MAX-VERIFICATION-PERIOD-LIMIT u157680000)
;; Item positions in a batch (MAX-BATCH-SIZE of them): `map` pairs each item with its offset.
(define-constant BATCH-OFFSETS (list
  u0 u1 u2 u3 u4 u5 u6 u7 u8 u9 u10 u11 u12 u13 u14 u15 u16 u17 u18 u19 u20 u21 u22 u23 u24
  u25 u26 u27 u28 u29 u30 u31 u32 u33 u34 u35 u36 u37 u38 u39 u40 u41 u42 u43 u44 u45 u46 u47 u48 u49
))
;; Read-only pages (`get-image-analysis-ids`) hold this many ids. A page costs at most 24 reads,
;; within the 30 a default Stacks node allows one read-only call.
(define-constant PAGE-SIZE u20)
(define-constant PAGE-OFFSETS (list u0 u1 u2 u3 u4 u5 u6 u7 u8 u9 u10 u11 u12 u13 u14 u15 u16 u17 u18 u19))
;; `verify-image` looks for the newest valid analysis among this many of the image's newest ones:
;; two reads each, so that the whole call stays within a default node's 30 reads.
(define-constant VERIFY-WINDOW (list u0 u1 u2 u3 u4 u5 u6 u7 u8 u9))
;; A Merkle root anchors at most 2^20 analyses, so a proof has at most 20 siblings (the list bound
;; of `verify-leaf`, `review-leaf` and `retract-leaf`).
(define-constant MAX-ROOT-LEAVES u1048576)
;; RFC 6962 domain separation: a leaf hash is SHA-256(0x00 || leaf bytes), a node hash
;; SHA-256(0x01 || left || right), so no leaf can pass for a node (docs/merkle.md).
(define-constant LEAF-PREFIX 0x00)
(define-constant NODE-PREFIX 0x01)

;; ---------------------------------------------------------------------------------------------
;; State
;; ---------------------------------------------------------------------------------------------

;; Global minimum confidence in basis points; each model may demand more.
(define-data-var min-confidence uint u5000)
;; Longest a verification may run, in seconds of block time (default: two years; at most
;; MAX-VERIFICATION-PERIOD-LIMIT).
(define-data-var max-verification-period uint u63072000)
(define-data-var paused bool false)
(define-data-var admin-count uint u1)
(define-data-var analysis-count uint u0)
(define-data-var model-count uint u0)
(define-data-var professional-count uint u0)
(define-data-var root-count uint u0)

(define-map admins principal bool)
(define-map verifiers principal bool)

;; verified-until is a block time (seconds); u0 means never verified. `verified-by` granted the
;; current verification (set with verified-until > 0); `suspended-by` made the last suspension (set
;; whenever `suspended`); `reinstated-by` lifted the last one.
(define-map professionals
  principal
  {
    credential-hash: (buff 32),
    specialty: (string-ascii 16),
    registered-at: uint,
    verified-until: uint,
    verified-by: (optional principal),
    suspended: bool,
    suspended-by: (optional principal),
    reinstated-by: (optional principal),
    status-reason: uint,
    analysis-count: uint,
  }
)

(define-map models
  uint
  {
    model-hash: (buff 32),
    name: (string-ascii 64),
    version: (string-ascii 32),
    min-confidence: uint,
    active: bool,
    registered-at: uint,
    registered-by: principal,
  }
)
(define-map model-ids (buff 32) uint)

;; One entry per successful `submit-analysis` or `submit-analyses` call, keyed by the id of its
;; first analysis: what all its analyses share. `threshold` is the minimum confidence in force then
;; (global or model, whichever was higher), kept so an auditor never has to reconstruct parameter
;; history. Written once, never changed.
(define-map batches
  uint
  {
    analyst: principal,
    model-id: uint,
    threshold: uint,
    block-height: uint,
    block-time: uint,
    burn-block-height: uint,
    size: uint,
  }
)

;; Append-only: a record is written once, in the same call as its `batches` entry (so `batch-id`
;; always has one); later only its review counters and retraction flag and reason move.
(define-map analyses
  uint
  {
    image-hash: (buff 32),
    finding: (string-ascii 32),
    confidence: uint,
    report-digest: (buff 32),
    batch-id: uint,
    image-index: uint,
    confirmations: uint,
    disputes: uint,
    retracted: bool,
    retraction-reason: uint,
  }
)
;; Per image: analyses ever recorded (`total`), those valid now and those disputed now (the rest are
;; retracted), and the id of the first one. Exists from the image's first analysis on.
(define-map image-stats (buff 32) { total: uint, valid: uint, disputed: uint, first-id: uint })
;; Per image, in submission order: index -> analysis id, for index 1 .. total-1. Index 0 is the
;; `first-id` of `image-stats`, which saves a write (and a read) for every newly analysed image.
(define-map image-analyses { image-hash: (buff 32), index: uint } uint)

(define-map reviews
  { analysis-id: uint, reviewer: principal }
  { confirmed: bool, note-digest: (buff 32), block-height: uint, block-time: uint }
)

;; Merkle anchoring: one entry per anchored root, by id (1, 2, ...), written once. `size` is the
;; number of leaves; `min-confidence` the lowest confidence among them as the analyst declared it,
;; at or above `threshold`, the minimum in force when it was anchored.
(define-map roots
  uint
  {
    root: (buff 32),
    size: uint,
    model-id: uint,
    min-confidence: uint,
    threshold: uint,
    analyst: principal,
    block-height: uint,
    block-time: uint,
    burn-block-height: uint,
  }
)
;; An analyst anchors a root once: (analyst, root) -> its id. Keyed by analyst as well, so that
;; another professional who copies a root from the mempool and anchors it first gets a record of
;; their own, which proves no leaf (every leaf of the root names its analyst, and a proof looks the
;; root up under the leaf's analyst), and leaves the analyst free to anchor it. Invariant: the
;; record of id `root-ids[{analyst, root}]` has that analyst and that root.
(define-map root-ids { analyst: principal, root: (buff 32) } uint)
;; The review state of a Merkle-anchored analysis (leaf `index` of root `root-id`), from its first
;; review or retraction on; absent means unreviewed. Only proven leaves get an entry.
(define-map leaf-status
  { root-id: uint, index: uint }
  { confirmations: uint, disputes: uint, retracted: bool, retraction-reason: uint }
)
(define-map leaf-reviews
  { root-id: uint, index: uint, reviewer: principal }
  { confirmed: bool, note-digest: (buff 32), block-height: uint, block-time: uint }
)

;; The deployer is the first admin.
(map-set admins tx-sender true)
(print { event: "admin-added", admin: tx-sender, by: tx-sender })

;; ---------------------------------------------------------------------------------------------
;; Authorization helpers (the only places roles are checked)
;; ---------------------------------------------------------------------------------------------

(define-private (check-admin)
  (ok (asserts! (is-admin contract-caller) ERR-NOT-ADMIN))
)

(define-private (check-verifier)
  (ok (asserts! (is-verifier contract-caller) ERR-NOT-VERIFIER))
)

;; Verifiers act on professionals; admins may also shorten grants and lift suspensions.
(define-private (check-verifier-or-admin)
  (ok (asserts! (or (is-verifier contract-caller) (is-admin contract-caller)) ERR-NOT-VERIFIER))
)

;; Ok with the professional's record when `who` may submit and review now; otherwise the reason.
(define-private (check-active-professional (who principal))
  (let ((p (unwrap! (map-get? professionals who) ERR-NOT-REGISTERED)))
    (asserts! (> (get verified-until p) u0) ERR-NOT-VERIFIED)
    (asserts! (not (get suspended p)) ERR-SUSPENDED)
    (asserts! (> (get verified-until p) stacks-block-time) ERR-VERIFICATION-EXPIRED)
    (ok p)
  )
)

(define-private (max-uint (a uint) (b uint))
  (if (> a b) a b)
)

;; 32 bytes, and above 32 zero bytes: not all zero.
(define-private (is-digest (b (buff 32)))
  (and (is-eq (len b) u32) (> b ZERO-32))
)

(define-private (is-code-char (c (string-ascii 1)) (ok-so-far bool))
  (and ok-so-far (is-some (index-of? CODE-CHARS c)))
)

(define-private (is-code (code (string-ascii 32)))
  (and (> (len code) u0) (fold is-code-char code true))
)

;; ---------------------------------------------------------------------------------------------
;; Admin: roles
;; ---------------------------------------------------------------------------------------------

;; Called by: an admin. Makes `who` an admin.
(define-public (add-admin (who principal))
  (begin
    (try! (check-admin))
    (asserts! (is-none (map-get? admins who)) ERR-ALREADY-ADMIN)
    (map-set admins who true)
    (var-set admin-count (+ (var-get admin-count) u1))
    (print { event: "admin-added", admin: who, by: contract-caller })
    (ok true)
  )
)

;; Called by: an admin (may remove themselves). Never removes the last admin.
(define-public (remove-admin (who principal))
  (begin
    (try! (check-admin))
    (asserts! (is-some (map-get? admins who)) ERR-UNKNOWN-ADMIN)
    (asserts! (> (var-get admin-count) u1) ERR-LAST-ADMIN)
    (map-delete admins who)
    (var-set admin-count (- (var-get admin-count) u1))
    (print { event: "admin-removed", admin: who, by: contract-caller })
    (ok true)
  )
)

;; Called by: an admin. Appoints a credentialing authority.
(define-public (appoint-verifier (who principal))
  (begin
    (try! (check-admin))
    (asserts! (is-none (map-get? verifiers who)) ERR-ALREADY-VERIFIER)
    (map-set verifiers who true)
    (print { event: "verifier-appointed", verifier: who, by: contract-caller })
    (ok true)
  )
)

;; Called by: an admin. Professionals the verifier verified stay verified until their expiry.
(define-public (dismiss-verifier (who principal))
  (begin
    (try! (check-admin))
    (asserts! (is-some (map-get? verifiers who)) ERR-UNKNOWN-VERIFIER)
    (map-delete verifiers who)
    (print { event: "verifier-dismissed", verifier: who, by: contract-caller })
    (ok true)
  )
)

;; ---------------------------------------------------------------------------------------------
;; Admin: parameters and circuit breaker
;; ---------------------------------------------------------------------------------------------

;; Called by: an admin. Global minimum confidence, 0-10000 basis points.
(define-public (set-min-confidence (basis-points uint))
  (begin
    (try! (check-admin))
    (asserts! (<= basis-points BASIS-POINTS) ERR-INVALID-PARAMETER)
    (var-set min-confidence basis-points)
    (print { event: "min-confidence-set", min-confidence: basis-points, by: contract-caller })
    (ok true)
  )
)

;; Called by: an admin. Longest verification period in seconds: 1 .. MAX-VERIFICATION-PERIOD-LIMIT.
(define-public (set-max-verification-period (seconds uint))
  (begin
    (try! (check-admin))
    (asserts! (and (> seconds u0) (<= seconds MAX-VERIFICATION-PERIOD-LIMIT)) ERR-INVALID-PARAMETER)
    (var-set max-verification-period seconds)
    (print { event: "max-verification-period-set", max-verification-period: seconds, by: contract-caller })
    (ok true)
  )
)

;; Called by: an admin. Stops submissions and reviews; retraction stays possible.
(define-public (pause)
  (begin
    (try! (check-admin))
    (asserts! (not (var-get paused)) ERR-ALREADY-PAUSED)
    (var-set paused true)
    (print { event: "paused", by: contract-caller })
    (ok true)
  )
)

;; Called by: an admin.
(define-public (unpause)
  (begin
    (try! (check-admin))
    (asserts! (var-get paused) ERR-NOT-PAUSED)
    (var-set paused false)
    (print { event: "unpaused", by: contract-caller })
    (ok true)
  )
)

;; ---------------------------------------------------------------------------------------------
;; Admin: model registry
;; ---------------------------------------------------------------------------------------------

;; Called by: an admin. `model-hash` is the SHA-256 of the ONNX file. Returns the new model id.
(define-public (register-model
    (model-hash (buff 32))
    (name (string-ascii 64))
    (version (string-ascii 32))
    (model-min-confidence uint)
  )
  (let ((id (+ (var-get model-count) u1)))
    (try! (check-admin))
    (asserts!
      (and
        (is-digest model-hash)
        (> (len name) u0)
        (> (len version) u0)
        (<= model-min-confidence BASIS-POINTS)
      )
      ERR-INVALID-MODEL
    )
    (asserts! (is-none (map-get? model-ids model-hash)) ERR-MODEL-EXISTS)
    (map-set models id {
      model-hash: model-hash,
      name: name,
      version: version,
      min-confidence: model-min-confidence,
      active: true,
      registered-at: stacks-block-time,
      registered-by: contract-caller,
    })
    (map-set model-ids model-hash id)
    (var-set model-count id)
    (print {
      event: "model-registered",
      model-id: id,
      model-hash: model-hash,
      name: name,
      version: version,
      min-confidence: model-min-confidence,
      by: contract-caller,
    })
    (ok id)
  )
)

;; Called by: an admin. Retirement is final: a retired model accepts no new analyses; its past
;; analyses stay valid (it was active when they were made).
(define-public (retire-model (model-id uint))
  (let (
      (authorized (try! (check-admin)))
      (model (unwrap! (map-get? models model-id) ERR-UNKNOWN-MODEL))
    )
    (asserts! (get active model) ERR-MODEL-RETIRED)
    (map-set models model-id (merge model { active: false }))
    (print { event: "model-retired", model-id: model-id, by: contract-caller })
    (ok true)
  )
)

;; ---------------------------------------------------------------------------------------------
;; Professionals
;; ---------------------------------------------------------------------------------------------

;; Called by: anyone, for themselves. `credential-hash` is a salted hash of the licence record
;; (the salt stays with the professional and the verifier), so no name or licence number is public.
(define-public (register-professional (credential-hash (buff 32)) (specialty (string-ascii 16)))
  (let ((who contract-caller))
    (asserts! (and (is-digest credential-hash) (is-code specialty)) ERR-INVALID-CREDENTIAL)
    (asserts! (is-none (map-get? professionals who)) ERR-ALREADY-REGISTERED)
    (map-set professionals who {
      credential-hash: credential-hash,
      specialty: specialty,
      registered-at: stacks-block-time,
      verified-until: u0,
      verified-by: none,
      suspended: false,
      suspended-by: none,
      reinstated-by: none,
      status-reason: u0,
      analysis-count: u0,
    })
    (var-set professional-count (+ (var-get professional-count) u1))
    (print {
      event: "professional-registered",
      professional: who,
      credential-hash: credential-hash,
      specialty: specialty,
    })
    (ok true)
  )
)

;; Called by: a verifier, not for themselves; or an admin, to shorten. Verifies (or renews) `who`
;; until `expires-at`, a block time in the future and at most `max-verification-period` seconds
;; away; the caller becomes the grantor (`verified-by`). Shortening a verification that is still
;; running is for its grantor or an admin only, and keeps the grantor. Does not lift a suspension.
(define-public (verify-professional (who principal) (expires-at uint) (reason uint))
  (let (
      (authorized (try! (check-verifier-or-admin)))
      (p (unwrap! (map-get? professionals who) ERR-NOT-REGISTERED))
      (now stacks-block-time)
      (shortens (and (> (get verified-until p) now) (< expires-at (get verified-until p))))
    )
    (asserts! (not (is-eq who contract-caller)) ERR-SELF-VERIFICATION)
    ;; Differences, not sums: no expiry or period can overflow the check.
    (asserts!
      (and (> expires-at now) (<= (- expires-at now) (var-get max-verification-period)))
      ERR-INVALID-EXPIRY
    )
    (asserts! (or shortens (is-verifier contract-caller)) ERR-NOT-VERIFIER)
    (asserts!
      (or (not shortens) (is-eq (get verified-by p) (some contract-caller)) (is-admin contract-caller))
      ERR-NOT-GRANTOR
    )
    (let ((grantor (if shortens (get verified-by p) (some contract-caller))))
      (map-set professionals who (merge p { verified-until: expires-at, verified-by: grantor, status-reason: reason }))
      (print {
        event: "professional-verified",
        professional: who,
        verified-until: expires-at,
        verified-by: grantor,
        reason: reason,
        by: contract-caller,
      })
      (ok true)
    )
  )
)

;; Called by: a verifier, not for themselves. Records them as `suspended-by`.
(define-public (suspend-professional (who principal) (reason uint))
  (let (
      (authorized (try! (check-verifier)))
      (p (unwrap! (map-get? professionals who) ERR-NOT-REGISTERED))
    )
    (asserts! (not (is-eq who contract-caller)) ERR-SELF-VERIFICATION)
    (asserts! (not (get suspended p)) ERR-SUSPENDED)
    (map-set professionals who
      (merge p { suspended: true, suspended-by: (some contract-caller), status-reason: reason })
    )
    (print { event: "professional-suspended", professional: who, reason: reason, by: contract-caller })
    (ok true)
  )
)

;; Called by: the verifier who suspended `who` (still a verifier), or an admin; not for themselves.
;; Records the caller as `reinstated-by`.
(define-public (reinstate-professional (who principal) (reason uint))
  (let (
      (authorized (try! (check-verifier-or-admin)))
      (p (unwrap! (map-get? professionals who) ERR-NOT-REGISTERED))
    )
    (asserts! (not (is-eq who contract-caller)) ERR-SELF-VERIFICATION)
    (asserts! (get suspended p) ERR-NOT-SUSPENDED)
    (asserts!
      (or (is-admin contract-caller)
        (and (is-verifier contract-caller) (is-eq (get suspended-by p) (some contract-caller))))
      ERR-NOT-SUSPENDER
    )
    (map-set professionals who
      (merge p { suspended: false, reinstated-by: (some contract-caller), status-reason: reason })
    )
    (print { event: "professional-reinstated", professional: who, reason: reason, by: contract-caller })
    (ok true)
  )
)

;; ---------------------------------------------------------------------------------------------
;; Analyses
;;
;; A submission (one analysis or a batch) is checked whole before anything is written: first what
;; its analyses share, once (not paused, the caller an active professional, the model registered
;; and active, which gives the threshold), then every item; only then are the records written.
;; Nothing is written for a refused submission, whoever calls it.
;; ---------------------------------------------------------------------------------------------

;; MAX-BATCH-SIZE copies of `x`. Clarity's `map` has no closures: a per-batch value (the threshold,
;; the first id) reaches the function applied to each item as a list beside the items.
(define-private (batch-copies (x uint))
  (list
    x x x x x x x x x x x x x x x x x x x x x x x x x
    x x x x x x x x x x x x x x x x x x x x x x x x x
  )
)

;; Ok with the caller's record and the threshold in force when the caller may submit with this
;; model now; otherwise the first reason, in the documented order.
(define-private (check-submission (analyst principal) (model-id uint))
  (begin
    (asserts! (not (var-get paused)) ERR-PAUSED)
    (let (
        (p (try! (check-active-professional analyst)))
        (model (unwrap! (map-get? models model-id) ERR-UNKNOWN-MODEL))
      )
      (asserts! (get active model) ERR-MODEL-RETIRED)
      (ok { professional: p, threshold: (max-uint (var-get min-confidence) (get min-confidence model)) })
    )
  )
)

;; The checks of one item, in the documented order.
(define-private (check-item
    (item { image-hash: (buff 32), finding: (string-ascii 32), confidence: uint, report-digest: (buff 32) })
    (threshold uint)
  )
  (begin
    (asserts! (is-digest (get image-hash item)) ERR-INVALID-IMAGE-HASH)
    (asserts! (is-code (get finding item)) ERR-INVALID-FINDING)
    (asserts! (<= (get confidence item) BASIS-POINTS) ERR-INVALID-CONFIDENCE)
    (asserts! (is-digest (get report-digest item)) ERR-INVALID-REPORT-DIGEST)
    (asserts! (>= (get confidence item) threshold) ERR-CONFIDENCE-BELOW-THRESHOLD)
    (ok true)
  )
)

;; The fast form of `check-item` without the finding, for `map`: the item's image hash when its
;; hash, report digest and confidence pass, else ZERO-32 (which no valid item has).
(define-private (checked-image-hash
    (item { image-hash: (buff 32), finding: (string-ascii 32), confidence: uint, report-digest: (buff 32) })
    (threshold uint)
  )
  (let (
      (image-hash (get image-hash item))
      (confidence (get confidence item))
    )
    (if (and (is-digest image-hash) (is-digest (get report-digest item)) (<= threshold confidence) (<= confidence BASIS-POINTS))
      image-hash
      ZERO-32
    )
  )
)

;; The fast form of `check-item`'s finding check, for `fold`: ok with the codes found valid so far
;; (a batch repeats a few codes, and checking a code is the dearest check), err at the first
;; invalid one.
(define-private (check-finding
    (item { image-hash: (buff 32), finding: (string-ascii 32), confidence: uint, report-digest: (buff 32) })
    (known (response (list 8 (string-ascii 32)) bool))
  )
  (match known
    codes (if (is-some (index-of? codes (get finding item)))
      known
      (if (is-code (get finding item))
        (ok (default-to codes (as-max-len? (append codes (get finding item)) u8)))
        (err false)
      )
    )
    failed known
  )
)

;; For a refused batch: the index and error of its first item that fails `check-item`.
(define-private (find-item-error
    (item { image-hash: (buff 32), finding: (string-ascii 32), confidence: uint, report-digest: (buff 32) })
    (acc { threshold: uint, index: uint, code: (optional uint) })
  )
  (if (is-some (get code acc))
    acc
    (match (check-item item (get threshold acc))
      passed (merge acc { index: (+ (get index acc) u1) })
      code (merge acc { code: (some code) })
    )
  )
)

;; Adds analysis `id` to its image's index; returns its image index. A new image's first analysis
;; costs one write (the stats entry names it); later ones also read the stats and add an entry.
(define-private (index-image (image-hash (buff 32)) (id uint))
  (if (map-insert image-stats image-hash { total: u1, valid: u1, disputed: u0, first-id: id })
    u0
    ;; `map-insert` failed: the image has stats.
    (let ((stats (unwrap-panic (map-get? image-stats image-hash))))
      (map-set image-analyses { image-hash: image-hash, index: (get total stats) } id)
      (map-set image-stats image-hash
        (merge stats { total: (+ (get total stats) u1), valid: (+ (get valid stats) u1) })
      )
      (get total stats)
    )
  )
)

;; Writes one checked item as analysis `batch-id` + `offset`.
(define-private (store-item
    (item { image-hash: (buff 32), finding: (string-ascii 32), confidence: uint, report-digest: (buff 32) })
    (image-hash (buff 32))
    (offset uint)
    (batch-id uint)
  )
  (let ((id (+ batch-id offset)))
    (map-set analyses id (merge item {
      batch-id: batch-id,
      image-index: (index-image image-hash id),
      confirmations: u0,
      disputes: u0,
      retracted: false,
      retraction-reason: u0,
    }))
  )
)

;; Writes what the analyses first-id .. first-id + size - 1, all checked and stored, share.
(define-private (record-submission
    (analyst principal)
    (model-id uint)
    (shared {
      professional: {
        credential-hash: (buff 32),
        specialty: (string-ascii 16),
        registered-at: uint,
        verified-until: uint,
        verified-by: (optional principal),
        suspended: bool,
        suspended-by: (optional principal),
        reinstated-by: (optional principal),
        status-reason: uint,
        analysis-count: uint,
      },
      threshold: uint,
    })
    (first-id uint)
    (size uint)
  )
  (let ((p (get professional shared)))
    (map-set batches first-id {
      analyst: analyst,
      model-id: model-id,
      threshold: (get threshold shared),
      block-height: stacks-block-height,
      block-time: stacks-block-time,
      burn-block-height: burn-block-height,
      size: size,
    })
    (map-set professionals analyst (merge p { analysis-count: (+ (get analysis-count p) size) }))
    (var-set analysis-count (- (+ first-id size) u1))
  )
)

;; Called by: an active professional, while not paused. Appends one analysis; returns its id.
;; `confidence` is the calibrated probability of `finding` in basis points.
(define-public (submit-analysis
    (image-hash (buff 32))
    (model-id uint)
    (finding (string-ascii 32))
    (confidence uint)
    (report-digest (buff 32))
  )
  (let (
      (analyst contract-caller)
      (item { image-hash: image-hash, finding: finding, confidence: confidence, report-digest: report-digest })
      (shared (try! (check-submission analyst model-id)))
      (id (+ (var-get analysis-count) u1))
    )
    (try! (check-item item (get threshold shared)))
    (store-item item image-hash u0 id)
    (record-submission analyst model-id shared id u1)
    (print {
      event: "analysis-submitted",
      analysis-id: id,
      image-hash: image-hash,
      model-id: model-id,
      finding: finding,
      confidence: confidence,
      report-digest: report-digest,
      analyst: analyst,
      threshold: (get threshold shared),
    })
    (ok id)
  )
)

;; Called by: an active professional, while not paused. Appends 1 to MAX-BATCH-SIZE analyses made
;; with one model, all or nothing; returns the first and last ids (consecutive). Refused: the error
;; code, with the 0-based index of the first item at fault, or `none` when the whole batch is
;; (paused, caller, model, empty).
(define-public (submit-analyses
    (model-id uint)
    (items (list 50 { image-hash: (buff 32), finding: (string-ascii 32), confidence: uint, report-digest: (buff 32) }))
  )
  (let (
      (analyst contract-caller)
      (shared (try! (match (check-submission analyst model-id)
        checked (ok checked)
        code (err { code: code, index: none })
      )))
      (threshold (get threshold shared))
      (size (len items))
      (first-id (+ (var-get analysis-count) u1))
    )
    (asserts! (> size u0) (err { code: (unwrap-err-panic ERR-EMPTY-BATCH), index: none }))
    (let ((image-hashes (map checked-image-hash items (batch-copies threshold))))
      (asserts!
        (and (is-none (index-of? image-hashes ZERO-32)) (is-ok (fold check-finding items (ok (list)))))
        (let ((found (fold find-item-error items { threshold: threshold, index: u0, code: none })))
          ;; The fast checks above and `check-item` apply the same rules: some item fails.
          (err { code: (unwrap-panic (get code found)), index: (some (get index found)) })
        )
      )
      (map store-item items image-hashes BATCH-OFFSETS (batch-copies first-id))
    )
    (record-submission analyst model-id shared first-id size)
    ;; The items are the call's argument: analysis first-id + i is item i. Printing them again
    ;; would cost more than any other part of an item (docs/contract.md, "Events").
    (print {
      event: "analyses-submitted",
      first-id: first-id,
      last-id: (- (+ first-id size) u1),
      model-id: model-id,
      analyst: analyst,
      threshold: threshold,
    })
    (ok { first-id: first-id, last-id: (- (+ first-id size) u1) })
  )
)

;; ---------------------------------------------------------------------------------------------
;; Review and retraction
;;
;; The dispute rule: an analysis is *disputed* while it has more disputes than confirmations, and
;; *valid* while it is neither retracted nor disputed. `image-stats` counts both, so `verify-image`
;; answers from counts that every review and retraction keeps exact.
;; ---------------------------------------------------------------------------------------------

;; The submission an analysis belongs to; every analysis has one (written in the same call).
(define-private (batch-of (batch-id uint))
  (unwrap-panic (map-get? batches batch-id))
)

(define-private (review-status (retracted bool) (confirmations uint) (disputes uint))
  (if retracted
    "retracted"
    (if (> disputes confirmations)
      "disputed"
      (if (> confirmations u0) "confirmed" "unreviewed")
    )
  )
)

;; The checks of a review by `contract-caller` of an analysis by `author`, in the documented order.
(define-private (check-review (author principal) (retracted bool) (reviewed bool) (note-digest (buff 32)))
  (begin
    (asserts! (not (var-get paused)) ERR-PAUSED)
    (asserts! (is-digest note-digest) ERR-INVALID-NOTE-DIGEST)
    (try! (check-active-professional contract-caller))
    (asserts! (not (is-eq contract-caller author)) ERR-SELF-REVIEW)
    (asserts! (not retracted) ERR-ANALYSIS-RETRACTED)
    (asserts! (not reviewed) ERR-ALREADY-REVIEWED)
    (ok true)
  )
)

(define-private (review-entry (confirmed bool) (note-digest (buff 32)))
  { confirmed: confirmed, note-digest: note-digest, block-height: stacks-block-height, block-time: stacks-block-time }
)

;; Called by: an active professional other than the author, while not paused. One review per
;; reviewer per analysis; `confirmed` false records a dispute. `note-digest` is the SHA-256 of the
;; reviewer's off-chain note.
(define-public (review-analysis (analysis-id uint) (confirmed bool) (note-digest (buff 32)))
  (let (
      (analysis (unwrap! (map-get? analyses analysis-id) ERR-UNKNOWN-ANALYSIS))
      (review-key { analysis-id: analysis-id, reviewer: contract-caller })
      (image-hash (get image-hash analysis))
      (confirmations (+ (get confirmations analysis) (if confirmed u1 u0)))
      (disputes (+ (get disputes analysis) (if confirmed u0 u1)))
      (was-disputed (> (get disputes analysis) (get confirmations analysis)))
      (is-disputed (> disputes confirmations))
    )
    (try! (check-review
      (get analyst (batch-of (get batch-id analysis)))
      (get retracted analysis)
      (is-some (map-get? reviews review-key))
      note-digest
    ))
    (map-set reviews review-key (review-entry confirmed note-digest))
    (map-set analyses analysis-id (merge analysis { confirmations: confirmations, disputes: disputes }))
    (if (is-eq was-disputed is-disputed)
      true
      ;; Every analysis has its image's stats (written with it).
      (let ((stats (unwrap-panic (map-get? image-stats image-hash))))
        (map-set image-stats image-hash
          (if is-disputed
            (merge stats { valid: (- (get valid stats) u1), disputed: (+ (get disputed stats) u1) })
            (merge stats { valid: (+ (get valid stats) u1), disputed: (- (get disputed stats) u1) })
          )
        )
      )
    )
    (print {
      event: "analysis-reviewed",
      analysis-id: analysis-id,
      reviewer: contract-caller,
      confirmed: confirmed,
      note-digest: note-digest,
    })
    (ok true)
  )
)

;; Called by: the analysis' author, whatever their status now and even while paused, so a wrong
;; result can always be withdrawn. The record stays, marked retracted with the reason code.
(define-public (retract-analysis (analysis-id uint) (reason uint))
  (let (
      (analysis (unwrap! (map-get? analyses analysis-id) ERR-UNKNOWN-ANALYSIS))
      (image-hash (get image-hash analysis))
      ;; Every analysis has its image's stats (written with it).
      (stats (unwrap-panic (map-get? image-stats image-hash)))
    )
    (asserts! (is-eq contract-caller (get analyst (batch-of (get batch-id analysis)))) ERR-NOT-AUTHOR)
    (asserts! (not (get retracted analysis)) ERR-ANALYSIS-RETRACTED)
    (map-set analyses analysis-id (merge analysis { retracted: true, retraction-reason: reason }))
    (map-set image-stats image-hash
      (if (> (get disputes analysis) (get confirmations analysis))
        (merge stats { disputed: (- (get disputed stats) u1) })
        (merge stats { valid: (- (get valid stats) u1) })
      )
    )
    (print {
      event: "analysis-retracted",
      analysis-id: analysis-id,
      image-hash: image-hash,
      reason: reason,
      by: contract-caller,
    })
    (ok true)
  )
)

;; ---------------------------------------------------------------------------------------------
;; Merkle anchoring
;;
;; One root anchors up to 2^20 analyses (its leaves) made by one analyst with one model. A leaf is
;; the Clarity serialization (`to-consensus-buff?`, SIP-005) of the tuple `{analyst, confidence,
;; finding, image-hash, model-id, report-digest}`; the tree is RFC 6962's (docs/merkle.md, with
;; vectors in tests/merkle/vectors.json). Only the root is on chain; each analysis is proven by its
;; leaf, its index and the sibling hashes on its path, which `verify-leaf`, `review-leaf` and
;; `retract-leaf` check against the root's stored size.
;; ---------------------------------------------------------------------------------------------

(define-private (leaf-hash-of (leaf {
    image-hash: (buff 32),
    model-id: uint,
    finding: (string-ascii 32),
    confidence: uint,
    report-digest: (buff 32),
    analyst: principal,
  }))
  ;; A value of a fixed type always serializes within its type's bound: unwrap-panic cannot fail.
  (sha256 (concat LEAF-PREFIX (unwrap-panic (to-consensus-buff? leaf))))
)

;; One step of RFC 9162's inclusion-proof check (section 2.1.3.2): `fn` is the node's index at this
;; level, `sn` the last index at this level; a sibling past the root (sn = 0) fails the proof.
(define-private (proof-step (sibling (buff 32)) (acc { fn: uint, sn: uint, hash: (buff 32), ok: bool }))
  (let ((fn (get fn acc)) (sn (get sn acc)))
    (if (or (not (get ok acc)) (is-eq sn u0))
      (merge acc { ok: false })
      (if (is-eq (mod fn u2) u1)
        ;; a right child: the sibling is on the left
        { fn: (/ fn u2), sn: (/ sn u2), hash: (sha256 (concat NODE-PREFIX (concat sibling (get hash acc)))), ok: true }
        (if (is-eq fn sn)
          ;; the last node of its level with no right sibling rises unchanged until it is a right
          ;; child: shift past fn's trailing zeros (fn > 0 here, as sn > 0), then one level more
          (let ((rise (* u2 (- fn (bit-and fn (- fn u1))))))
            { fn: (/ fn rise), sn: (/ sn rise), hash: (sha256 (concat NODE-PREFIX (concat sibling (get hash acc)))), ok: true }
          )
          ;; a left child: the sibling is on the right
          { fn: (/ fn u2), sn: (/ sn u2), hash: (sha256 (concat NODE-PREFIX (concat (get hash acc) sibling))), ok: true }
        )
      )
    )
  )
)

;; Ok with the root's id and record when `leaf` is leaf `index` of the root `root` as anchored by
;; the leaf's analyst, by `proof`, and is an analysis the root could anchor (its model, well-formed
;; fields); otherwise why not.
(define-private (prove-leaf
    (root (buff 32))
    (leaf { image-hash: (buff 32), model-id: uint, finding: (string-ascii 32), confidence: uint, report-digest: (buff 32), analyst: principal })
    (index uint)
    (proof (list 20 (buff 32)))
  )
  (let (
      (root-id (unwrap! (map-get? root-ids { analyst: (get analyst leaf), root: root }) ERR-UNKNOWN-ROOT))
      ;; every root id in root-ids has its record (written together), whose analyst is the leaf's
      (anchor (unwrap-panic (map-get? roots root-id)))
    )
    (asserts! (< index (get size anchor)) ERR-INVALID-PROOF)
    (let ((end (fold proof-step proof { fn: index, sn: (- (get size anchor) u1), hash: (leaf-hash-of leaf), ok: true })))
      (asserts! (and (get ok end) (is-eq (get sn end) u0) (is-eq (get hash end) root)) ERR-INVALID-PROOF)
    )
    (asserts! (is-eq (get model-id leaf) (get model-id anchor)) ERR-LEAF-MISMATCH)
    ;; the format checks of a submitted item (threshold 0: `verify-leaf` reports the threshold)
    (try! (check-item {
      image-hash: (get image-hash leaf),
      finding: (get finding leaf),
      confidence: (get confidence leaf),
      report-digest: (get report-digest leaf),
    } u0))
    (ok { root-id: root-id, anchor: anchor })
  )
)

(define-private (get-leaf-state (root-id uint) (index uint))
  (default-to
    { confirmations: u0, disputes: u0, retracted: false, retraction-reason: u0 }
    (map-get? leaf-status { root-id: root-id, index: index })
  )
)

;; Called by: an active professional, while not paused. Anchors `root`, the RFC 6962 root of
;; `count` leaves (1 .. 2^20), each an analysis by the caller with `model-id`; `min-confidence` is
;; the lowest confidence among them and must meet the threshold in force, which is stored with the
;; root. An analyst anchors a root once; another analyst's anchoring of the same root neither
;; blocks theirs nor proves their leaves (see `root-ids`). Returns the root id.
(define-public (anchor-root (root (buff 32)) (count uint) (model-id uint) (lowest-confidence uint))
  (let (
      (analyst contract-caller)
      (shared (try! (check-submission analyst model-id)))
      (threshold (get threshold shared))
      (p (get professional shared))
      (root-id (+ (var-get root-count) u1))
    )
    (asserts! (is-digest root) ERR-INVALID-ROOT)
    (asserts! (and (>= count u1) (<= count MAX-ROOT-LEAVES)) ERR-INVALID-LEAF-COUNT)
    (asserts! (<= lowest-confidence BASIS-POINTS) ERR-INVALID-CONFIDENCE)
    (asserts! (>= lowest-confidence threshold) ERR-CONFIDENCE-BELOW-THRESHOLD)
    (asserts! (is-none (map-get? root-ids { analyst: analyst, root: root })) ERR-ROOT-EXISTS)
    (map-set root-ids { analyst: analyst, root: root } root-id)
    (map-set roots root-id {
      root: root,
      size: count,
      model-id: model-id,
      min-confidence: lowest-confidence,
      threshold: threshold,
      analyst: analyst,
      block-height: stacks-block-height,
      block-time: stacks-block-time,
      burn-block-height: burn-block-height,
    })
    (var-set root-count root-id)
    (map-set professionals analyst (merge p { analysis-count: (+ (get analysis-count p) count) }))
    (print {
      event: "root-anchored",
      root-id: root-id,
      root: root,
      count: count,
      model-id: model-id,
      min-confidence: lowest-confidence,
      threshold: threshold,
      analyst: analyst,
    })
    (ok root-id)
  )
)

;; Called by: an active professional other than the leaf's analyst, while not paused: as
;; `review-analysis`, for leaf `index` of `root`, proven by `proof`.
(define-public (review-leaf
    (root (buff 32))
    (leaf { image-hash: (buff 32), model-id: uint, finding: (string-ascii 32), confidence: uint, report-digest: (buff 32), analyst: principal })
    (index uint)
    (proof (list 20 (buff 32)))
    (confirmed bool)
    (note-digest (buff 32))
  )
  (let (
      (root-id (get root-id (try! (prove-leaf root leaf index proof))))
      (key { root-id: root-id, index: index })
      (review-key { root-id: root-id, index: index, reviewer: contract-caller })
      (state (get-leaf-state root-id index))
    )
    (try! (check-review (get analyst leaf) (get retracted state) (is-some (map-get? leaf-reviews review-key)) note-digest))
    (map-set leaf-reviews review-key (review-entry confirmed note-digest))
    (map-set leaf-status key (merge state {
      confirmations: (+ (get confirmations state) (if confirmed u1 u0)),
      disputes: (+ (get disputes state) (if confirmed u0 u1)),
    }))
    (print {
      event: "leaf-reviewed",
      root-id: root-id,
      index: index,
      reviewer: contract-caller,
      confirmed: confirmed,
      note-digest: note-digest,
    })
    (ok true)
  )
)

;; Called by: the leaf's analyst, whatever their status now and even while paused: as
;; `retract-analysis`, for leaf `index` of `root`, proven by `proof`.
(define-public (retract-leaf
    (root (buff 32))
    (leaf { image-hash: (buff 32), model-id: uint, finding: (string-ascii 32), confidence: uint, report-digest: (buff 32), analyst: principal })
    (index uint)
    (proof (list 20 (buff 32)))
    (reason uint)
  )
  (let (
      (root-id (get root-id (try! (prove-leaf root leaf index proof))))
      (state (get-leaf-state root-id index))
    )
    (asserts! (is-eq contract-caller (get analyst leaf)) ERR-NOT-AUTHOR)
    (asserts! (not (get retracted state)) ERR-ANALYSIS-RETRACTED)
    (map-set leaf-status { root-id: root-id, index: index } (merge state { retracted: true, retraction-reason: reason }))
    (print {
      event: "leaf-retracted",
      root-id: root-id,
      index: index,
      image-hash: (get image-hash leaf),
      reason: reason,
      by: contract-caller,
    })
    (ok true)
  )
)

;; ---------------------------------------------------------------------------------------------
;; Read-only
;; ---------------------------------------------------------------------------------------------

(define-read-only (get-parameters)
  {
    contract-version: CONTRACT-VERSION,
    min-confidence: (var-get min-confidence),
    max-verification-period: (var-get max-verification-period),
    max-verification-period-limit: MAX-VERIFICATION-PERIOD-LIMIT,
    max-batch-size: MAX-BATCH-SIZE,
    paused: (var-get paused),
    admin-count: (var-get admin-count),
    analysis-count: (var-get analysis-count),
    model-count: (var-get model-count),
    professional-count: (var-get professional-count),
    root-count: (var-get root-count),
    max-root-leaves: MAX-ROOT-LEAVES,
  }
)

(define-read-only (is-admin (who principal))
  (default-to false (map-get? admins who))
)

(define-read-only (is-verifier (who principal))
  (default-to false (map-get? verifiers who))
)

(define-read-only (is-active-professional (who principal))
  (is-ok (check-active-professional who))
)

;; The professional's record with `active` (may submit and review now) and, when not, why:
;; `inactive-reason` is the error code a submission would get (u0 when active).
(define-read-only (get-professional (who principal))
  (match (map-get? professionals who)
    p (some (merge p {
      active: (is-ok (check-active-professional who)),
      inactive-reason: (match (check-active-professional who) ok-p u0 code code),
    }))
    none
  )
)

(define-read-only (get-model (model-id uint))
  (map-get? models model-id)
)

(define-read-only (get-model-id (model-hash (buff 32)))
  (map-get? model-ids model-hash)
)

;; One analysis with what its submission shares (analyst, model, threshold, block height, time and
;; burn block height), its id and its review status: "unreviewed", "confirmed" (at least one
;; confirmation and no more disputes than confirmations), "disputed" (more disputes than
;; confirmations) or "retracted".
(define-read-only (get-analysis (analysis-id uint))
  (match (map-get? analyses analysis-id)
    a (let ((b (batch-of (get batch-id a))))
      (some (merge a {
        analysis-id: analysis-id,
        analyst: (get analyst b),
        model-id: (get model-id b),
        threshold: (get threshold b),
        block-height: (get block-height b),
        block-time: (get block-time b),
        burn-block-height: (get burn-block-height b),
        status: (review-status (get retracted a) (get confirmations a) (get disputes a)),
      }))
    )
    none
  )
)

(define-read-only (get-review (analysis-id uint) (reviewer principal))
  (map-get? reviews { analysis-id: analysis-id, reviewer: reviewer })
)

;; `{total, valid, disputed}`: analyses ever recorded for the image, those valid now and those
;; disputed now (retracted: total - valid - disputed).
(define-read-only (get-image-stats (image-hash (buff 32)))
  (match (map-get? image-stats image-hash)
    s { total: (get total s), valid: (get valid s), disputed: (get disputed s) }
    { total: u0, valid: u0, disputed: u0 }
  )
)

(define-private (image-analysis-id (image-hash (buff 32)) (first-id uint) (index uint))
  (if (is-eq index u0)
    (some first-id)
    (map-get? image-analyses { image-hash: image-hash, index: index })
  )
)

;; The id of the image's `index`-th analysis (0-based, submission order).
(define-read-only (get-image-analysis-id (image-hash (buff 32)) (index uint))
  (match (map-get? image-stats image-hash)
    s (if (< index (get total s)) (image-analysis-id image-hash (get first-id s) index) none)
    none
  )
)

(define-private (collect-image-analysis-id
    (offset uint)
    (acc { image-hash: (buff 32), first-id: uint, start: uint, end: uint, ids: (list 20 uint) })
  )
  (let ((index (+ (get start acc) offset)))
    (if (< index (get end acc))
      (merge acc {
        ids: (unwrap-panic (as-max-len? (append (get ids acc) (unwrap-panic (image-analysis-id (get image-hash acc) (get first-id acc) index))) u20)),
      })
      acc
    )
  )
)

;; Up to 20 analysis ids of an image in submission order, starting at index `start`; page with
;; `start` + 20 while `get-image-stats` says there are more. Any `start` at or past the end gives
;; an empty list.
(define-read-only (get-image-analysis-ids (image-hash (buff 32)) (start uint))
  (match (map-get? image-stats image-hash)
    s (if (< start (get total s))
      ;; start < total here, so start + offset cannot overflow
      (get ids (fold collect-image-analysis-id PAGE-OFFSETS {
        image-hash: image-hash,
        first-id: (get first-id s),
        start: start,
        end: (get total s),
        ids: (list),
      }))
      (list)
    )
    (list)
  )
)

;; Walks newest-first; keeps the first valid (neither retracted nor disputed) analysis found.
(define-private (find-newest-valid
    (offset uint)
    (acc { image-hash: (buff 32), first-id: uint, total: uint, found: (optional uint) })
  )
  (if (or (is-some (get found acc)) (>= offset (get total acc)))
    acc
    (let (
        ;; index < total: the image index has this entry
        (id (unwrap-panic (image-analysis-id (get image-hash acc) (get first-id acc) (- (get total acc) offset u1))))
        (a (unwrap-panic (map-get? analyses id)))
      )
      (if (or (get retracted a) (> (get disputes a) (get confirmations a)))
        acc
        (merge acc { found: (some id) })
      )
    )
  )
)

;; "Is there a valid analysis of this image, and which?" Valid means neither retracted nor disputed
;; (more disputes than confirmations). Every stored analysis was, by construction, submitted by a
;; then-active professional with a then-active model at or above the threshold then in force (kept
;; in its `threshold`). Answers the exact counts and the newest valid analysis among the 10 most
;; recent; `get-image-analysis-ids` and `get-analysis` page through all of them.
(define-read-only (verify-image (image-hash (buff 32)))
  (match (map-get? image-stats image-hash)
    s (let ((found (get found (fold find-newest-valid VERIFY-WINDOW {
          image-hash: image-hash,
          first-id: (get first-id s),
          total: (get total s),
          found: none,
        }))))
      {
        valid: (> (get valid s) u0),
        total: (get total s),
        valid-count: (get valid s),
        disputed-count: (get disputed s),
        retracted-count: (- (get total s) (get valid s) (get disputed s)),
        latest-valid: (match found id (get-analysis id) none),
      }
    )
    {
      valid: false,
      total: u0,
      valid-count: u0,
      disputed-count: u0,
      retracted-count: u0,
      latest-valid: none,
    }
  )
)

(define-read-only (get-root (root-id uint))
  (map-get? roots root-id)
)

;; The id of `root` as anchored by `analyst`.
(define-read-only (get-root-id (analyst principal) (root (buff 32)))
  (map-get? root-ids { analyst: analyst, root: root })
)

;; The leaf hash of `leaf`: SHA-256(0x00 || to-consensus-buff? of the tuple) (docs/merkle.md).
(define-read-only (leaf-hash
    (leaf { image-hash: (buff 32), model-id: uint, finding: (string-ascii 32), confidence: uint, report-digest: (buff 32), analyst: principal })
  )
  (leaf-hash-of leaf)
)

(define-read-only (get-leaf-review (root-id uint) (index uint) (reviewer principal))
  (map-get? leaf-reviews { root-id: root-id, index: index, reviewer: reviewer })
)

;; "Is this analysis anchored, by whom, with which model, when, and is it valid?" for a
;; Merkle-anchored analysis: recomputes `root` from `leaf`, its `index` and `proof` (the siblings on
;; its path, leaf level first) for the root's stored size. Ok with the anchor (analyst, model,
;; threshold, block height, time and burn block height), whether the leaf's confidence meets the
;; stored threshold, its review status and `valid` (meets the threshold, neither retracted nor
;; disputed); err ERR-UNKNOWN-ROOT, ERR-INVALID-PROOF, ERR-LEAF-MISMATCH or the format error of a
;; malformed leaf field.
(define-read-only (verify-leaf
    (root (buff 32))
    (leaf { image-hash: (buff 32), model-id: uint, finding: (string-ascii 32), confidence: uint, report-digest: (buff 32), analyst: principal })
    (index uint)
    (proof (list 20 (buff 32)))
  )
  (let (
      (proven (try! (prove-leaf root leaf index proof)))
      (anchor (get anchor proven))
      (state (get-leaf-state (get root-id proven) index))
      (meets-threshold (>= (get confidence leaf) (get threshold anchor)))
      (status (review-status (get retracted state) (get confirmations state) (get disputes state)))
    )
    (ok {
      root-id: (get root-id proven),
      index: index,
      size: (get size anchor),
      analyst: (get analyst anchor),
      model-id: (get model-id anchor),
      threshold: (get threshold anchor),
      meets-threshold: meets-threshold,
      block-height: (get block-height anchor),
      block-time: (get block-time anchor),
      burn-block-height: (get burn-block-height anchor),
      confirmations: (get confirmations state),
      disputes: (get disputes state),
      retracted: (get retracted state),
      retraction-reason: (get retraction-reason state),
      status: status,
      valid: (and meets-threshold (or (is-eq status "unreviewed") (is-eq status "confirmed"))),
    })
  )
)
