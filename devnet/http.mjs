// The HTTP edge of the medanchor devnet, two servers as in a real deployment: a Stacks node's RPC
// (its paths, JSON shapes, status codes and error bodies: stacks-core `stackslib/src/net/api/*.rs`)
// and the Stacks Blockchain API's subset clients use for transaction status, nonces and blocks,
// which also answers the node's paths as the API's proxy does. Every request is parsed here into
// plain values; the chain never sees HTTP, and no input can throw past `handle()`.

import http from 'node:http';
import {
  PayloadType,
  PostConditionMode,
  addressToString,
  deserializeCV,
  deserializePayload,
  serializeCV,
} from '@stacks/transactions';
import { kBlockLimit, kMaxBlockBytes, reprOf } from './chain.mjs';
import { kNetwork, principalOfCV, u128Hex } from './validate.mjs';

/** Largest request body read; the node's limit for a posted transaction is of this order. */
export const kMaxBodyBytes = 2 * 1024 * 1024;

export const kServerVersion = 'stacks-node medanchor-devnet (simnet @stacks/clarinet-sdk 3.21.0)';

// Path pieces, as the node's regexes admit them (a path that does not match is "no such endpoint").
const kStandardPrincipal = '(S[0-9A-Z]{28,41})';
const kContractName = '([a-zA-Z](?:[a-zA-Z0-9]|[-_]){0,127})';
const kPrincipal = `(S[0-9A-Z]{28,41}(?:\\.[a-zA-Z](?:[a-zA-Z0-9]|[-_]){0,127})?)`;
const kClarityName = '([a-zA-Z][a-zA-Z0-9_!?+<>=/*-]{0,127}|[-+=/*]|[<>]=?)';

// The block limits (chain.mjs), in the node's JSON names, for its proportional fee metric.
const kBlockLimitJson = {
  write_length: kBlockLimit.writeLength,
  write_count: kBlockLimit.writeCount,
  read_length: kBlockLimit.readLength,
  read_count: kBlockLimit.readCount,
  runtime: kBlockLimit.runtime,
};
const kBlockSizeLimit = kMaxBlockBytes;
const kFeeRates = [1, 1.5, 2]; // low, middle, high micro-STX per unit of cost scalar

class HttpError extends Error {
  constructor(status, body, headers = {}) {
    super(typeof body === 'string' ? body : JSON.stringify(body));
    this.status = status;
    this.body = body;
    this.headers = headers;
  }
}

/** The node's text/plain 400 for a request it could not decode. */
const decodeError = (msg) => new HttpError(400, `Failed to decode: ${msg}`);

/**
 * Creates one of the devnet's two servers. `role: 'node'` answers as a stacks-node's RPC: the
 * `/v2/...` paths only, anything else (`/extended/...` included) the node's 404 text. `role:
 * 'api'` answers as the Stacks Blockchain API: its `/extended/...` subset, and the `/v2/...` paths
 * as the API's proxy to its node does (the node's answers, byte for byte).
 * `hooks.accepted(record, replaced)` runs after a transaction enters the mempool; `hooks.log(line)`
 * gets one line per accepted or rejected transaction.
 */
