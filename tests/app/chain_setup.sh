# Sourced by the end-to-end scripts: the operator's set-up on a fresh local chain.
# REQUIRES: $bin, $src, $work, chain and node (arrays of flags), fail().

# The testnet address of the key in file $1.
address() { "$bin" keys show --key-file "$1" --json | sed -e 's/.*"address_testnet":"\([^"]*\)".*/\1/'; }

# Makes the keys (admin, verifier, doctor) under $work, starts the chain, deploys the contract,
# appoints the verifier, registers the bundled model from its bundle, and has the doctor register
# and the verifier verify them; sets $verifier and $doctor (their addresses).
start_chain_with_radiologist() {
    "$bin" keys devnet deployer --out "$work/admin.key" >/dev/null
    "$bin" keys devnet wallet_1 --out "$work/verifier.key" >/dev/null
    "$bin" keys devnet wallet_2 --out "$work/doctor.key" >/dev/null
    verifier=$(address "$work/verifier.key")
    doctor=$(address "$work/doctor.key")
    "$bin" devnet start "${chain[@]}" >/dev/null || fail "devnet start"
    "$bin" deploy "${node[@]}" --key-file "$work/admin.key" >/dev/null || fail "deploy"
    "$bin" admin appoint-verifier "$verifier" "${node[@]}" --key-file "$work/admin.key" >/dev/null \
        || fail "appoint-verifier"
    "$bin" admin register-model --bundle "$src/models/ct-nodule-sim" "${node[@]}" \
        --key-file "$work/admin.key" >/dev/null || fail "register-model --bundle"
    echo "licence record" >"$work/licence.txt"
    "$bin" professional register --credential-file "$work/licence.txt" --specialty radiology \
        "${node[@]}" --key-file "$work/doctor.key" >/dev/null || fail "professional register"
    "$bin" professional verify "$doctor" --expires-in 365 --reason 1 "${node[@]}" \
        --key-file "$work/verifier.key" >/dev/null || fail "professional verify"
}
