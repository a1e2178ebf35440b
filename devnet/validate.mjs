// Transaction validation for the medanchor devnet: what a Stacks node checks before it admits a
// transaction to its mempool (stacks-core `StacksChainState::can_include_tx`), and the
// post-condition check it runs after execution. Pure functions over decoded transactions and a
// read-only view of chain state; nothing here touches the simnet or the network.
//
// Rejections are plain objects `{ reason, reason_data? }` whose names and data follow stacks-core's
// `MemPoolRejection::into_json`, so the HTTP edge can answer exactly as a node does.

import {
  AddressHashMode,
  AuthType,
  ClarityType,
  PayloadType,
  PostConditionMode,
  addressFromVersionHash,
  addressToString,
  deserializeTransaction,
  serializeCV,
  wireToPostCondition,
} from '@stacks/transactions';

/** The network the devnet emulates: Stacks testnet (what Clarinet's devnet also uses). */
export const kNetwork = Object.freeze({
  name: 'testnet',
  chainId: 0x80000000,
  transactionVersion: 0x80,
  singleSigVersion: 26, // "ST…"
  multiSigVersion: 21, // "SN…"
  networkId: 0x80000000,
  parentNetworkId: 0xdab5bffa, // bitcoin regtest magic, as a local stacks-node reports it
});

// stacks-core mempool admission heuristics (`MINIMUM_TX_FEE*` in stackslib/src/core/mod.rs,
// `MAXIMUM_MEMPOOL_TX_CHAINING` in stackslib/src/core/mempool.rs).
export const kMinimumFeeRatePerByte = 1n;
export const kMaximumMempoolChaining = 25n;

// secp256k1 group order / 2: the node refuses high-S signatures in the mempool (malleable txids).
const kHalfCurveOrder = 0x7fffffffffffffffffffffffffffffff5d576e7357a4501ddfe92f46681b20a0n;

/** 0x-prefixed 16-byte big-endian hex, the node's encoding of u128 amounts in JSON. */
export function u128Hex(value) {
  return '0x' + BigInt(value).toString(16).padStart(32, '0');
}

function reject(reason, reason_data) {
  return reason_data === undefined ? { reason } : { reason, reason_data };
}

/**
 * Decodes raw transaction bytes. Returns `{ tx, txid }` or `{ error }` with a message in the
 * node's words ("Failed to deserialize posted transaction: …"); the node answers such input with
 * HTTP 400 text/plain before any mempool logic runs.
 */
export function decodeTransaction(bytes) {
  let tx;
  try {
    tx = deserializeTransaction(bytes);
  } catch (e) {
    return { error: `Failed to deserialize posted transaction: ${e?.message ?? e}` };
  }
  try {
    return { tx, txid: tx.txid() };
  } catch (e) {
    return { error: `Failed to deserialize posted transaction: ${e?.message ?? e}` };
  }
}

/** The origin (signer) address of a transaction, as a c32 string. */
export function originAddress(tx) {
  const cond = tx.auth.spendingCondition;
  const version =
    cond.hashMode === AddressHashMode.P2PKH ? kNetwork.singleSigVersion : kNetwork.multiSigVersion;
  return addressToString(addressFromVersionHash(version, cond.signer));
}

/**
 * Checks that need no chain state: transaction version, what this devnet supports, the
 * signature, the chain id and the minimum fee, in the node's order.
 * Returns a rejection or null.
 */
