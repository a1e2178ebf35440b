;; Rendezvous companion of medical-analysis.clar: property tests (`rv . medical-analysis test`) and
;; invariants (`rv . medical-analysis invariant`). Rendezvous appends this file to the contract, so
;; it sees the contract's private state. It is never deployed anywhere else.
;;
;; Seed state, set at deploy: wallet_1 and the faucet account are verifiers; wallet_2..wallet_8 are
;; verified professionals (the longest period allowed, granted by wallet_1); models 1 and 2 are
;; registered. Without it, random callers and
;; arguments would almost never get past the role checks, and the properties would only ever see
;; refusals.
;;
;; Property tests call the contract's functions directly, not as transactions: a refused call is
;; not rolled back here. So "a refused call changes nothing" is checked as the contract promises
;; it, by its own order of checks before effects, not by Clarity's rollback.

(define-constant SEED-VERIFIER 'ST1SJ3DTE5DN7X54YDH5D64R3BCB6A2AG2ZQ8YPD5)
;; A second verifier, so that the properties meet one verifier acting on another's grant or suspension.
(define-constant SEED-VERIFIER-2 'STNHKEPYEPJ8ET55ZZ0M5A34J0R3N5FM2CMMMAZ6)
(define-constant SEED-PROFESSIONALS (list
  'ST2CY5V39NHDPWSXMW9QDT3HC3GD6Q6XX4CFRK9AG
  'ST2JHG361ZXG51QTKY2NQCVBPPRRE2KZB1HR05NNC
  'ST2NEB84ASENDXKYGJPQW86YXQCEFEX2ZQPG87ND
  'ST2REHHS5J3CERCRBEPMGH7921Q6PYKAADT7JP2VB
  'ST3AM1A56AK2C1XAFJ4115ZSV26EB49BVQ10MGCS0
  'ST3PF13W7Z0RRM42A8VZRVFQ75SV1K26RXEP8YGKJ
  'ST3NBRSFKX28FQ2ZJ1MAKX58HKHSDGNV5N7R21XCP
))
;; Every account of settings/Devnet.toml: the principals Rendezvous picks callers and arguments from.
(define-constant ALL-ACCOUNTS (list
  'ST1PQHQKV0RJXZFY1DGX8MNSNYVE3VGZJSRTPGZGM
  'STNHKEPYEPJ8ET55ZZ0M5A34J0R3N5FM2CMMMAZ6
  'ST1SJ3DTE5DN7X54YDH5D64R3BCB6A2AG2ZQ8YPD5
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
    suspended-by: none,
    reinstated-by: none,
    status-reason: u0,
    analysis-count: u0,
  })
)

(map-set verifiers SEED-VERIFIER true)
(map-set verifiers SEED-VERIFIER-2 true)
(map seed-professional SEED-PROFESSIONALS)
(var-set professional-count (len SEED-PROFESSIONALS))
(map-set models u1 { model-hash: (sha256 u1), name: "seed-model-a", version: "1", min-confidence: u6000, active: true, registered-at: u0, registered-by: tx-sender })
(map-set model-ids (sha256 u1) u1)
(map-set models u2 { model-hash: (sha256 u2), name: "seed-model-b", version: "1", min-confidence: u0, active: true, registered-at: u0, registered-by: tx-sender })
(map-set model-ids (sha256 u2) u2)
(var-set model-count u2)

(define-constant SEEDED-PROFESSIONALS u7)

;; One of the seeded professionals: a registered target for the verifier properties.
(define-private (seeded-professional (pick uint))
  (unwrap-panic (element-at? SEED-PROFESSIONALS (mod pick SEEDED-PROFESSIONALS)))
)
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
      id (let ((a (unwrap! (get-analysis id) (err u9001))))
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
            (is-eq (get burn-block-height a) burn-block-height)
          )
          (err u9006)
        )
        (asserts! (is-eq (get total (get-image-stats image-hash)) (+ (get total stats-before) u1)) (err u9007))
        (ok true)
      )
      code (begin
        (asserts! (is-eq (var-get analysis-count) count-before) (err u9008))
        (asserts! (is-eq (get-image-stats image-hash) stats-before) (err u9009))
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

(define-private (batch-item (seed (buff 32)) (acc { confidence: uint, items: (list 50 { image-hash: (buff 32), finding: (string-ascii 32), confidence: uint, report-digest: (buff 32) }) }))
  (merge acc {
    items: (unwrap-panic (as-max-len? (append (get items acc) {
      image-hash: (sha256 seed),
      finding: (if (is-eq (mod (len (get items acc)) u2) u0) "nodule-absent" "nodule-present"),
      confidence: (get confidence acc),
      report-digest: (sha256 (sha256 seed)),
    }) u50)),
  })
)

(define-private (valid-batch (seeds (list 50 (buff 32))) (threshold uint))
  (get items (fold batch-item seeds { confidence: threshold, items: (list) }))
)

;; A batch of valid items: all stored with consecutive ids, or none.
(define-public (test-submit-analyses (seeds (list 50 (buff 32))) (model-pick uint))
  (let (
      (model-id (+ u1 (mod model-pick (var-get model-count))))
      (threshold (threshold-for model-id))
      (items (valid-batch seeds threshold))
      (count-before (var-get analysis-count))
      (was-active (is-active-professional contract-caller))
      (was-paused (var-get paused))
      (result (submit-analyses model-id items))
    )
    (match result
      ids (begin
        (asserts! (and was-active (not was-paused) (> (len items) u0)) (err u9020))
        (asserts! (is-eq (get first-id ids) (+ count-before u1)) (err u9021))
        (asserts! (is-eq (get last-id ids) (var-get analysis-count) (+ count-before (len items))) (err u9022))
        (asserts! (is-eq (get batch-id (unwrap-panic (map-get? analyses (get last-id ids)))) (get first-id ids)) (err u9024))
        (ok true)
      )
      refused (begin
        ;; Every item is valid: only a whole-batch condition refuses it, with no index.
        (asserts! (is-none (get index refused)) (err u9025))
        (asserts! (is-eq (var-get analysis-count) count-before) (err u9023))
        (ok false)
      )
    )
  )
)

;; `item` spoilt so that it fails exactly one check; the error it must get.
(define-private (spoil
    (item { image-hash: (buff 32), finding: (string-ascii 32), confidence: uint, report-digest: (buff 32) })
    (kind uint)
    (threshold uint)
  )
  (if (is-eq kind u0)
    { item: (merge item { image-hash: ZERO-32 }), code: (unwrap-err-panic ERR-INVALID-IMAGE-HASH) }
    (if (is-eq kind u1)
      { item: (merge item { finding: "a finding" }), code: (unwrap-err-panic ERR-INVALID-FINDING) }
      (if (is-eq kind u2)
        { item: (merge item { confidence: (+ BASIS-POINTS u1) }), code: (unwrap-err-panic ERR-INVALID-CONFIDENCE) }
        (if (or (is-eq kind u3) (is-eq threshold u0))
          { item: (merge item { report-digest: ZERO-32 }), code: (unwrap-err-panic ERR-INVALID-REPORT-DIGEST) }
          { item: (merge item { confidence: (- threshold u1) }), code: (unwrap-err-panic ERR-CONFIDENCE-BELOW-THRESHOLD) }
        )
      )
    )
  )
)

;; A valid batch with item `bad` spoilt one way and, when `later` > 0, item `bad` + `later` spoilt
;; another way: refused with exactly the first spoilt item's index and error, or, when the whole
;; batch may not be submitted, with its reason and no index; and nothing changes.
(define-public (test-submit-analyses-first-error
    (seeds (list 50 (buff 32)))
    (model-pick uint)
    (bad-pick uint)
    (kind-pick uint)
    (later-pick uint)
  )
  (let (
      (model-id (+ u1 (mod model-pick (var-get model-count))))
      (threshold (threshold-for model-id))
      (valid (valid-batch seeds threshold))
      (n (len valid))
    )
    (if (is-eq n u0)
      (ok false)
      (let (
          (bad (mod bad-pick n))
          (first (spoil (unwrap-panic (element-at? valid bad)) (mod kind-pick u5) threshold))
          (second-index (+ bad (mod later-pick (- n bad))))
          (items (if (is-eq second-index bad)
            (unwrap-panic (replace-at? valid bad (get item first)))
            (unwrap-panic (replace-at?
              (unwrap-panic (replace-at? valid bad (get item first)))
              second-index
              (get item (spoil (unwrap-panic (element-at? valid second-index)) (mod (+ kind-pick u1) u5) threshold))
            ))
          ))
          (count-before (var-get analysis-count))
          (stats-before (get-image-stats (get image-hash (unwrap-panic (element-at? valid u0)))))
          (caller-before (map-get? professionals contract-caller))
          (shared (check-submission contract-caller model-id))
          (result (submit-analyses model-id items))
        )
        (asserts! (is-err result) (err u9050))
        (let ((refused (unwrap-err-panic result)))
          (match shared
            ok-shared (asserts!
              (is-eq refused { code: (get code first), index: (some bad) })
              (err u9051)
            )
            code (asserts! (is-eq refused { code: code, index: none }) (err u9052))
          )
        )
        (asserts! (is-eq (var-get analysis-count) count-before) (err u9053))
        (asserts! (is-none (map-get? analyses (+ count-before u1))) (err u9054))
        (asserts! (is-eq (get-image-stats (get image-hash (unwrap-panic (element-at? valid u0)))) stats-before) (err u9055))
        (asserts! (is-eq (map-get? professionals contract-caller) caller-before) (err u9056))
        (ok true)
      )
    )
  )
)

;; A review succeeds only for an active non-author reviewer of an unretracted analysis, once; the
;; image's disputed count follows the dispute rule (more disputes than confirmations).
(define-public (test-review-analysis (pick uint) (confirmed bool) (note (buff 32)))
  (let (
      (n (var-get analysis-count))
      (analysis-id (if (is-eq n u0) u1 (+ u1 (mod pick n))))
      (before (get-analysis analysis-id))
      (stats-before (match before a (get-image-stats (get image-hash a)) { total: u0, valid: u0, disputed: u0 }))
      (reviewed-before (is-some (get-review analysis-id contract-caller)))
      (was-active (is-active-professional contract-caller))
      (result (review-analysis analysis-id confirmed (sha256 note)))
    )
    (match before
      a (let (
          (after (unwrap-panic (get-analysis analysis-id)))
          (stats (get-image-stats (get image-hash a)))
          (was-disputed (is-eq (get status a) "disputed"))
          (now-disputed (is-eq (get status after) "disputed"))
        )
        (asserts!
          (is-eq (is-ok result)
            (and was-active (not (var-get paused)) (not reviewed-before) (not (get retracted a))
              (not (is-eq contract-caller (get analyst a)))))
          (err u9030)
        )
        (asserts!
          (is-eq (+ (get confirmations after) (get disputes after))
            (+ (get confirmations a) (get disputes a) (if (is-ok result) u1 u0)))
          (err u9031)
        )
        (asserts! (is-eq now-disputed (and (not (get retracted after)) (> (get disputes after) (get confirmations after)))) (err u9033))
        (asserts!
          (is-eq (+ (get disputed stats) (if was-disputed u1 u0)) (+ (get disputed stats-before) (if now-disputed u1 u0)))
          (err u9034)
        )
        (asserts! (is-eq (+ (get valid stats) (get disputed stats)) (+ (get valid stats-before) (get disputed stats-before))) (err u9035))
        (ok (is-ok result))
      )
      (begin
        (asserts! (is-err result) (err u9032))
        (ok false)
      )
    )
  )
)

;; Only the author retracts, once; the record and the image's total stay.
(define-public (test-retract-analysis (pick uint) (reason uint))
  (let (
      (n (var-get analysis-count))
      (analysis-id (if (is-eq n u0) u1 (+ u1 (mod pick n))))
      (before (get-analysis analysis-id))
      (stats-before (match before a (get-image-stats (get image-hash a)) { total: u0, valid: u0, disputed: u0 }))
      (result (retract-analysis analysis-id reason))
    )
    (match before
      a (let (
          (stats (get-image-stats (get image-hash a)))
          (after (unwrap! (get-analysis analysis-id) (err u9040)))
        )
        (asserts! (is-eq (is-ok result) (and (is-eq contract-caller (get analyst a)) (not (get retracted a)))) (err u9041))
        (asserts! (is-eq (get confidence after) (get confidence a)) (err u9042))
        (asserts! (is-eq (get total stats) (get total stats-before)) (err u9043))
        (asserts!
          (is-eq (+ (get valid stats) (get disputed stats))
            (- (+ (get valid stats-before) (get disputed stats-before)) (if (is-ok result) u1 u0)))
          (err u9044)
        )
        (ok (is-ok result))
      )
      (ok false)
    )
  )
)

;; Suspension succeeds only for a verifier, of a registered professional other than themselves
;; who is not suspended; it records who.
(define-public (test-suspend-professional (pick uint) (reason uint))
  (let (
      (who (seeded-professional pick))
      (before (map-get? professionals who))
      (caller contract-caller)
      (result (suspend-professional who reason))
    )
    (match before
      p (begin
        (asserts! (is-eq (is-ok result) (and (is-verifier caller) (not (is-eq who caller)) (not (get suspended p)))) (err u9065))
        (asserts! (or (is-err result) (is-eq (get suspended-by (unwrap-panic (map-get? professionals who))) (some caller))) (err u9066))
        (ok (is-ok result))
      )
      (begin
        (asserts! (is-err result) (err u9067))
        (ok false)
      )
    )
  )
)

;; Given a seeded professional suspended by one of the two verifiers (set up here, so that every
;; run meets a suspension): reinstatement succeeds only when the caller, not the professional, is an
;; admin or that verifier; it records who.
(define-public (test-reinstate-professional (pick uint) (suspender-pick uint) (reason uint))
  (let (
      (who (seeded-professional pick))
      (suspender (if (is-eq (mod suspender-pick u2) u0) SEED-VERIFIER SEED-VERIFIER-2))
      (caller contract-caller)
      (setup (map-set professionals who
        (merge (unwrap-panic (map-get? professionals who)) { suspended: true, suspended-by: (some suspender) })
      ))
      (result (reinstate-professional who reason))
      (after (unwrap-panic (map-get? professionals who)))
    )
    (asserts!
      (is-eq (is-ok result)
        (and (not (is-eq who caller)) (or (is-admin caller) (and (is-verifier caller) (is-eq caller suspender)))))
      (err u9060)
    )
    (asserts! (is-eq (get suspended after) (is-err result)) (err u9061))
    (asserts! (or (is-err result) (is-eq (get reinstated-by after) (some caller))) (err u9062))
    (ok true)
  )
)

;; Given a seeded professional verified for a year by one of the two verifiers (set up here): a
;; verification that would end earlier succeeds only when the caller, not the professional, is an
;; admin or that verifier; it keeps the grantor.
(define-public (test-shorten-verification (pick uint) (grantor-pick uint) (days uint))
  (let (
      (who (seeded-professional pick))
      (grantor (if (is-eq (mod grantor-pick u2) u0) SEED-VERIFIER SEED-VERIFIER-2))
      (caller contract-caller)
      (setup (map-set professionals who
        (merge (unwrap-panic (map-get? professionals who)) {
          verified-until: (+ stacks-block-time (* u365 u86400)),
          verified-by: (some grantor),
        })
      ))
      (result (verify-professional who (+ stacks-block-time u1 (* (mod days u364) u86400)) u1))
      (after (unwrap-panic (map-get? professionals who)))
    )
    (asserts!
      (is-eq (is-ok result)
        (and (not (is-eq who caller)) (or (is-admin caller) (and (is-verifier caller) (is-eq caller grantor)))))
      (err u9070)
    )
    (asserts! (is-eq (get verified-by after) (some grantor)) (err u9071))
    (ok true)
  )
)

;; A root is accepted only from an active professional, while not paused, with an active model, a
;; leaf count in 1 .. 2^20 and a declared lowest confidence at or above the threshold, once per
;; analyst: whether another analyst anchored it first makes no difference. The roots come from a
;; set of four, so that runs anchor the same root from several accounts.
(define-public (test-anchor-root (seed-pick uint) (count-pick uint) (model-pick uint) (confidence-pick uint))
  (let (
      (root (sha256 (unwrap-panic (to-consensus-buff? (mod seed-pick u4)))))
      ;; 0 .. 2^20 + 1 and one unknown model id, so that every refusal occurs
      (leaf-count (mod count-pick (+ MAX-ROOT-LEAVES u2)))
      (model-id (+ u1 (mod model-pick (+ (var-get model-count) u1))))
      (lowest (mod confidence-pick (+ BASIS-POINTS u2)))
      (threshold (threshold-for model-id))
      (was-active (is-active-professional contract-caller))
      (was-paused (var-get paused))
      (model-was-active (default-to false (get active (map-get? models model-id))))
      (existed (is-some (map-get? root-ids { analyst: contract-caller, root: root })))
      (roots-before (var-get root-count))
      (result (anchor-root root leaf-count model-id lowest))
    )
    (asserts!
      (is-eq (is-ok result)
        (and was-active (not was-paused) model-was-active (>= leaf-count u1) (<= leaf-count MAX-ROOT-LEAVES)
          (<= lowest BASIS-POINTS) (>= lowest threshold) (not existed)))
      (err u9080)
    )
    (asserts! (is-eq (var-get root-count) (if (is-ok result) (+ roots-before u1) roots-before)) (err u9081))
    (match result
      root-id (let ((r (unwrap-panic (get-root root-id))))
        (asserts!
          (and (is-eq (get root r) root) (is-eq (get size r) leaf-count) (is-eq (get threshold r) threshold)
            (is-eq (get analyst r) contract-caller) (is-eq (get-root-id contract-caller root) (some root-id)))
          (err u9082)
        )
        (ok true)
      )
      code (ok false)
    )
  )
)

;; A tree of up to 8 leaves built here bottom-up (a node without a right sibling rises unchanged,
;; which is RFC 6962's tree), with audit paths read off its levels: independent of the contract's
;; RFC 9162 check.
(define-private (pair-up (h (buff 32)) (acc { level: (list 8 (buff 32)), pending: (optional (buff 32)) }))
  (match (get pending acc)
    left { level: (unwrap-panic (as-max-len? (append (get level acc) (sha256 (concat NODE-PREFIX (concat left h)))) u8)), pending: none }
    { level: (get level acc), pending: (some h) }
  )
)

(define-private (next-level (level (list 8 (buff 32))))
  (let ((paired (fold pair-up level { level: (list), pending: none })))
    (match (get pending paired)
      last (unwrap-panic (as-max-len? (append (get level paired) last) u8))
      (get level paired)
    )
  )
)

(define-private (with-sibling (level (list 8 (buff 32))) (index uint) (path (list 20 (buff 32))))
  (match (element-at? level (if (is-eq (mod index u2) u0) (+ index u1) (- index u1)))
    sibling (unwrap-panic (as-max-len? (append path sibling) u20))
    path
  )
)

(define-private (test-leaf (seed (buff 32)) (acc { model-id: uint, confidence: uint, leaves: (list 8 { image-hash: (buff 32), model-id: uint, finding: (string-ascii 32), confidence: uint, report-digest: (buff 32), analyst: principal }) }))
  (merge acc {
    leaves: (unwrap-panic (as-max-len? (append (get leaves acc) {
      image-hash: (sha256 seed),
      model-id: (get model-id acc),
      finding: "nodule-present",
      confidence: (get confidence acc),
      report-digest: (sha256 (sha256 seed)),
      analyst: contract-caller,
    }) u8)),
  })
)

(define-private (path-of (levels { l0: (list 8 (buff 32)), l1: (list 8 (buff 32)), l2: (list 8 (buff 32)) }) (index uint))
  (with-sibling (get l2 levels) (/ index u4) (with-sibling (get l1 levels) (/ index u2) (with-sibling (get l0 levels) index (list))))
)

;; verify-leaf accepts leaf `index` of the tree with its path (all leaves, in turn).
(define-private (leaf-verifies
    (index uint)
    (acc { root: (buff 32), root-id: uint, levels: { l0: (list 8 (buff 32)), l1: (list 8 (buff 32)), l2: (list 8 (buff 32)) }, leaves: (list 8 { image-hash: (buff 32), model-id: uint, finding: (string-ascii 32), confidence: uint, report-digest: (buff 32), analyst: principal }), ok: bool })
  )
  (match (element-at? (get leaves acc) index)
    leaf (merge acc {
      ok: (and (get ok acc)
        (match (verify-leaf (get root acc) leaf index (path-of (get levels acc) index))
          v (is-eq (get root-id v) (get root-id acc))
          code false
        )),
    })
    acc
  )
)

;; Anchors a tree of the seeds' leaves; verify-leaf then accepts every leaf with its path, and
;; refuses leaf `index` with one change: a sibling altered, two swapped, one dropped or added,
;; another index, another leaf.
(define-public (test-verify-leaf (seeds (list 8 (buff 32))) (model-pick uint) (index-pick uint) (forgery-pick uint))
  (let (
      (model-id (+ u1 (mod model-pick (var-get model-count))))
      (threshold (threshold-for model-id))
      (leaves (get leaves (fold test-leaf seeds { model-id: model-id, confidence: threshold, leaves: (list) })))
      (n (len leaves))
    )
    (if (is-eq n u0)
      (ok false)
      (let (
          (level0 (map leaf-hash-of leaves))
          (level1 (next-level level0))
          (level2 (next-level level1))
          (levels { l0: level0, l1: level1, l2: level2 })
          (root (unwrap-panic (element-at? (next-level level2) u0)))
          (index (mod index-pick n))
          (path (path-of levels index))
          (leaf (unwrap-panic (element-at? leaves index)))
          (anchored (anchor-root root n model-id threshold))
        )
        (if (is-err anchored)
          (ok false)
          (let (
              (forgery (mod forgery-pick u6))
              (depth (len path))
              (forged-path (if (and (is-eq forgery u0) (> depth u0))
                (unwrap-panic (replace-at? path u0 (sha256 (unwrap-panic (element-at? path u0)))))
                (if (and (is-eq forgery u1) (> depth u1))
                  (unwrap-panic (replace-at? (unwrap-panic (replace-at? path u0 (unwrap-panic (element-at? path u1)))) u1 (unwrap-panic (element-at? path u0))))
                  (if (and (is-eq forgery u2) (> depth u0))
                    (unwrap-panic (slice? path u0 (- depth u1)))
                    (unwrap-panic (as-max-len? (append path root) u20))
                  )
                )
              ))
              (forged-index (if (and (is-eq forgery u4) (> n u1)) (mod (+ index u1) n) index))
              (forged-leaf (if (is-eq forgery u5) (merge leaf { report-digest: (sha256 root) }) leaf))
              (forged (if (is-eq forgery u4)
                (verify-leaf root leaf forged-index path)
                (if (is-eq forgery u5) (verify-leaf root forged-leaf index path) (verify-leaf root leaf index forged-path))
              ))
            )
            (asserts!
              (get ok (fold leaf-verifies (list u0 u1 u2 u3 u4 u5 u6 u7)
                { root: root, root-id: (unwrap-panic anchored), levels: levels, leaves: leaves, ok: true }))
              (err u9091)
            )
            ;; a swap of two equal siblings, or another index in a tree of one, changes nothing
            (asserts!
              (or (is-err forged) (and (is-eq forgery u1) (<= depth u1)) (and (is-eq forgery u4) (is-eq n u1))
                (and (is-eq forgery u1) (is-eq (element-at? path u0) (element-at? path u1))))
              (err u9092)
            )
            (ok true)
          )
        )
      )
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
      (batches-sent (default-to u0 (get called (map-get? context "submit-analyses"))))
      (models-registered (default-to u0 (get called (map-get? context "register-model"))))
      (registered (default-to u0 (get called (map-get? context "register-professional"))))
    )
    (and
      (>= (var-get analysis-count) (+ singles batches-sent))
      (is-eq (var-get model-count) (+ SEEDED-MODELS models-registered))
      (is-eq (var-get professional-count) (+ SEEDED-PROFESSIONALS registered))
    )
  )
)

;; Recounts an image's valid and disputed analyses from their records (the first 20).
(define-private (recount
    (offset uint)
    (acc { image-hash: (buff 32), first-id: uint, total: uint, valid: uint, disputed: uint })
  )
  (if (>= offset (get total acc))
    acc
    (let ((a (unwrap-panic (map-get? analyses (unwrap-panic (image-analysis-id (get image-hash acc) (get first-id acc) offset))))))
      (if (get retracted a)
        acc
        (if (> (get disputes a) (get confirmations a))
          (merge acc { disputed: (+ (get disputed acc) u1) })
          (merge acc { valid: (+ (get valid acc) u1) })
        )
      )
    )
  )
)

(define-private (check-recent (offset uint) (ok-so-far bool))
  (let ((n (var-get analysis-count)))
    (if (or (not ok-so-far) (>= offset n))
      ok-so-far
      (let (
          (id (- n offset))
          (a (unwrap-panic (get-analysis id)))
          (stored (unwrap-panic (map-get? image-stats (get image-hash a))))
          (author (map-get? professionals (get analyst a)))
          (model (map-get? models (get model-id a)))
          (counted (fold recount PAGE-OFFSETS {
            image-hash: (get image-hash a),
            first-id: (get first-id stored),
            total: (get total stored),
            valid: u0,
            disputed: u0,
          }))
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
          (is-eq (get-image-analysis-id (get image-hash a) (get image-index a)) (some id))
          (< (get image-index a) (get total stored))
          (<= (+ (get valid stored) (get disputed stored)) (get total stored))
          (is-digest (get image-hash a))
          ;; the dispute rule: the stored counts are the records' (checked for images of <= 20)
          (or (> (get total stored) PAGE-SIZE)
            (and (is-eq (get valid counted) (get valid stored)) (is-eq (get disputed counted) (get disputed stored))))
          ;; and verify-image agrees with them
          (is-eq (get valid (verify-image (get image-hash a))) (> (get valid stored) u0))
        )
      )
    )
  )
)

;; The 20 newest records (all of them, checked as they arrive) keep the submission rules.
(define-read-only (invariant-recent-analyses-well-formed)
  (fold check-recent PAGE-OFFSETS true)
)

(define-private (verifier-record-ok (who principal) (ok-so-far bool))
  (and ok-so-far
    (match (map-get? professionals who)
      p (and
        ;; a verification in place names its grantor; a suspension names its verifier
        (is-eq (> (get verified-until p) u0) (is-some (get verified-by p)))
        (or (not (get suspended p)) (is-some (get suspended-by p)))
        ;; a reinstatement followed a suspension
        (or (is-none (get reinstated-by p)) (is-some (get suspended-by p)))
      )
      true
    )
  )
)

;; Every professional's record says who verified and who suspended them.
(define-read-only (invariant-verifier-records)
  (fold verifier-record-ok ALL-ACCOUNTS true)
)

;; The root counter equals the number of roots, and the newest roots keep their rules.
(define-private (check-root (offset uint) (ok-so-far bool))
  (let ((n (var-get root-count)))
    (if (or (not ok-so-far) (>= offset n))
      ok-so-far
      (let ((r (unwrap-panic (get-root (- n offset)))))
        (and
          (is-eq (get-root-id (get analyst r) (get root r)) (some (- n offset)))
          (>= (get size r) u1)
          (<= (get size r) MAX-ROOT-LEAVES)
          (>= (get min-confidence r) (get threshold r))
          (<= (get min-confidence r) BASIS-POINTS)
          (is-digest (get root r))
        )
      )
    )
  )
)

(define-read-only (invariant-roots)
  (let (
      (n (var-get root-count))
      (anchored (default-to u0 (get called (map-get? context "anchor-root"))))
    )
    (and
      (is-eq n anchored)
      (or (is-eq n u0) (is-some (map-get? roots n)))
      (is-none (map-get? roots (+ n u1)))
      (fold check-root VERIFY-WINDOW true)
    )
  )
)