export function createRpcServer(chain, hooks, { role = 'node' } = {}) {
  const nodeRoutes = [
    ['GET', /^\/v2\/info$/, () => info(chain)],
    ['GET', new RegExp(`^/v2/accounts/${kPrincipal}$`), (m, q) => account(chain, m[1], q)],
    ['POST', /^\/v2\/transactions$/, (m, q, req, body) => postTransaction(chain, hooks, req, body)],
    ['POST', new RegExp(`^/v2/contracts/call-read/${kStandardPrincipal}/${kContractName}/${kClarityName}$`),
      (m, q, req, body) => callRead(chain, `${m[1]}.${m[2]}`, m[3], req, body)],
    ['POST', new RegExp(`^/v2/map_entry/${kStandardPrincipal}/${kContractName}/${kClarityName}$`),
      (m, q, req, body) => mapEntry(chain, `${m[1]}.${m[2]}`, m[3], q, req, body)],
    ['GET', new RegExp(`^/v2/contracts/interface/${kStandardPrincipal}/${kContractName}$`),
      (m) => contractInterface(chain, `${m[1]}.${m[2]}`)],
    ['GET', new RegExp(`^/v2/contracts/source/${kStandardPrincipal}/${kContractName}$`),
      (m, q) => contractSource(chain, `${m[1]}.${m[2]}`, q)],
    ['POST', /^\/v2\/fees\/transaction$/, (m, q, req, body) => feeEstimate(req, body)],
    ['GET', /^\/v2\/fees\/transfer$/, () => json(200, Number(1))],
  ];
  const apiRoutes = [
    ['GET', /^\/extended\/v1\/tx\/(?:0x)?([0-9a-fA-F]{64})$/, (m) => txStatus(chain, m[1].toLowerCase())],
    ['GET', new RegExp(`^/extended/v1/address/${kPrincipal}/nonces$`), (m) => nonces(chain, m[1])],
    ['GET', /^\/extended\/v2\/blocks$/, (m, q) => blocks(chain, q)],
  ];
  const routes = role === 'api' ? [...nodeRoutes, ...apiRoutes] : nodeRoutes;

  /** What answers a request no route takes: the node's words, or (the API's own paths) the API's. */
  function noRoute(req, pathname) {
    const matching = nodeRoutes.filter(([, re]) => re.test(pathname));
    if (role === 'api' && !pathname.startsWith('/v2/')) {
      // The API (fastify) answers an unknown path, or a known one with another verb, this way.
      return new HttpError(404, {
        message: `Route ${req.method}:${pathname} not found`,
        error: 'Not Found',
        statusCode: 404,
      });
    }
    if (matching.length > 0) {
      const allow = [...new Set(matching.map(([verb]) => verb))].join(', ');
      return new HttpError(405, `Method ${req.method} not allowed`, { Allow: allow });
    }
    return new HttpError(404, `No such API endpoint '${req.method} ${pathname}'`);
  }

  async function handle(req, res) {
    let reply;
    try {
      const url = new URL(req.url, 'http://localhost');
      const pathname = safeDecode(url.pathname);
      const route = routes.find(([verb, re]) => verb === req.method && re.test(pathname));
      if (!route) {
        req.resume();
        throw noRoute(req, pathname);
      }
      const body = req.method === 'POST' ? await readBody(req) : Buffer.alloc(0);
      reply = await route[2](pathname.match(route[1]), url.searchParams, req, body);
    } catch (e) {
      if (e instanceof HttpError) {
        reply = { status: e.status, body: e.body, headers: e.headers };
      } else {
        hooks.log(`internal error on ${req.method} ${req.url}: ${e?.stack ?? e}`);
        reply = { status: 500, body: `Internal server error: ${e?.message ?? e}` };
      }
    }
    send(res, reply);
  }

  const server = http.createServer((req, res) => {
    handle(req, res).catch(() => res.destroy());
  });
  // Mining runs the simnet synchronously and can hold the event loop for seconds; a short
  // keep-alive timeout would then expire in the same turn as a client's next request arrives on
  // that connection, and the client would see it reset. Idle connections are the client's to close.
  server.keepAliveTimeout = 60_000;
  server.headersTimeout = 65_000;
  server.on('clientError', (err, socket) => {
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
  });
  return server;
}

function safeDecode(p) {
  try {
    return decodeURIComponent(p);
  } catch {
    return p; // a malformed escape simply matches no route
  }
}

function json(status, body) {
  return { status, body };
}

function send(res, { status, body, headers = {} }) {
  const isText = typeof body === 'string' && status >= 400; // the node's errors are text/plain
  const payload = isText ? body : JSON.stringify(body);
  res.writeHead(status, {
    'Content-Type': isText ? 'text/plain' : 'application/json',
    'Content-Length': Buffer.byteLength(payload),
    ...headers,
  });
  res.end(payload);
}