export function checkStatic(tx, txLength) {
  if (tx.transactionVersion !== kNetwork.transactionVersion) {
    return reject('BadTransactionVersion');
  }
  const payload = tx.payload;
  if (payload.payloadType === PayloadType.TokenTransfer) {
    const recipient = principalOfCV(payload.recipient);
    if (recipient === originAddress(tx)) {
      return reject('TransferRecipientCannotEqualSender', { recipient });
    }
    if (payload.amount === 0n) return reject('TransferAmountMustBePositive');
    if (tx.postConditions.values.length > 0) {
      // The node never mines such a transaction (it is invalid); refuse it at the door.
      return reject('ServerFailureOther', {
        message: 'Invalid Stacks transaction: TokenTransfer transactions do not support post-conditions',
      });
    }
    if (!recipient.startsWith('ST') && !recipient.startsWith('SN')) {
      return reject('BadAddressVersionByte');
    }
  }
  if ([PayloadType.Coinbase, PayloadType.CoinbaseToAltRecipient, PayloadType.NakamotoCoinbase]
    .includes(payload.payloadType)) {
    return reject('NoCoinbaseViaMempool');
  }
  if (payload.payloadType === PayloadType.TenureChange) return reject('NoTenureChangeViaMempool');
  if (payload.payloadType === PayloadType.PoisonMicroblock) {
    return reject('ServerFailureOther', {
      message: 'PoisonMicroblock transactions not accepted via mempool',
    });
  }

  // What the devnet does not emulate is refused up front, never half-executed.
  if (tx.auth.authType !== AuthType.Standard) {
    return reject('ServerFailureOther', {
      message: 'sponsored transactions are not supported by the medanchor devnet',
    });
  }
  if (tx.auth.spendingCondition.hashMode !== AddressHashMode.P2PKH) {
    return reject('ServerFailureOther', {
      message: 'only single-signature P2PKH spending conditions are supported by the medanchor devnet',
    });
  }

  // Signature: recover the public key from the presign sighash and compare its HASH160 with
  // the signer field (the library does exactly the node's computation), then refuse high S.
  try {
    tx.verifyOrigin();
  } catch (e) {
    return reject('SignatureValidation', { message: `Failed to verify: ${e?.message ?? e}` });
  }
  const sig = tx.auth.spendingCondition.signature.data; // v ‖ r ‖ s, hex
  if (BigInt('0x' + sig.slice(66, 130)) > kHalfCurveOrder) {
    return reject('SignatureValidation', {
      message: 'Failed to verify: signature has a high S value; the mempool requires low S',
    });
  }

  if (tx.chainId !== kNetwork.chainId) {
    return reject('SignatureValidation', {
      message: `Invalid tx ${tx.txid()}: invalid chain ID ${tx.chainId} (expected ${kNetwork.chainId})`,
    });
  }

  const fee = tx.auth.spendingCondition.fee;
  const minimum = BigInt(txLength) * kMinimumFeeRatePerByte;
  if (fee < 1n || fee < minimum) {
    return reject('FeeTooLow', { expected: Number(minimum > 1n ? minimum : 1n), actual: Number(fee) });
  }
  return null;
}

/**
 * Checks against chain state, in the node's order (`can_include_tx`): nonce, funds, payload
 * target. Like the node, the nonce is compared with the *confirmed* nonce only: a future nonce
 * (a gap) is admitted and waits in the mempool, up to `kMaximumMempoolChaining` + 1 beyond the
 * confirmed nonce. Whether the mempool already holds that sender and nonce (replace-by-fee or
 * `ConflictingNonceInMempool`) is the mempool's own step, after these (`MemPoolDB::try_add_tx`).
 * `view` answers: nonce(principal) confirmed nonce; balance(principal) bigint (confirmed);
 * contractInterface(id) or undefined; contractExists(id, tx) on chain, or deployed by a mempool
 * transaction this one would not replace.
 */
export function checkAgainstState(tx, view) {
  const origin = originAddress(tx);
  const cond = tx.auth.spendingCondition;
  const confirmed = view.nonce(origin);

  if (cond.nonce < confirmed) {
    return nonceMismatch(confirmed, cond.nonce, origin);
  }
  const maxNonce = confirmed + 1n + kMaximumMempoolChaining;
  if (cond.nonce > maxNonce) {
    return reject('TooMuchChaining', {
      message: 'Nonce would exceed chaining limit in mempool',
      expected: Number(maxNonce),
      actual: Number(cond.nonce),
      principal: origin,
      is_origin: true,
    });
  }

  const balance = view.balance(origin);
  const payload = tx.payload;
  if (payload.payloadType !== PayloadType.TokenTransfer && balance < cond.fee) {
    return reject('NotEnoughFunds', { expected: u128Hex(cond.fee), actual: u128Hex(balance) });
  }

  switch (payload.payloadType) {
    case PayloadType.TokenTransfer: {
      const total = payload.amount + cond.fee;
      if (balance < total) {
        return reject('NotEnoughFunds', { expected: u128Hex(total), actual: u128Hex(balance) });
      }
      return null;
    }
    case PayloadType.ContractCall: {
      const contractId = `${addressToString(payload.contractAddress)}.${payload.contractName.content}`;
      const iface = view.contractInterface(contractId);
      if (!iface) return reject('NoSuchContract');
      const fn = iface.functions.find(
        (f) => f.name === payload.functionName.content && f.access === 'public',
      );
      if (!fn) return reject('NoSuchPublicFunction');
      const problem = checkArguments(fn, payload.functionArgs);
      if (problem) return reject('BadFunctionArgument', { message: problem });
      return null;
    }
    case PayloadType.SmartContract:
    case PayloadType.VersionedSmartContract: {
      const contractId = `${origin}.${payload.contractName.content}`;
      if (view.contractExists(contractId, tx)) {
        return reject('ContractAlreadyExists', { contract_identifier: contractId });
      }
      return null;
    }
    default:
      return reject('ServerFailureOther', { message: 'unsupported payload type' });
  }
}

