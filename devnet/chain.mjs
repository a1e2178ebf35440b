// The devnet chain: the real Clarity VM of @stacks/clarinet-sdk's simnet, a mempool, block
// production and an append-only log that makes the chain survive restarts.
//
// Why a replayable log: the simnet keeps its state in memory only and cannot undo a block. Both
// persistence and the cases where a block must be redone (a post-condition failure, a runtime
// error, a transaction that can no longer pay its fee) are handled the same way: rebuild the
// simnet from genesis by re-executing the log, with the decision already taken for each
// transaction. Replays are deterministic because the simnet's only wall-clock input (read once
// at session start to date the genesis block) is pinned to the time recorded in the log.
//
// Thread safety: all state changes and reads go through `exclusive()`, a promise queue, so an
// HTTP request never sees a simnet half-way through a rebuild.

import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { initSimnet, tx as simTx } from '@stacks/clarinet-sdk';
import {
  ClarityVersion,
  PayloadType,
  addressFromVersionHash,
  addressToString,
  cvToString,
  deserializeCV,
  serializeCV,
} from '@stacks/transactions';
import {
  checkAgainstState,
  checkPostConditions,
  checkStatic,
  decodeTransaction,
  originAddress,
  principalOfCV,
} from './validate.mjs';

/** Fees are paid into this account so balances read back as on a node (it stands for "the
 * miners"). Its hash160 is derived from a fixed label, so no one holds its key. */
export const kFeeSink = addressToString(
  addressFromVersionHash(26, createHash('sha256').update('medanchor devnet fee sink').digest('hex').slice(0, 40)),
);

const kLogFormat = 'medanchor-devnet-log/1';
const kErrNone = '0x0809'; // (err none): what the node records for a runtime error

/** Outcome of one transaction in a block; what the log records so a replay repeats it. */
// mode: 'execute' | 'fee-only' (charged, effects discarded) | 'drop' (removed from the block)

export class Chain {
  /**
   * @param {object} opts
   * @param {string} opts.dataDir   state directory (created if missing)
   * @param {string} opts.projectDir the Clarinet project whose settings/Devnet.toml funds accounts
   * @param {boolean} opts.deployProject deploy the project's contracts at genesis (new chains only)
   * @param {(line: string) => void} opts.log one line per event for the operator
   * @param {(line: string) => void} opts.warn loud warnings
   */
  constructor(opts) {
    this.opts = opts;
    this.logPath = path.join(opts.dataDir, 'chain.jsonl');
    this.simnet = null;
    this.genesis = null;
    this.blocks = []; // [{ height, hash, time, txs: [{ txid, mode, status?, result? }] }]
    this.txs = new Map(); // txid -> record (raw, decoded, status, result, block…)
    this.mempool = []; // txids in acceptance order
    this.nonces = new Map(); // principal -> confirmed nonce (bigint)
    this.deployed = new Set(); // contract ids deployed by transactions (plus genesis ones)
    this.queue = Promise.resolve();
  }

  /** Runs `fn` after every earlier chain operation; see the thread-safety note above. */
  exclusive(fn) {
    const run = this.queue.then(fn);
    this.queue = run.catch(() => {});
    return run;
  }

  // ---------------------------------------------------------------- start-up and persistence

  async open() {
    fs.mkdirSync(this.opts.dataDir, { recursive: true });
    const entries = this.readLog();
    if (entries.length === 0) {
      this.genesis = await this.createGenesis();
      this.append(this.genesis);
    } else {
      this.genesis = entries[0];
      if (this.opts.deployProject && !this.genesis.deploy_project) {
        this.opts.warn('--deploy-project ignored: this data dir holds a chain created without it');
      }
    }
    await this.rebuild(entries.slice(1));
  }

  async createGenesis() {
    const projectCopy = path.join(this.opts.dataDir, 'project');
    fs.rmSync(projectCopy, { recursive: true, force: true });
    fs.mkdirSync(path.join(projectCopy, 'settings'), { recursive: true });
    fs.copyFileSync(
      path.join(this.opts.projectDir, 'settings', 'Devnet.toml'),
      path.join(projectCopy, 'settings', 'Devnet.toml'),
    );
    if (this.opts.deployProject) {
      // The project's own manifest and contracts, so initSimnet deploys them as the deployer.
      fs.copyFileSync(path.join(this.opts.projectDir, 'Clarinet.toml'), path.join(projectCopy, 'Clarinet.toml'));
      fs.cpSync(path.join(this.opts.projectDir, 'contracts'), path.join(projectCopy, 'contracts'), { recursive: true });
    } else {
      fs.writeFileSync(
        path.join(projectCopy, 'Clarinet.toml'),
        '# Written by the medanchor devnet: accounts only, no contracts.\n' +
          '[project]\nname = "medanchor-devnet"\ntelemetry = false\ncache_dir = "./.cache"\nrequirements = []\n',
      );
    }
    const { SDK } = await import('@stacks/clarinet-sdk-wasm');
    return {
      kind: 'genesis',
      format: kLogFormat,
      genesis_time_ms: Date.now(),
      epoch: SDK.getDefaultEpoch(),
      deploy_project: Boolean(this.opts.deployProject),
    };
  }