/** Reads a request body, refusing more than kMaxBodyBytes without buffering the excess. */
function readBody(req) {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers['content-length'] ?? 0);
    if (declared > kMaxBodyBytes) {
      req.resume(); // drain without keeping it, then answer
      reject(decodeError(`Invalid Http request: body is too big (${declared} > ${kMaxBodyBytes} bytes)`));
      return;
    }
    const chunks = [];
    let size = 0;
    req.on('data', (chunk) => {
      size += chunk.length;
      if (size > kMaxBodyBytes) {
        chunks.length = 0;
        reject(decodeError(`Invalid Http request: body is too big (over ${kMaxBodyBytes} bytes)`));
      } else {
        chunks.push(chunk);
      }
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

function contentType(req) {
  return (req.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase();
}

function parseJson(body, what) {
  try {
    return JSON.parse(body.toString('utf8'));
  } catch {
    throw decodeError(`Failed to parse JSON body${what ? ` (${what})` : ''}`);
  }
}

function parseHexCV(hex) {
  if (typeof hex !== 'string' || !/^(0x)?([0-9a-fA-F]{2})+$/.test(hex)) return null;
  try {
    return deserializeCV(hex.replace(/^0x/, ''));
  } catch {
    return null;
  }
}

function withProof(query) {
  return (query.get('proof') ?? '1') === '1'; // the node defaults to "with proof"
}

// ------------------------------------------------------------------------- node endpoints

function info(chain) {
  return chain.exclusive(() => {
    const consensus = chain.tipHash.slice(0, 40);
    return json(200, {
      peer_version: 4207599113,
      pox_consensus: consensus,
      burn_block_height: chain.burnHeight,
      stable_pox_consensus: consensus,
      stable_burn_block_height: chain.burnHeight,
      server_version: kServerVersion,
      network_id: kNetwork.networkId,
      parent_network_id: kNetwork.parentNetworkId,
      stacks_tip_height: chain.tipHeight,
      stacks_tip: chain.tipHash,
      stacks_tip_consensus_hash: consensus,
      genesis_chainstate_hash: '0'.repeat(64),
      unanchored_tip: null,
      unanchored_seq: null,
      tenure_height: chain.tipHeight,
      exit_at_block_height: null,
      is_fully_synced: true,
    });
  });
}

function account(chain, principal, query) {
  return chain.exclusive(() => {
    const body = {
      balance: u128Hex(chain.balance(principal)),
      locked: u128Hex(0),
      unlock_height: 0,
      nonce: Number(chain.nonce(principal)),
    };
    // The devnet has no MARF: with proofs requested it answers empty ones, as a node does for
    // an account it holds no data for.
    if (withProof(query)) Object.assign(body, { balance_proof: '', nonce_proof: '' });
    return json(200, body);
  });
}

async function postTransaction(chain, hooks, req, body) {
  if (body.length === 0) {
    throw decodeError('Invalid Http request: expected non-zero-length body for PostTransaction');
  }
  let bytes;
  const type = contentType(req);
  if (type === 'application/octet-stream') {
    bytes = body;
  } else if (type === 'application/json') {
    const parsed = parseJson(body);
    if (!parsed || typeof parsed.tx !== 'string') throw decodeError('Failed to parse body');
    const hex = parsed.tx.replace(/^0x/, '');
    if (!/^([0-9a-fA-F]{2})*$/.test(hex)) throw decodeError('Failed to parse tx');
    bytes = Buffer.from(hex, 'hex');
  } else if (type === '') {
    throw decodeError('Missing Content-Type for transaction');
  } else {
    throw decodeError('Wrong Content-Type for transaction; expected application/json or application/octet-stream');
  }

  const outcome = await chain.submit(bytes);
  if (outcome.decodeError) {
    hooks.log(`tx rejected: undecodable (${outcome.decodeError})`);
    throw decodeError(outcome.decodeError);
  }
  if (outcome.rejection) {
    const { reason, reason_data } = outcome.rejection;
    hooks.log(`tx rejected ${outcome.txid}: ${reason}${reason_data ? ' ' + JSON.stringify(reason_data) : ''}`);
    const errorBody = { error: 'transaction rejected', reason };
    if (reason_data !== undefined) errorBody.reason_data = reason_data;
    errorBody.txid = outcome.txid;
    return json(400, errorBody);
  }
  if (outcome.accepted) hooks.accepted(outcome.accepted, outcome.replaced);
  return json(200, outcome.txid);
}

async function callRead(chain, contractId, fn, req, body) {
  if (body.length === 0) {
    throw decodeError(`Invalid Http request: invalid body length for CallReadOnly (${body.length})`);
  }
  if (contentType(req) !== 'application/json') {
    throw decodeError('Invalid content-type: expected application/json');
  }
  const parsed = parseJson(body);
  if (!parsed || typeof parsed.sender !== 'string' || !Array.isArray(parsed.arguments)) {
    throw decodeError('Failed to parse JSON body');
  }
  if (!new RegExp(`^${kPrincipal}$`).test(parsed.sender)) {
    throw decodeError('Failed to parse sender principal');
  }
  const args = parsed.arguments.map(parseHexCV);
  if (args.some((a) => a === null)) throw decodeError('Failed to deserialize argument value');
  return chain.exclusive(() => {
    if (!chain.contractInterface(contractId)) {
      return json(200, { okay: false, cause: `Unchecked(NoSuchContract("${contractId}"))` });
    }
    return json(200, chain.callReadOnly(contractId, fn, args, parsed.sender));
  });
}

async function mapEntry(chain, contractId, map, query, req, body) {
  if (body.length === 0) throw decodeError('Invalid Http request: expected non-empty body');
  if (contentType(req) !== 'application/json') {
    throw decodeError('Invalid content-type: expected application/json');
  }
  const hex = parseJson(body);
  const key = parseHexCV(hex);
  if (!key) throw decodeError('Failed to deserialize key value');
  return chain.exclusive(() => {
    const data = chain.mapEntry(contractId, map, key);
    return json(200, withProof(query) ? { data, proof: '' } : { data });
  });
}

function contractInterface(chain, contractId) {
  return chain.exclusive(() => {
    const iface = chain.contractInterface(contractId);
    if (!iface) throw new HttpError(404, `No contract interface data found for ${contractId}`);
    return json(200, iface);
  });
}

function contractSource(chain, contractId, query) {
  return chain.exclusive(() => {
    const source = chain.contractSource(contractId);
    if (source === undefined) throw new HttpError(404, `No contract source data found for ${contractId}`);
    const body = { source, publish_height: chain.publishHeight(contractId) };
    if (withProof(query)) body.proof = '';
    return json(200, body);
  });
}

/**
 * The node's fee estimate shape, from a fixed cost model (there is no fee market here): the cost
 * scalar is the node's proportional metric over the block limits, fees are scalar × rate, never
 * below 1 micro-STX per byte.
 */
function feeEstimate(req, body) {
  if (body.length === 0) throw decodeError('Invalid Http request: expected non-empty body');
  if (contentType(req) !== 'application/json') {
    throw decodeError('Invalid content-type: expected application/json');
  }
  const parsed = parseJson(body);
  if (!parsed || typeof parsed.transaction_payload !== 'string') {
    throw decodeError('Failed to parse JSON body: missing transaction_payload');
  }
  const hex = parsed.transaction_payload.replace(/^0x/, '');
  if (!/^([0-9a-fA-F]{2})+$/.test(hex)) throw decodeError('Bad hex string supplied for transaction payload');
  let payload;
  try {
    payload = deserializePayload(hex);
  } catch (e) {
    throw decodeError(`Failed to deserialize transaction payload: ${e?.message ?? e}`);
  }
  const estimatedLen = Math.max(Number(parsed.estimated_len ?? 0) || 0, hex.length / 2);
  const cost = estimatedCost(payload);
  let scalar = (estimatedLen / kBlockSizeLimit) * 10_000;
  for (const [dim, limit] of Object.entries(kBlockLimitJson)) scalar += (cost[dim] / limit) * 10_000;
  scalar = Math.max(1, Math.ceil(scalar));
  const minimum = estimatedLen; // 1 micro-STX per byte
  return json(200, {
    estimated_cost: cost,
    estimated_cost_scalar: scalar,
    estimations: kFeeRates.map((rate) => ({ fee_rate: rate, fee: Math.max(minimum, Math.floor(scalar * rate)) })),
    cost_scalar_change_by_byte: 10_000 / kBlockSizeLimit,
  });
}

function estimatedCost(payload) {
  switch (payload.payloadType) {
    case PayloadType.ContractCall:
      return { read_count: 20, read_length: 20_000, runtime: 5_000_000, write_count: 10, write_length: 2_000 };
    case PayloadType.SmartContract:
    case PayloadType.VersionedSmartContract: {
      const len = payload.codeBody.content.length;
      return { read_count: 10, read_length: 10_000, runtime: 1_000 * len, write_count: 10, write_length: 2 * len };
    }
    default:
      return { read_count: 0, read_length: 0, runtime: 0, write_count: 0, write_length: 0 };
  }
}

// ------------------------------------------------------------- Stacks Blockchain API subset

function txStatus(chain, txid) {
  return chain.exclusive(() => {
    const rec = chain.txs.get(txid);
    if (!rec) {
      return json(404, { error: 'could not find transaction by ID', tx_id: `0x${txid}` });
    }
    return json(200, apiTransaction(rec));
  });
}

/**
 * The API's block list, newest first (`limit` 1-30, default 20; `offset`): what a client reads the
 * chain's clock from (`block_time` is stacks-block-time, Unix seconds). Before the first block the
 * list holds the genesis state's height and time.
 */
function blocks(chain, query) {
  return chain.exclusive(() => {
    const limit = Math.min(30, Math.max(1, Number.parseInt(query.get('limit') ?? '20', 10) || 20));
    const offset = Math.max(0, Number.parseInt(query.get('offset') ?? '0', 10) || 0);
    const all = chain.blocks.length
      ? chain.blocks.map((b) => ({ height: b.height, hash: b.hash, time: b.time, burn: b.burn_height, txs: b.txids.length }))
      : [{ height: chain.tipHeight, hash: chain.tipHash, time: chain.tipTime, burn: chain.burnHeight, txs: 0 }];
    const results = all.slice().reverse().slice(offset, offset + limit).map((b) => ({
      canonical: true,
      height: b.height,
      hash: `0x${b.hash}`,
      block_time: b.time,
      block_time_iso: new Date(b.time * 1000).toISOString(),
      burn_block_height: b.burn,
      tx_count: b.txs,
    }));
    return json(200, { limit, offset, total: all.length, results });
  });
}

/**
 * The API's nonce summary (stacks-blockchain-api `getAddressNonces`, src/datastore/pg-store.ts):
 * the highest executed and pending nonces, the next nonce after both, and, between them, which
 * nonces the mempool holds and which are missing (a gap that holds the later ones back).
 */
function nonces(chain, principal) {
  return chain.exclusive(() => {
    const executed = chain.nonce(principal);
    const lastExecuted = executed > 0n ? Number(executed - 1n) : null;
    const pending = [...chain.mempool.values()].filter((r) => r.sender === principal).map((r) => Number(r.nonce));
    const lastMempool = pending.length ? Math.max(...pending) : null;
    const possibleNext = lastExecuted === null && lastMempool === null ? 0 : Math.max(lastExecuted ?? 0, lastMempool ?? 0) + 1;
    const missing = [];
    const inMempool = [];
    if (lastExecuted !== null && lastMempool !== null && lastMempool - lastExecuted > 1) {
      for (let n = lastMempool - 1; n > lastExecuted; n--) (pending.includes(n) ? inMempool : missing).push(n);
    }
    return json(200, {
      last_mempool_tx_nonce: lastMempool,
      last_executed_tx_nonce: lastExecuted,
      possible_next_nonce: possibleNext,
      detected_missing_nonces: missing,
      detected_mempool_nonces: inMempool,
    });
  });
}

const kModeNames = { [PostConditionMode.Allow]: 'allow', [PostConditionMode.Deny]: 'deny', [PostConditionMode.Originator]: 'originator' };

function apiTransaction(rec) {
  const tx = rec.tx;
  const base = {
    tx_id: `0x${rec.txid}`,
    nonce: Number(rec.nonce),
    fee_rate: rec.fee.toString(),
    sender_address: rec.sender,
    sponsored: false,
    post_condition_mode: kModeNames[tx.postConditionMode] ?? 'deny',
    post_conditions: [],
    anchor_mode: 'any',
    tx_status: rec.status,
    ...payloadFields(tx.payload, rec.sender),
  };
  if (rec.status === 'pending' || !rec.block) {
    // A mempool transaction: pending, or dropped (replaced by fee, too expensive, ...).
    const receipt = Math.floor(rec.received_at / 1000);
    Object.assign(base, {
      receipt_time: receipt,
      receipt_time_iso: new Date(receipt * 1000).toISOString(),
      replaced_by_tx_id: rec.replaced_by ? `0x${rec.replaced_by}` : null,
    });
    if (rec.reason) base.medanchor_devnet_reason = rec.reason;
    return base;
  }
  const b = rec.block;
  const iso = new Date(b.time * 1000).toISOString();
  Object.assign(base, {
    is_unanchored: false,
    block_hash: `0x${b.hash}`,
    index_block_hash: `0x${b.hash}`,
    parent_block_hash: `0x${b.parent}`,
    block_height: b.height,
    block_time: b.time,
    block_time_iso: iso,
    burn_block_height: b.burn_height,
    burn_block_time: b.burn_time,
    burn_block_time_iso: new Date(b.burn_time * 1000).toISOString(),
    parent_burn_block_time: b.burn_time,
    parent_burn_block_time_iso: new Date(b.burn_time * 1000).toISOString(),
    canonical: true,
    tx_index: rec.tx_index,
    tx_result: { hex: rec.result, repr: reprOf(rec.result) },
    event_count: rec.events.length,
    events: rec.events.map((ev, i) => apiEvent(ev, i, rec.txid)),
    execution_cost_read_count: rec.cost.readCount,
    execution_cost_read_length: rec.cost.readLength,
    execution_cost_runtime: rec.cost.runtime,
    execution_cost_write_count: rec.cost.writeCount,
    execution_cost_write_length: rec.cost.writeLength,
  });
  if (rec.reason) base.medanchor_devnet_reason = rec.reason;
  return base;
}

function payloadFields(p, sender) {
  switch (p.payloadType) {
    case PayloadType.ContractCall: {
      const contractId = `${addressOf(p.contractAddress)}.${p.contractName.content}`;
      return {
        tx_type: 'contract_call',
        contract_call: {
          contract_id: contractId,
          function_name: p.functionName.content,
          function_args: p.functionArgs.map((a) => {
            const hex = cvHex(a);
            return { hex, repr: reprOf(hex) };
          }),
        },
      };
    }
    case PayloadType.SmartContract:
    case PayloadType.VersionedSmartContract:
      return {
        tx_type: 'smart_contract',
        smart_contract: {
          clarity_version: p.clarityVersion ?? null,
          contract_id: `${sender}.${p.contractName.content}`,
          source_code: p.codeBody.content,
        },
      };
    case PayloadType.TokenTransfer:
      return {
        tx_type: 'token_transfer',
        token_transfer: {
          recipient_address: principalOfCV(p.recipient),
          amount: p.amount.toString(),
          memo: `0x${Buffer.from(p.memo.content ?? '', 'utf8').toString('hex')}`,
        },
      };
    default:
      return { tx_type: 'unknown' };
  }
}

function apiEvent(ev, index, txid) {
  const d = ev.data;
  const common = { event_index: index, tx_id: `0x${txid}` };
  switch (ev.event) {
    case 'print_event': {
      const hex = d.raw_value?.startsWith('0x') ? d.raw_value : `0x${d.raw_value ?? cvHex(d.value)}`;
      return { ...common, event_type: 'smart_contract_log', contract_log: { contract_id: d.contract_identifier, topic: d.topic, value: { hex, repr: reprOf(hex) } } };
    }
    case 'stx_transfer_event':
    case 'stx_burn_event':
    case 'stx_mint_event':
      return { ...common, event_type: 'stx_asset', asset: { asset_event_type: ev.event.split('_')[1], sender: d.sender ?? '', recipient: d.recipient ?? '', amount: String(d.amount) } };
    default:
      return { ...common, event_type: ev.event, data: JSON.parse(JSON.stringify(d)) };
  }
}


function addressOf(wire) {
  return addressToString(wire);
}

function cvHex(cv) {
  return `0x${serializeCV(cv)}`;
}
