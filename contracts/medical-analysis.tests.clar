;; Rendezvous companion of medical-analysis.clar: property tests (`rv . medical-analysis test`) and
;; invariants (`rv . medical-analysis invariant`). Rendezvous appends this file to the contract, so
;; it sees the contract's private state. It is never deployed anywhere else.
;;
;; Seed state, set at deploy: wallet_1 is a verifier; wallet_2..wallet_8 are verified professionals
;; (the longest period allowed); models 1 and 2 are registered. Without it, random callers and
;; arguments would almost never get past the role checks, and the properties would only ever see
;; refusals.

(define-constant SEED-VERIFIER 'ST1SJ3DTE5DN7X54YDH5D64R3BCB6A2AG2ZQ8YPD5)
(define-constant SEED-PROFESSIONALS (list
  'ST2CY5V39NHDPWSXMW9QDT3HC3GD6Q6XX4CFRK9AG
  'ST2JHG361ZXG51QTKY2NQCVBPPRRE2KZB1HR05NNC
  'ST2NEB84ASENDXKYGJPQW86YXQCEFEX2ZQPG87ND
  'ST2REHHS5J3CERCRBEPMGH7921Q6PYKAADT7JP2VB
  'ST3AM1A56AK2C1XAFJ4115ZSV26EB49BVQ10MGCS0
  'ST3PF13W7Z0RRM42A8VZRVFQ75SV1K26RXEP8YGKJ
  'ST3NBRSFKX28FQ2ZJ1MAKX58HKHSDGNV5N7R21XCP
))

(define-private (seed-professional (who principal))
  (map-set professionals who {
    credential-hash: (sha256 (unwrap-panic (to-consensus-buff? who))),
    specialty: "radiology",
    registered-at: stacks-block-time,
    verified-until: (+ stacks-block-time (var-get max-verification-period)),
    verified-by: (some SEED-VERIFIER),
    suspended: false,
    status-reason: u0,
    analysis-count: u0,
  })
)

(map-set verifiers SEED-VERIFIER true)
(map seed-professional SEED-PROFESSIONALS)
(var-set professional-count (len SEED-PROFESSIONALS))
(map-set models u1 { model-hash: (sha256 u1), name: "seed-model-a", version: "1", min-confidence: u6000, active: true, registered-at: u0, registered-by: tx-sender })
(map-set model-ids (sha256 u1) u1)
(map-set models u2 { model-hash: (sha256 u2), name: "seed-model-b", version: "1", min-confidence: u0, active: true, registered-at: u0, registered-by: tx-sender })
(map-set model-ids (sha256 u2) u2)
(var-set model-count u2)

(define-constant SEEDED-PROFESSIONALS u7)
(define-constant SEEDED-MODELS u2)

;; ---------------------------------------------------------------------------------------------
;; Property tests. Each calls the contract function with the random caller and arguments,
;; and checks what must hold whether the call succeeded or not.
;; ---------------------------------------------------------------------------------------------

(define-private (threshold-for (model-id uint))
  (match (map-get? models model-id)
    m (max-uint (var-get min-confidence) (get min-confidence m))
    BASIS-POINTS
  )
)

;; Raw random arguments: success only when every rule held before the call; failure changes nothing.
(define-public (test-submit-analysis
    (image-hash (buff 32))
    (model-id uint)
    (finding (string-ascii 32))
    (confidence uint)
    (report-digest (buff 32))
  )
  (let (
      (count-before (var-get analysis-count))
      (was-active (is-active-professional contract-caller))
      (was-paused (var-get paused))
      (model-was-active (default-to false (get active (map-get? models model-id))))
      (threshold (threshold-for model-id))
      (stats-before (get-image-stats image-hash))
      (result (submit-analysis image-hash model-id finding confidence report-digest))
    )
    (match result
      id (let ((a (unwrap! (map-get? analyses id) (err u9001))))
        (asserts! (and was-active (not was-paused) model-was-active) (err u9002))
        (asserts! (and (>= confidence threshold) (<= confidence BASIS-POINTS)) (err u9003))
        (asserts! (and (is-digest image-hash) (is-digest report-digest) (is-code finding)) (err u9004))
        (asserts! (is-eq id (+ count-before u1) (var-get analysis-count)) (err u9005))
        (asserts!
          (and
            (is-eq (get image-hash a) image-hash)
            (is-eq (get confidence a) confidence)
            (is-eq (get threshold a) threshold)
            (is-eq (get analyst a) contract-caller)
            (is-eq (get image-index a) (get total stats-before))
          )
          (err u9006)
        )
        (asserts! (is-eq (get total (get-image-stats image-hash)) (+ (get total stats-before) u1)) (err u9007))
        (ok true)
      )
      code (begin
        (asserts! (is-eq (var-get analysis-count) count-before) (err u9008))
        (ok false)
      )
    )
  )
)

;; Valid-by-construction arguments, so that the professional/pause/model rules decide the outcome.
(define-public (test-submit-analysis-in-range (seed (buff 32)) (model-pick uint) (confidence-pick uint))
  (let (
      (model-id (+ u1 (mod model-pick (var-get model-count))))
      (threshold (threshold-for model-id))
      (confidence (+ threshold (mod confidence-pick (+ (- BASIS-POINTS threshold) u1))))
      (was-active (is-active-professional contract-caller))
      (was-paused (var-get paused))
      (model-was-active (default-to false (get active (map-get? models model-id))))
      (count-before (var-get analysis-count))
      (result (submit-analysis (sha256 seed) model-id "nodule-present" confidence (sha256 (sha256 seed))))
    )
    (asserts! (is-eq (is-ok result) (and was-active (not was-paused) model-was-active)) (err u9010))
    (asserts! (is-eq (var-get analysis-count) (if (is-ok result) (+ count-before u1) count-before)) (err u9011))
    (ok (is-ok result))
  )
)

(define-private (batch-item (seed (buff 32)) (acc { model-id: uint, confidence: uint, items: (list 50 { image-hash: (buff 32), model-id: uint, finding: (string-ascii 32), confidence: uint, report-digest: (buff 32) }) }))
  (merge acc {
    items: (unwrap-panic (as-max-len? (append (get items acc) {
      image-hash: (sha256 seed),
      model-id: (get model-id acc),
      finding: "nodule-absent",
      confidence: (get confidence acc),
      report-digest: (sha256 (sha256 seed)),
    }) u50)),
  })
)

;; A batch of valid items: all stored with consecutive ids, or none.
(define-public (test-submit-analyses (seeds (list 50 (buff 32))) (model-pick uint))
  (let (
      (model-id (+ u1 (mod model-pick (var-get model-count))))
      (threshold (threshold-for model-id))
      (items (get items (fold batch-item seeds { model-id: model-id, confidence: threshold, items: (list) })))
      (count-before (var-get analysis-count))
      (was-active (is-active-professional contract-caller))
      (was-paused (var-get paused))
      (result (submit-analyses items))
    )
    (match result
      ids (begin
        (asserts! (and was-active (not was-paused) (> (len items) u0)) (err u9020))
        (asserts! (is-eq (get first-id ids) (+ count-before u1)) (err u9021))
        (asserts! (is-eq (get last-id ids) (var-get analysis-count) (+ count-before (len items))) (err u9022))
        (ok true)
      )
      code (begin
        ;; Refusals here come before any write (caller, pause, empty batch, model state).
        (asserts! (is-eq (var-get analysis-count) count-before) (err u9023))
        (ok false)
      )
    )
  )
)

;; A review succeeds only for an active non-author reviewer of an unretracted analysis, once.
(define-public (test-review-analysis (pick uint) (confirmed bool) (note (buff 32)))
  (let (
      (n (var-get analysis-count))
      (analysis-id (if (is-eq n u0) u1 (+ u1 (mod pick n))))
      (before (map-get? analyses analysis-id))
      (reviewed-before (is-some (get-review analysis-id contract-caller)))
      (was-active (is-active-professional contract-caller))
      (result (review-analysis analysis-id confirmed (sha256 note)))
    )
    (match before
      a (begin
        (asserts!
          (is-eq (is-ok result)
            (and was-active (not (var-get paused)) (not reviewed-before) (not (get retracted a))
              (not (is-eq contract-caller (get analyst a)))))
          (err u9030)
        )
        (let ((after (unwrap-panic (map-get? analyses analysis-id))))
          (asserts!
            (is-eq (+ (get confirmations after) (get disputes after))
              (+ (get confirmations a) (get disputes a) (if (is-ok result) u1 u0)))
            (err u9031)
          )
        )
        (ok (is-ok result))
      )
      (begin
        (asserts! (is-err result) (err u9032))
        (ok false)
      )
    )
  )
)

;; Only the author retracts, once; the record and the image's total stay, its valid count drops.
(define-public (test-retract-analysis (pick uint) (reason uint))
  (let (
      (n (var-get analysis-count))
      (analysis-id (if (is-eq n u0) u1 (+ u1 (mod pick n))))
      (before (map-get? analyses analysis-id))
      (result (retract-analysis analysis-id reason))
    )
    (match before
      a (let (
          (stats (get-image-stats (get image-hash a)))
          (after (unwrap! (map-get? analyses analysis-id) (err u9040)))
        )
        (asserts! (is-eq (is-ok result) (and (is-eq contract-caller (get analyst a)) (not (get retracted a)))) (err u9041))
        (asserts! (is-eq (get confidence after) (get confidence a)) (err u9042))
        (asserts! (<= (get valid stats) (get total stats)) (err u9043))
        (ok (is-ok result))
      )
      (ok false)
    )
  )
)

;; ---------------------------------------------------------------------------------------------
;; Invariants: checked after random sequences of the contract's own public functions.
;; ---------------------------------------------------------------------------------------------

;; Never the last admin removed, and the admin count follows the successful role changes.
(define-read-only (invariant-admin-count)
  (let (
      (added (default-to u0 (get called (map-get? context "add-admin"))))
      (removed (default-to u0 (get called (map-get? context "remove-admin"))))
    )
    (and (>= (var-get admin-count) u1) (is-eq (+ (var-get admin-count) removed) (+ u1 added)))
  )
)

;; The analysis counter equals the number of records: record n exists, n+1 does not.
(define-read-only (invariant-count-equals-records)
  (let ((n (var-get analysis-count)))
    (and
      (or (is-eq n u0) (is-some (map-get? analyses n)))
      (is-none (map-get? analyses (+ n u1)))
    )
  )
)

;; Each successful single submission added one record and each batch at least one.
(define-read-only (invariant-count-covers-submissions)
  (let (
      (singles (default-to u0 (get called (map-get? context "submit-analysis"))))
      (batches (default-to u0 (get called (map-get? context "submit-analyses"))))
      (models-registered (default-to u0 (get called (map-get? context "register-model"))))
      (registered (default-to u0 (get called (map-get? context "register-professional"))))
    )
    (and
      (>= (var-get analysis-count) (+ singles batches))
      (is-eq (var-get model-count) (+ SEEDED-MODELS models-registered))
      (is-eq (var-get professional-count) (+ SEEDED-PROFESSIONALS registered))
    )
  )
)

(define-private (check-recent (offset uint) (ok-so-far bool))
  (let ((n (var-get analysis-count)))
    (if (or (not ok-so-far) (>= offset n))
      ok-so-far
      (let (
          (id (- n offset))
          (a (unwrap-panic (map-get? analyses id)))
          (stats (get-image-stats (get image-hash a)))
          (author (map-get? professionals (get analyst a)))
          (model (map-get? models (get model-id a)))
        )
        (and
          ;; confidence never below the threshold in force at submission
          (>= (get confidence a) (get threshold a))
          (<= (get confidence a) BASIS-POINTS)
          (>= (get threshold a) (get min-confidence (unwrap-panic model)))
          ;; the author is a registered professional who has been verified
          (is-some (get verified-by (unwrap-panic author)))
          (>= (get analysis-count (unwrap-panic author)) u1)
          ;; the per-image index points back at this record; counts are consistent
          (is-eq (map-get? image-analyses { image-hash: (get image-hash a), index: (get image-index a) }) (some id))
          (< (get image-index a) (get total stats))
          (<= (get valid stats) (get total stats))
          (is-digest (get image-hash a))
        )
      )
    )
  )
)

;; The 20 newest records (all of them, checked as they arrive) keep the submission rules.
(define-read-only (invariant-recent-analyses-well-formed)
  (fold check-recent PAGE-OFFSETS true)
)