  /**
   * Reads the log. A line that does not parse or lacks its fields is corruption: as the last
   * line it is what a crash mid-write leaves, so it is cut off (a copy is kept beside the log)
   * with a loud warning; anywhere else the log was damaged, and we refuse to guess.
   */
  readLog() {
    if (!fs.existsSync(this.logPath)) return [];
    const text = fs.readFileSync(this.logPath, 'utf8');
    const lines = text.split('\n');
    const endsClean = text.length === 0 || text.endsWith('\n');
    if (endsClean) lines.pop();
    const entries = [];
    let goodBytes = 0;
    for (let i = 0; i < lines.length; i++) {
      const entry = parseEntry(lines[i], i === 0);
      const isLast = i === lines.length - 1;
      if (entry && (endsClean || !isLast)) {
        entries.push(entry);
        goodBytes += Buffer.byteLength(lines[i], 'utf8') + 1;
        continue;
      }
      if (!isLast) {
        throw new Error(
          `${this.logPath}: line ${i + 1} is corrupt and valid lines follow it; refusing to start. ` +
            'Restore the file from a backup or move the data dir away to start a fresh chain.',
        );
      }
      const saved = `${this.logPath}.corrupt-${Date.now()}`;
      fs.writeFileSync(saved, Buffer.from(text, 'utf8').subarray(goodBytes));
      fs.truncateSync(this.logPath, goodBytes);
      this.opts.warn(
        `WARNING: ${this.logPath}: last line ${i + 1} is corrupt or incomplete (a crash while ` +
          `writing?); truncated it, the bytes are saved in ${saved}. The transaction or block it ` +
          'held is lost.',
      );
    }
    return entries;
  }