function nonceMismatch(expected, actual, principal) {
  return reject('BadNonce', {
    expected: Number(expected),
    actual: Number(actual),
    principal,
    is_origin: true,
  });
}

/** A principal Clarity value (standard or contract) as its string form. */
export function principalOfCV(cv) {
  if (cv.type === ClarityType.PrincipalStandard) return cv.value;
  if (cv.type === ClarityType.PrincipalContract) return cv.value;
  throw new Error(`not a principal: ${cv.type}`);
}

// --- Argument type checking against the contract ABI (what the node's
// `check_args_by_allowing_trait_cast` does before admission). ---

function checkArguments(fn, args) {
  if (fn.args.length !== args.length) {
    return `IncorrectArgumentCount(${fn.args.length}, ${args.length})`;
  }
  for (let i = 0; i < args.length; i++) {
    const problem = typeProblem(fn.args[i].type, args[i]);
    if (problem) return `argument ${i + 1} (${fn.args[i].name}): ${problem}`;
  }
  return null;
}

function describe(type) {
  return typeof type === 'string' ? type : JSON.stringify(type);
}

/** Returns null when `cv` admits `type` (ABI JSON form), else a message. */
function typeProblem(type, cv) {
  const bad = () => `expected ${describe(type)}, got ${cv.type}`;
  if (typeof type === 'string') {
    switch (type) {
      case 'uint128': return cv.type === ClarityType.UInt ? null : bad();
      case 'int128': return cv.type === ClarityType.Int ? null : bad();
      case 'bool':
        return cv.type === ClarityType.BoolTrue || cv.type === ClarityType.BoolFalse ? null : bad();
      case 'principal': case 'trait_reference':
        return cv.type === ClarityType.PrincipalStandard || cv.type === ClarityType.PrincipalContract
          ? null : bad();
      default: return null; // types the ABI names that we do not model: let the VM decide
    }
  }
  if (type.buffer) {
    if (cv.type !== ClarityType.Buffer) return bad();
    return cv.value.length / 2 <= type.buffer.length ? null : `buffer longer than ${type.buffer.length}`;
  }
  if (type['string-ascii']) {
    if (cv.type !== ClarityType.StringASCII) return bad();
    return cv.value.length <= type['string-ascii'].length ? null : 'string-ascii too long';
  }
  if (type['string-utf8']) {
    if (cv.type !== ClarityType.StringUTF8) return bad();
    return Buffer.byteLength(cv.value, 'utf8') <= type['string-utf8'].length ? null : 'string-utf8 too long';
  }
  if (type.optional) {
    if (cv.type === ClarityType.OptionalNone) return null;
    if (cv.type !== ClarityType.OptionalSome) return bad();
    return typeProblem(type.optional, cv.value);
  }
  if (type.response) {
    if (cv.type === ClarityType.ResponseOk) return typeProblem(type.response.ok, cv.value);
    if (cv.type === ClarityType.ResponseErr) return typeProblem(type.response.error, cv.value);
    return bad();
  }
  if (type.list) {
    if (cv.type !== ClarityType.List) return bad();
    if (cv.value.length > type.list.length) return `list longer than ${type.list.length}`;
    for (const item of cv.value) {
      const p = typeProblem(type.list.type, item);
      if (p) return `list item: ${p}`;
    }
    return null;
  }
  if (type.tuple) {
    if (cv.type !== ClarityType.Tuple) return bad();
    const names = Object.keys(cv.value);
    if (names.length !== type.tuple.length) return 'tuple has the wrong fields';
    for (const field of type.tuple) {
      if (!(field.name in cv.value)) return `tuple lacks field ${field.name}`;
      const p = typeProblem(field.type, cv.value[field.name]);
      if (p) return `tuple field ${field.name}: ${p}`;
    }
    return null;
  }
  return null;
}

