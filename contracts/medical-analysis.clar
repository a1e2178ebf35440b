;; title: medical-analysis
;; summary: Append-only, auditable record of AI analyses of medical images.
;;
;; What goes on chain is only what must be public and tamper-evident: a keyed hash of the image
;; pixels (never the image, never a patient identifier), the model that produced the finding, the
;; finding code, its calibrated confidence in basis points, the digest of the full off-chain report,
;; the analyst principal, and the block height and time. docs/contract.md is the reference for every
;; function, role, error code and event below.
;;
;; Roles:
;;   admin        - adds/removes admins (never the last), appoints/dismisses verifiers, sets system
;;                  parameters, registers/retires models, pauses/unpauses submissions.
;;   verifier     - a credentialing authority: verifies registered professionals until an expiry
;;                  (block time), suspends and reinstates them with a reason code.
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

(define-constant CONTRACT-VERSION u1)
(define-constant BASIS-POINTS u10000)
;; Hashes and digests are SHA-256 (or HMAC-SHA-256) outputs: exactly 32 bytes, never all zero.
(define-constant ZERO-32 0x0000000000000000000000000000000000000000000000000000000000000000)
;; Codes (finding, specialty) are identifiers such as "SCT:27550009" or "nodule-present": letters,
;; digits and . _ : - only. No spaces or punctuation, so free text (a name, a note) does not fit.
(define-constant CODE-CHARS "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._:-")
;; The batch bound is the list bound of `submit-analyses`; chosen from the cost table in
;; docs/contract.md so that a full batch stays a small share of a block's budget.
(define-constant MAX-BATCH-SIZE u50)
;; Read-only pages (`get-image-analysis-ids`, `verify-image`) look at this many entries at once.
(define-constant PAGE-SIZE u20)
(define-constant PAGE-OFFSETS (list u0 u1 u2 u3 u4 u5 u6 u7 u8 u9 u10 u11 u12 u13 u14 u15 u16 u17 u18 u19))

;; ---------------------------------------------------------------------------------------------
;; State
;; ---------------------------------------------------------------------------------------------

;; Global minimum confidence in basis points; each model may demand more.
(define-data-var min-confidence uint u5000)
;; Longest a verification may run, in seconds of block time (default: two years).
(define-data-var max-verification-period uint u63072000)
(define-data-var paused bool false)
(define-data-var admin-count uint u1)
(define-data-var analysis-count uint u0)
(define-data-var model-count uint u0)
(define-data-var professional-count uint u0)

(define-map admins principal bool)
(define-map verifiers principal bool)