  append(entry) {
    // One write per entry, then fsync: an entry is on disk before its effect is announced.
    const fd = fs.openSync(this.logPath, 'a');
    try {
      fs.writeSync(fd, JSON.stringify(entry) + '\n');
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
  }

  /** Resets the simnet to genesis and re-executes `entries` (tx and block log entries). */
  async rebuild(entries) {
    const manifest = path.join(this.opts.dataDir, 'project', 'Clarinet.toml');
    this.simnet = await withPinnedClock(this.genesis.genesis_time_ms, () => initSimnet(manifest));
    if (this.simnet.currentEpoch !== this.genesis.epoch) this.simnet.setEpoch(this.genesis.epoch);
    this.blocks = [];
    this.txs = new Map();
    this.mempool = [];
    this.nonces = new Map();
    this.deployed = new Set();
    for (const entry of entries) {
      if (entry.kind === 'tx') {
        this.admitDecoded(entry.raw, entry.received_at);
      } else {
        const outcome = this.executeBlock(entry.txs);
        if (!outcome.ok) {
          throw new Error(
            `replay diverged at block ${entry.height}: ${outcome.problem}; the log does not match this simnet version`,
          );
        }
        this.commitBlock(entry.txs, outcome);
      }
    }
  }

  // ---------------------------------------------------------------- admission

  /**
   * Validates raw transaction bytes and, when accepted, appends them to the log and mempool.
   * Returns `{ txid }`, `{ txid, rejection }` (node JSON rejection) or `{ decodeError }`.
   */
  submit(bytes) {
    return this.exclusive(() => {
      const decoded = decodeTransaction(bytes);
      if (decoded.error) return { decodeError: decoded.error };
      const { tx, txid } = decoded;
      if (this.mempool.includes(txid)) return { txid }; // the node answers 200 for a known tx
      const rejection =
        checkStatic(tx, bytes.length) ?? checkAgainstState(tx, this.stateView());
      if (rejection) return { txid, rejection };
      const raw = Buffer.from(bytes).toString('hex');
      const received_at = Date.now();
      this.append({ kind: 'tx', raw, received_at });
      this.admitDecoded(raw, received_at);
      return { txid, accepted: this.txs.get(txid) };
    });
  }

  admitDecoded(rawHex, receivedAt) {
    const { tx, txid } = decodeTransaction(Buffer.from(rawHex, 'hex'));
    const record = {
      txid,
      raw: rawHex,
      tx,
      sender: originAddress(tx),
      nonce: tx.auth.spendingCondition.nonce,
      fee: tx.auth.spendingCondition.fee,
      received_at: receivedAt,
      status: 'pending',
    };
    this.txs.set(txid, record);
    this.mempool.push(txid);
  }

  stateView() {
    return {
      nonce: (p) => this.nonce(p),
      pendingNonces: (p) =>
        this.mempool.map((id) => this.txs.get(id)).filter((r) => r.sender === p).map((r) => r.nonce),
      balance: (p) => this.balance(p),
      contractInterface: (id) => this.simnet.getContractsInterfaces().get(id),
      contractExists: (id) =>
        this.simnet.getContractsInterfaces().has(id) ||
        this.mempool.some((t) => deployTarget(this.txs.get(t)) === id),
    };
  }

  // ---------------------------------------------------------------- mining

  get pendingCount() {
    return this.mempool.length;
  }

  /**
   * Mines the mempool into blocks: all of it into one block, or (perTx) one block per
   * transaction. Returns the blocks mined.
   */
  mine({ perTx = false } = {}) {
    return this.exclusive(async () => {
      const mined = [];
      while (this.mempool.length > 0) {
        const batch = perTx ? [this.mempool[0]] : [...this.mempool];
        mined.push(await this.mineBatch(batch));
      }
      return mined;
    });
  }

  async mineBatch(txids) {
    // Start with every transaction executed; redo the block with a changed decision until the
    // outcome needs none. Each round fixes at least one transaction, so this ends.
    const plan = txids.map((txid) => ({ txid, mode: 'execute' }));
    this.planFeeDrops(plan);
    for (;;) {
      const outcome = this.executeBlock(plan);
      if (outcome.ok) {
        const entry = { kind: 'block', height: this.simnet.stacksBlockHeight, txs: plan };
        this.append(entry);
        const block = this.commitBlock(plan, outcome);
        return block;
      }
      Object.assign(plan[outcome.index], outcome.fix);
      if (outcome.fix.mode === 'drop') this.dropFollowers(plan, outcome.index);
      await this.rebuild(this.replayEntries());
    }
  }

  /** Log entries from genesis to now (minus the genesis line), for a rebuild. */
  replayEntries() {
    return this.readLog().slice(1);
  }

  /** Drop, before mining, transactions whose sender cannot pay the fee by the time they run. */
  planFeeDrops(plan) {
    const spent = new Map();
    plan.forEach((step, i) => {
      if (step.mode === 'drop') return;
      const rec = this.txs.get(step.txid);
      const amount = rec.tx.payload.payloadType === PayloadType.TokenTransfer ? rec.tx.payload.amount : 0n;
      const need = (spent.get(rec.sender) ?? 0n) + rec.fee + amount;
      if (this.balance(rec.sender) < need) {
        step.mode = 'drop';
        step.reason = 'sender can no longer pay the fee';
        this.dropFollowers(plan, i);
      } else {
        spent.set(rec.sender, need);
      }
    });
  }

  dropFollowers(plan, index) {
    const sender = this.txs.get(plan[index].txid).sender;
    for (let j = index + 1; j < plan.length; j++) {
      if (this.txs.get(plan[j].txid).sender === sender && plan[j].mode !== 'drop') {
        plan[j].mode = 'drop';
        plan[j].reason = 'an earlier transaction of the same sender was dropped';
      }
    }
  }

  /**
   * Executes one block on the simnet. Returns `{ ok: true, results }` (per plan step: the
   * simnet results of its fee transfer and of its execution) or `{ ok: false, index, fix,
   * problem }` naming the transaction whose decision must change before the block is redone.
   * After `ok: false` the simnet is in an unusable state and must be rebuilt.
   */
  executeBlock(plan) {
    const calls = [];
    const slots = [];
    for (const step of plan) {
      if (step.mode === 'drop') {
        slots.push(null);
        continue;
      }
      const rec = this.txs.get(step.txid);
      if (!rec) return { ok: false, problem: `unknown transaction ${step.txid}` };
      const slot = { fee: calls.length, body: null };
      // The node takes the fee before it runs the transaction; so do we, as an STX transfer.
      calls.push(simTx.transferSTX(Number(rec.fee), kFeeSink, rec.sender));
      if (step.mode === 'execute') {
        slot.body = calls.length;
        calls.push(toSimnetTx(rec));
      }
      slots.push(slot);
    }
    const feeSinkBefore = this.balance(kFeeSink);
    let results;
    try {
      results = this.simnet.mineBlock(calls);
    } catch (e) {
      // A runtime error (or a contract that fails analysis) aborts simnet's whole block after
      // the transactions before it. Locate it by the fees already paid: fees are >= 1 and paid
      // in order, so the prefix sums identify the transaction that was running.
      const paid = this.balance(kFeeSink) - feeSinkBefore;
      let sum = 0n;
      for (let i = 0; i < plan.length; i++) {
        if (plan[i].mode === 'drop') continue;
        sum += this.txs.get(plan[i].txid).fee;
        if (sum === paid) {
          if (plan[i].mode !== 'execute') break;
          return {
            ok: false,
            index: i,
            problem: String(e?.message ?? e),
            fix: {
              mode: 'fee-only',
              status: 'abort_by_response',
              result: kErrNone,
              reason: firstLine(String(e?.message ?? e)),
            },
          };
        }
      }
      return { ok: false, problem: `simnet failed and the failing transaction could not be located: ${e?.message ?? e}` };
    }
    const out = [];
    for (let i = 0; i < plan.length; i++) {
      const slot = slots[i];
      if (!slot) {
        out.push(null);
        continue;
      }
      const feeResult = results[slot.fee];
      if (feeResult.result.type !== 'ok') {
        return { ok: false, index: i, problem: 'fee transfer failed', fix: { mode: 'drop', reason: 'sender could not pay the fee' } };
      }
      if (slot.body === null) {
        out.push({ fee: feeResult });
        continue;
      }
      const body = results[slot.body];
      const rec = this.txs.get(plan[i].txid);
      // Token transfers carry no post-conditions (the node does not check them either).
      const pcProblem = rec.tx.payload.payloadType === PayloadType.TokenTransfer
        ? null
        : checkPostConditions(rec.tx, rec.sender, body.events);
      if (pcProblem) {
        return {
          ok: false,
          index: i,
          problem: pcProblem,
          fix: {
            mode: 'fee-only',
            status: 'abort_by_post_condition',
            result: '0x' + serializeCV(body.result),
            reason: pcProblem,
          },
        };
      }
      out.push({ fee: feeResult, body });
    }
    return { ok: true, results: out };
  }

  /** Records a block that executed cleanly: statuses, nonces, the mempool. */
  commitBlock(plan, outcome) {
    const height = this.simnet.stacksBlockHeight;
    const parent = this.blocks.at(-1)?.hash ?? '0'.repeat(64);
    const hash = sha256Hex(`${parent}|${height}|${plan.map((s) => `${s.txid}:${s.mode}`).join(',')}`);
    const block = {
      height,
      burn_height: this.simnet.burnBlockHeight,
      hash,
      parent,
      time: Number(this.simnet.getBlockTime()),
      txids: [],
    };
    plan.forEach((step, i) => {
      const rec = this.txs.get(step.txid);
      this.mempool = this.mempool.filter((t) => t !== step.txid);
      if (step.mode === 'drop') {
        rec.status = 'dropped_problematic';
        rec.reason = step.reason;
        return;
      }
      this.nonces.set(rec.sender, rec.nonce + 1n);
      rec.block = block;
      rec.tx_index = block.txids.length;
      block.txids.push(step.txid);
      const body = outcome.results[i]?.body;
      if (step.mode === 'fee-only') {
        rec.status = step.status;
        rec.result = step.result;
        rec.reason = step.reason;
        rec.events = [];
      } else {
        const hex = '0x' + serializeCV(body.result);
        rec.result = hex;
        rec.status = body.result.type === 'err' ? 'abort_by_response' : 'success';
        rec.events = body.events;
        const target = deployTarget(rec);
        if (target) this.deployed.add(target);
      }
    });
    this.blocks.push(block);
    return block;
  }

  // ---------------------------------------------------------------- reads

  nonce(principal) {
    return this.nonces.get(principal) ?? 0n;
  }

  balance(principal) {
    return this.simnet.getAssetsMap().get('STX')?.get(principal) ?? 0n;
  }

  get tipHeight() {
    return this.simnet.stacksBlockHeight;
  }

  get burnHeight() {
    return this.simnet.burnBlockHeight;
  }

  get tipHash() {
    return this.blocks.at(-1)?.hash ?? sha256Hex(`genesis|${this.genesis.genesis_time_ms}`);
  }

  contractInterface(contractId) {
    return this.simnet.getContractsInterfaces().get(contractId);
  }

  contractSource(contractId) {
    return this.simnet.getContractSource(contractId);
  }

  /** Height at which a contract was deployed by a logged transaction (0 for genesis ones). */
  publishHeight(contractId) {
    for (const rec of this.txs.values()) {
      if (rec.block && deployTarget(rec) === contractId && rec.status === 'success') return rec.block.height;
    }
    return 0;
  }

  /** Runs a read-only function. Returns `{ okay: true, result }` or `{ okay: false, cause }`. */
  callReadOnly(contractId, fn, args, sender) {
    try {
      const res = this.simnet.callReadOnlyFn(contractId, fn, args, sender);
      return { okay: true, result: '0x' + serializeCV(res.result) };
    } catch (e) {
      return { okay: false, cause: firstLine(String(e?.message ?? e)) };
    }
  }

  /** The serialized optional of a map entry, as the node's `data` field (none when absent). */
  mapEntry(contractId, map, keyCV) {
    const iface = this.contractInterface(contractId);
    if (!iface || !iface.maps.some((m) => m.name === map)) return kNone;
    try {
      return '0x' + serializeCV(this.simnet.getMapEntry(contractId, map, keyCV));
    } catch {
      return kNone;
    }
  }
}

const kNone = '0x09';

function parseEntry(line, first) {
  let e;
  try {
    e = JSON.parse(line);
  } catch {
    return null;
  }
  if (!e || typeof e !== 'object') return null;
  if (first) {
    return e.kind === 'genesis' && e.format === kLogFormat && Number.isFinite(e.genesis_time_ms) &&
      typeof e.epoch === 'string' ? e : null;
  }
  if (e.kind === 'tx') {
    return typeof e.raw === 'string' && /^[0-9a-f]+$/.test(e.raw) && !decodeTransaction(Buffer.from(e.raw, 'hex')).error
      ? e : null;
  }
  if (e.kind === 'block') {
    return Array.isArray(e.txs) && e.txs.every((s) => typeof s.txid === 'string' &&
      ['execute', 'fee-only', 'drop'].includes(s.mode)) ? e : null;
  }
  return null;
}

function toSimnetTx(rec) {
  const p = rec.tx.payload;
  switch (p.payloadType) {
    case PayloadType.ContractCall:
      return simTx.callPublicFn(
        `${addressToString(p.contractAddress)}.${p.contractName.content}`,
        p.functionName.content,
        p.functionArgs,
        rec.sender,
      );
    case PayloadType.SmartContract:
      return simTx.deployContract(p.contractName.content, p.codeBody.content, null, rec.sender);
    case PayloadType.VersionedSmartContract:
      return simTx.deployContract(
        p.contractName.content,
        p.codeBody.content,
        { clarityVersion: p.clarityVersion ?? ClarityVersion.Clarity4 },
        rec.sender,
      );
    case PayloadType.TokenTransfer:
      return simTx.transferSTX(Number(p.amount), principalOfCV(p.recipient), rec.sender);
    default:
      throw new Error(`unsupported payload ${p.payloadType}`);
  }
}

function deployTarget(rec) {
  const t = rec?.tx?.payload?.payloadType;
  if (t === PayloadType.SmartContract || t === PayloadType.VersionedSmartContract) {
    return `${rec.sender}.${rec.tx.payload.contractName.content}`;
  }
  return null;
}

/** Human form of a serialized Clarity value, as the Stacks API's `repr`. */
export function reprOf(hex) {
  try {
    return cvToString(deserializeCV(hex.replace(/^0x/, '')));
  } catch {
    return '';
  }
}

function firstLine(s) {
  return s.split('\n').find((l) => l.trim() !== '')?.trim() ?? s;
}

function sha256Hex(s) {
  return createHash('sha256').update(s).digest('hex');
}

/**
 * Runs `fn` with `new Date()` and `Date.now()` answering `ms`: the simnet dates its genesis block
 * from the wall clock when a session starts, and a replay must date it the same way.
 */
async function withPinnedClock(ms, fn) {
  const RealDate = globalThis.Date;
  class PinnedDate extends RealDate {
    constructor(...args) {
      if (args.length === 0) super(ms);
      else super(...args);
    }
    static now() {
      return ms;
    }
  }
  globalThis.Date = PinnedDate;
  try {
    return await fn();
  } finally {
    globalThis.Date = RealDate;
  }
}