// --- Post-conditions (stacks-core `check_transaction_postconditions`) ---

const kMovementEvents = new Set([
  'stx_transfer_event', 'stx_burn_event',
  'ft_transfer_event', 'ft_burn_event',
  'nft_transfer_event', 'nft_burn_event',
]);

/**
 * Checks a transaction's post-conditions against the asset events of its execution (fee
 * excluded, as on the node). Returns null when they hold, else a message.
 * Modes: allow — only the listed conditions are checked; deny — additionally every asset that
 * left any principal must be covered by a condition on that principal and asset (and, for an
 * NFT, that token); originator — as deny, but only for assets leaving the origin.
 */
export function checkPostConditions(tx, origin, events) {
  const sent = new Map(); // `${principal}|${asset}` -> bigint amount (fungible)
  const nftSent = new Set(); // `${principal}|${asset}|${idHex}`
  for (const ev of events) {
    if (!kMovementEvents.has(ev.event)) continue;
    const d = ev.data;
    if (ev.event.startsWith('nft_')) {
      nftSent.add(`${d.sender}|${d.asset_identifier}|${nftIdHex(d)}`);
    } else {
      const asset = ev.event.startsWith('stx_') ? 'STX' : d.asset_identifier;
      const key = `${d.sender}|${asset}`;
      sent.set(key, (sent.get(key) ?? 0n) + BigInt(d.amount));
    }
  }

  const covered = new Set();
  for (const wire of tx.postConditions.values) {
    const pc = wireToPostCondition(wire);
    const who = pc.address === 'origin' ? origin : pc.address;
    if (pc.type === 'nft-postcondition') {
      const key = `${who}|${pc.asset}|${bytesHex(serializeCV(pc.assetId))}`;
      covered.add(key);
      const wasSent = nftSent.has(key);
      if (pc.condition === 'sent' && !wasSent) return `post-condition: ${who} must send ${pc.asset}`;
      if (pc.condition === 'not-sent' && wasSent) return `post-condition: ${who} must not send ${pc.asset}`;
    } else {
      const asset = pc.type === 'stx-postcondition' ? 'STX' : pc.asset;
      const key = `${who}|${asset}`;
      covered.add(key);
      const amount = sent.get(key) ?? 0n;
      if (!compare(amount, pc.condition, BigInt(pc.amount))) {
        return `post-condition: ${who} sent ${amount} ${asset}, condition ${pc.condition} ${pc.amount}`;
      }
    }
  }

  if (tx.postConditionMode === PostConditionMode.Allow) return null;
  const onlyOrigin = tx.postConditionMode === PostConditionMode.Originator;
  for (const key of [...sent.keys(), ...nftSent]) {
    const [who] = key.split('|');
    if (onlyOrigin && who !== origin) continue;
    if (!covered.has(key)) {
      return `post-condition mode deny: ${key.replaceAll('|', ' ')} moved without a post-condition`;
    }
  }
  return null;
}

function compare(actual, op, limit) {
  switch (op) {
    case 'eq': return actual === limit;
    case 'gt': return actual > limit;
    case 'gte': return actual >= limit;
    case 'lt': return actual < limit;
    case 'lte': return actual <= limit;
    default: return false;
  }
}

function nftIdHex(data) {
  if (data.raw_value) return data.raw_value.replace(/^0x/, '');
  return data.value ? bytesHex(serializeCV(data.value)) : '';
}

function bytesHex(x) {
  return typeof x === 'string' ? x.replace(/^0x/, '') : Buffer.from(x).toString('hex');
}