;; verified-until is a block time (seconds); u0 means never verified.
(define-map professionals
  principal
  {
    credential-hash: (buff 32),
    specialty: (string-ascii 16),
    registered-at: uint,
    verified-until: uint,
    verified-by: (optional principal),
    suspended: bool,
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

;; Append-only: a record is written once; later only its review counters and retraction flag move.
;; `threshold` is the minimum confidence in force when it was submitted (global or model, whichever
;; was higher), kept so an auditor never has to reconstruct parameter history.
(define-map analyses
  uint
  {
    image-hash: (buff 32),
    model-id: uint,
    finding: (string-ascii 32),
    confidence: uint,
    report-digest: (buff 32),
    analyst: principal,
    block-height: uint,
    block-time: uint,
    threshold: uint,
    image-index: uint,
    confirmations: uint,
    disputes: uint,
    retracted: bool,
    retraction-reason: uint,
  }
)
;; Per image: how many analyses were ever recorded and how many are not retracted.
(define-map image-stats (buff 32) { total: uint, valid: uint })
;; Per image, in submission order: index -> analysis id.
(define-map image-analyses { image-hash: (buff 32), index: uint } uint)

(define-map reviews
  { analysis-id: uint, reviewer: principal }
  { confirmed: bool, note-digest: (buff 32), block-height: uint, block-time: uint }
)

;; The deployer is the first admin.
(map-set admins tx-sender true)
(print { event: "admin-added", admin: tx-sender, by: tx-sender })

;; ---------------------------------------------------------------------------------------------
;; Authorization helpers (the only places roles are checked)
;; ---------------------------------------------------------------------------------------------

(define-private (check-admin)
  (ok (asserts! (default-to false (map-get? admins contract-caller)) ERR-NOT-ADMIN))
)

(define-private (check-verifier)
  (ok (asserts! (default-to false (map-get? verifiers contract-caller)) ERR-NOT-VERIFIER))
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

(define-private (is-digest (b (buff 32)))
  (and (is-eq (len b) u32) (not (is-eq b ZERO-32)))
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

;; Called by: an admin. Longest verification period in seconds; must be positive.
(define-public (set-max-verification-period (seconds uint))
  (begin
    (try! (check-admin))
    (asserts! (> seconds u0) ERR-INVALID-PARAMETER)
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

;; Called by: a verifier, not for themselves. Verifies (or renews) `who` until `expires-at`, a block
;; time in the future and at most `max-verification-period` seconds away. Does not lift a suspension.
(define-public (verify-professional (who principal) (expires-at uint) (reason uint))
  (let (
      (authorized (try! (check-verifier)))
      (p (unwrap! (map-get? professionals who) ERR-NOT-REGISTERED))
    )
    (asserts! (not (is-eq who contract-caller)) ERR-SELF-VERIFICATION)
    (asserts!
      (and
        (> expires-at stacks-block-time)
        (<= expires-at (+ stacks-block-time (var-get max-verification-period)))
      )
      ERR-INVALID-EXPIRY
    )
    (map-set professionals who
      (merge p { verified-until: expires-at, verified-by: (some contract-caller), status-reason: reason })
    )
    (print {
      event: "professional-verified",
      professional: who,
      verified-until: expires-at,
      reason: reason,
      by: contract-caller,
    })
    (ok true)
  )
)

;; Called by: a verifier, not for themselves.
(define-public (suspend-professional (who principal) (reason uint))
  (let (
      (authorized (try! (check-verifier)))
      (p (unwrap! (map-get? professionals who) ERR-NOT-REGISTERED))
    )
    (asserts! (not (is-eq who contract-caller)) ERR-SELF-VERIFICATION)
    (asserts! (not (get suspended p)) ERR-SUSPENDED)
    (map-set professionals who (merge p { suspended: true, status-reason: reason }))
    (print { event: "professional-suspended", professional: who, reason: reason, by: contract-caller })
    (ok true)
  )
)

;; Called by: a verifier, not for themselves.
(define-public (reinstate-professional (who principal) (reason uint))
  (let (
      (authorized (try! (check-verifier)))
      (p (unwrap! (map-get? professionals who) ERR-NOT-REGISTERED))
    )
    (asserts! (not (is-eq who contract-caller)) ERR-SELF-VERIFICATION)
    (asserts! (get suspended p) ERR-NOT-SUSPENDED)
    (map-set professionals who (merge p { suspended: false, status-reason: reason }))
    (print { event: "professional-reinstated", professional: who, reason: reason, by: contract-caller })
    (ok true)
  )
)

;; ---------------------------------------------------------------------------------------------
;; Analyses
;; ---------------------------------------------------------------------------------------------

;; Validates one analysis and appends it. Callers have already checked pause and the analyst.
(define-private (store-analysis
    (item {
      image-hash: (buff 32),
      model-id: uint,
      finding: (string-ascii 32),
      confidence: uint,
      report-digest: (buff 32),
    })
    (analyst principal)
  )
  (let (
      (image-hash (get image-hash item))
      (confidence (get confidence item))
      (id (+ (var-get analysis-count) u1))
      (stats (default-to { total: u0, valid: u0 } (map-get? image-stats image-hash)))
    )
    (asserts! (is-digest image-hash) ERR-INVALID-IMAGE-HASH)
    (asserts! (is-code (get finding item)) ERR-INVALID-FINDING)
    (asserts! (<= confidence BASIS-POINTS) ERR-INVALID-CONFIDENCE)
    (asserts! (is-digest (get report-digest item)) ERR-INVALID-REPORT-DIGEST)
    (let (
        (model (unwrap! (map-get? models (get model-id item)) ERR-UNKNOWN-MODEL))
        (threshold (max-uint (var-get min-confidence) (get min-confidence model)))
      )
      (asserts! (get active model) ERR-MODEL-RETIRED)
      (asserts! (>= confidence threshold) ERR-CONFIDENCE-BELOW-THRESHOLD)
      (map-set analyses id {
        image-hash: image-hash,
        model-id: (get model-id item),
        finding: (get finding item),
        confidence: confidence,
        report-digest: (get report-digest item),
        analyst: analyst,
        block-height: stacks-block-height,
        block-time: stacks-block-time,
        threshold: threshold,
        image-index: (get total stats),
        confirmations: u0,
        disputes: u0,
        retracted: false,
        retraction-reason: u0,
      })
      (map-set image-analyses { image-hash: image-hash, index: (get total stats) } id)
      (map-set image-stats image-hash { total: (+ (get total stats) u1), valid: (+ (get valid stats) u1) })
      (var-set analysis-count id)
      (print {
        event: "analysis-submitted",
        analysis-id: id,
        image-hash: image-hash,
        model-id: (get model-id item),
        finding: (get finding item),
        confidence: confidence,
        report-digest: (get report-digest item),
        analyst: analyst,
        threshold: threshold,
      })
      (ok id)
    )
  )
)

(define-private (store-batch-item
    (item {
      image-hash: (buff 32),
      model-id: uint,
      finding: (string-ascii 32),
      confidence: uint,
      report-digest: (buff 32),
    })
    (analyst (response principal uint))
  )
  (let ((who (try! analyst)))
    (try! (store-analysis item who))
    (ok who)
  )
)

(define-private (count-analysis (who principal) (p { credential-hash: (buff 32), specialty: (string-ascii 16), registered-at: uint, verified-until: uint, verified-by: (optional principal), suspended: bool, status-reason: uint, analysis-count: uint }) (n uint))
  (map-set professionals who (merge p { analysis-count: (+ (get analysis-count p) n) }))
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
  (let ((analyst contract-caller))
    (asserts! (not (var-get paused)) ERR-PAUSED)
    (let (
        (p (try! (check-active-professional analyst)))
        (id (try! (store-analysis {
          image-hash: image-hash,
          model-id: model-id,
          finding: finding,
          confidence: confidence,
          report-digest: report-digest,
        }
          analyst
        )))
      )
      (count-analysis analyst p u1)
      (ok id)
    )
  )
)

;; Called by: an active professional, while not paused. Appends 1 to MAX-BATCH-SIZE analyses, all or
;; nothing: the first invalid item's error aborts the whole call. Returns the first and last ids.
(define-public (submit-analyses (items (list 50 {
    image-hash: (buff 32),
    model-id: uint,
    finding: (string-ascii 32),
    confidence: uint,
    report-digest: (buff 32),
  })))
  (let ((analyst contract-caller))
    (asserts! (not (var-get paused)) ERR-PAUSED)
    (let (
        (p (try! (check-active-professional analyst)))
        (first-id (+ (var-get analysis-count) u1))
      )
      (asserts! (> (len items) u0) ERR-EMPTY-BATCH)
      (try! (fold store-batch-item items (ok analyst)))
      (count-analysis analyst p (len items))
      (ok { first-id: first-id, last-id: (var-get analysis-count) })
    )
  )
)

;; Called by: an active professional other than the author, while not paused. One review per
;; reviewer per analysis; `confirmed` false records a dispute. `note-digest` is the SHA-256 of the
;; reviewer's off-chain note.
(define-public (review-analysis (analysis-id uint) (confirmed bool) (note-digest (buff 32)))
  (let (
      (reviewer contract-caller)
      (analysis (unwrap! (map-get? analyses analysis-id) ERR-UNKNOWN-ANALYSIS))
      (review-key { analysis-id: analysis-id, reviewer: reviewer })
    )
    (asserts! (not (var-get paused)) ERR-PAUSED)
    (asserts! (is-digest note-digest) ERR-INVALID-NOTE-DIGEST)
    (try! (check-active-professional reviewer))
    (asserts! (not (is-eq reviewer (get analyst analysis))) ERR-SELF-REVIEW)
    (asserts! (not (get retracted analysis)) ERR-ANALYSIS-RETRACTED)
    (asserts! (is-none (map-get? reviews review-key)) ERR-ALREADY-REVIEWED)
    (map-set reviews review-key {
      confirmed: confirmed,
      note-digest: note-digest,
      block-height: stacks-block-height,
      block-time: stacks-block-time,
    })
    (map-set analyses analysis-id
      (merge analysis {
        confirmations: (+ (get confirmations analysis) (if confirmed u1 u0)),
        disputes: (+ (get disputes analysis) (if confirmed u0 u1)),
      })
    )
    (print {
      event: "analysis-reviewed",
      analysis-id: analysis-id,
      reviewer: reviewer,
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
      (stats (unwrap-panic (map-get? image-stats image-hash)))
    )
    (asserts! (is-eq contract-caller (get analyst analysis)) ERR-NOT-AUTHOR)
    (asserts! (not (get retracted analysis)) ERR-ANALYSIS-RETRACTED)
    (map-set analyses analysis-id (merge analysis { retracted: true, retraction-reason: reason }))
    (map-set image-stats image-hash (merge stats { valid: (- (get valid stats) u1) }))
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
;; Read-only
;; ---------------------------------------------------------------------------------------------

(define-read-only (get-parameters)
  {
    contract-version: CONTRACT-VERSION,
    min-confidence: (var-get min-confidence),
    max-verification-period: (var-get max-verification-period),
    max-batch-size: MAX-BATCH-SIZE,
    paused: (var-get paused),
    admin-count: (var-get admin-count),
    analysis-count: (var-get analysis-count),
    model-count: (var-get model-count),
    professional-count: (var-get professional-count),
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

(define-private (analysis-status (a { image-hash: (buff 32), model-id: uint, finding: (string-ascii 32), confidence: uint, report-digest: (buff 32), analyst: principal, block-height: uint, block-time: uint, threshold: uint, image-index: uint, confirmations: uint, disputes: uint, retracted: bool, retraction-reason: uint }))
  (if (get retracted a)
    "retracted"
    (if (> (get disputes a) (get confirmations a))
      "disputed"
      (if (> (get confirmations a) u0) "confirmed" "unreviewed")
    )
  )
)

;; One analysis with its id and review status: "unreviewed", "confirmed" (at least one
;; confirmation and no more disputes than confirmations), "disputed" or "retracted".
(define-read-only (get-analysis (analysis-id uint))
  (match (map-get? analyses analysis-id)
    a (some (merge a { analysis-id: analysis-id, status: (analysis-status a) }))
    none
  )
)

(define-read-only (get-review (analysis-id uint) (reviewer principal))
  (map-get? reviews { analysis-id: analysis-id, reviewer: reviewer })
)

(define-read-only (get-image-stats (image-hash (buff 32)))
  (default-to { total: u0, valid: u0 } (map-get? image-stats image-hash))
)

(define-read-only (get-image-analysis-id (image-hash (buff 32)) (index uint))
  (map-get? image-analyses { image-hash: image-hash, index: index })
)

(define-private (collect-image-analysis-id
    (offset uint)
    (acc { image-hash: (buff 32), start: uint, ids: (list 20 uint) })
  )
  (match (map-get? image-analyses { image-hash: (get image-hash acc), index: (+ (get start acc) offset) })
    id (merge acc { ids: (unwrap-panic (as-max-len? (append (get ids acc) id) u20)) })
    acc
  )
)

;; Up to 20 analysis ids of an image in submission order, starting at index `start`; page with
;; `start` + 20 while `get-image-stats` says there are more.
(define-read-only (get-image-analysis-ids (image-hash (buff 32)) (start uint))
  (get ids (fold collect-image-analysis-id PAGE-OFFSETS { image-hash: image-hash, start: start, ids: (list) }))
)

;; Walks newest-first; keeps the first unretracted analysis found.
(define-private (find-newest-valid
    (offset uint)
    (acc { image-hash: (buff 32), total: uint, found: (optional uint) })
  )
  (if (or (is-some (get found acc)) (>= offset (get total acc)))
    acc
    (let (
        (id (unwrap-panic (map-get? image-analyses { image-hash: (get image-hash acc), index: (- (get total acc) offset u1) })))
        (a (unwrap-panic (map-get? analyses id)))
      )
      (if (get retracted a) acc (merge acc { found: (some id) }))
    )
  )
)

;; "Is there a valid analysis of this image, and which?" Valid means not retracted; every stored
;; analysis was, by construction, submitted by a then-active professional with a then-active model
;; at or above the threshold then in force (kept in its `threshold` field). Answers the counts and
;; the newest valid analysis among the 20 most recent; `get-image-analysis-ids` pages through all.
(define-read-only (verify-image (image-hash (buff 32)))
  (let (
      (stats (get-image-stats image-hash))
      (found (get found (fold find-newest-valid PAGE-OFFSETS { image-hash: image-hash, total: (get total stats), found: none })))
    )
    {
      valid: (> (get valid stats) u0),
      total: (get total stats),
      valid-count: (get valid stats),
      latest-valid: (match found id (get-analysis id) none),
    }
  )
)
