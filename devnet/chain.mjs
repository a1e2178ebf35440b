// The devnet chain: the real Clarity VM of @stacks/clarinet-sdk's simnet, a mempool with the
// node's admission and replacement rules, block production with the miner's ordering and cost
// budget, and an append-only log that makes the chain survive restarts.
//
// Why a replayable log: the simnet keeps its state in memory only and cannot undo a block. Both
// persistence and the cases where a block must be redone (a post-condition failure, a runtime
// error, a transaction that does not fit the block's cost budget or can no longer pay its fee)
// are handled the same way: rebuild the simnet from genesis by re-executing the log, with the
// decision already taken for each transaction. Replays are deterministic because the simnet's
// only wall-clock input (read once at session start to date the genesis block) is pinned to the
// time recorded in the log, and every later step of its clock is an operation the log records.
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

// Log format 2 adds `advance` and `drop` entries and a block's `time`; format 1 logs (every block
// mined at once, no replacement) replay unchanged: their entries are a subset.
const kLogFormat = 'medanchor-devnet-log/2';
const kReadableFormats = new Set(['medanchor-devnet-log/1', kLogFormat]);
const kErrNone = '0x0809'; // (err none): what the node records for a runtime error

/**
 * The block budget: stacks-core `BLOCK_LIMIT_MAINNET_21` (stackslib/src/core/mod.rs), the limit of
 * every epoch from 2.1 to 3.4 (the simnet's epoch), and `MAX_EPOCH_SIZE` bytes of transactions.
 */
export const kBlockLimit = Object.freeze({
  writeLength: 15_000_000,
  writeCount: 15_000,
  readLength: 100_000_000,
  readCount: 15_000,
  runtime: 5_000_000_000,
});
export const kMaxBlockBytes = 2 * 1024 * 1024;
/** stacks-core `TX_BLOCK_LIMIT_PROPORTION_HEURISTIC`: a transaction that overflows a block filled
 * below this percentage is too big for any block and is dropped (`dropped_too_expensive`). */
const kTooBigBelowPercent = 20;

// The simnet's clock (clarity-repl datastore.rs): each Stacks block is dated 10 s after the later
// of its parent and its burn block; each burn block 600 s after the previous one.
const kStacksBlockSeconds = 10;
const kBurnBlockSeconds = 600;

export class Chain {
  /**
   * @param {object} opts
   * @param {string} opts.dataDir   state directory (created if missing)
   * @param {string} opts.projectDir the Clarinet project whose settings/Devnet.toml funds accounts
   * @param {boolean} opts.deployProject deploy the project's contracts at genesis (new chains only)
   * @param {(line: string) => void} opts.log one line per event for the operator
   * @param {(line: string) => void} opts.warn loud warnings
   * @param {() => number} [opts.now] the wall clock in ms (Date.now)
   */
  constructor(opts) {
    this.opts = opts;
    this.now = opts.now ?? (() => Date.now());
    this.logPath = path.join(opts.dataDir, 'chain.jsonl');
    this.simnet = null;
    this.genesis = null;
    this.reset();
    this.queue = Promise.resolve();
  }

  reset() {
    this.blocks = []; // [{ height, hash, parent, time, burn_height, burn_time, txids }]
    this.txs = new Map(); // txid -> record (raw, decoded, status, result, block…)
    this.mempool = new Map(); // txid -> record, pending only, in acceptance order
    this.nonces = new Map(); // principal -> confirmed nonce (bigint)
    this.burnTime = 0; // time of the current burn block
    this.admitted = 0; // acceptance counter: the tie-break of equal fee rates
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
    const genesis = {
      kind: 'genesis',
      format: kLogFormat,
      genesis_time_ms: Math.floor(this.now() / 1000) * 1000,
      epoch: SDK.getDefaultEpoch(),
      deploy_project: Boolean(this.opts.deployProject),
    };
    // Setting up the epoch (and any genesis deployments) moves the simnet's clock on from the
    // genesis time. Date genesis back by that much, so the first block is dated now, not minutes
    // ahead of the wall clock.
    this.genesis = genesis;
    await this.initSimnet();
    const ahead = Number(this.simnet.getBlockTime()) + kStacksBlockSeconds - genesis.genesis_time_ms / 1000;
    genesis.genesis_time_ms -= Math.max(0, ahead) * 1000;
    // The SDK keeps the session it set up for a manifest and restores it on the next init, genesis
    // time included: forget it, so the next init dates genesis anew.
    this.simnet.clearCache();
    return genesis;
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
      if (i === 0 && entry?.unknownFormat) {
        throw new Error(
          `${this.logPath}: written in log format "${entry.unknownFormat}", which this devnet cannot ` +
            `replay (it reads ${[...kReadableFormats].join(', ')}); move the data dir away to start a fresh chain.`,
        );
      }
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

  async initSimnet() {
    const manifest = path.join(this.opts.dataDir, 'project', 'Clarinet.toml');
    this.simnet = await withPinnedClock(this.genesis.genesis_time_ms, () =>
      initSimnet(manifest, false, { trackCosts: true }),
    );
    if (this.simnet.currentEpoch !== this.genesis.epoch) this.simnet.setEpoch(this.genesis.epoch);
  }

  /** Resets the simnet to genesis and re-executes `entries` (every log entry after genesis). */
  async rebuild(entries) {
    await this.initSimnet();
    this.reset();
    // The epoch set-up ends with a burn block, whose first Stacks block is the tip.
    this.burnTime = Number(this.simnet.getBlockTime()) - kStacksBlockSeconds;
    for (const entry of entries) {
      switch (entry.kind) {
        case 'tx':
          this.admitDecoded(entry.raw, entry.received_at);
          break;
        case 'advance': {
          this.advance(entry.burn_blocks, entry.stacks_blocks);
          if (this.tipHeight !== entry.height || this.tipTime !== entry.time) {
            throw new Error(
              `replay diverged at the empty blocks up to height ${entry.height}: the simnet is at height ` +
                `${this.tipHeight}, time ${this.tipTime} (logged ${entry.time}); the log does not match this simnet version`,
            );
          }
          break;
        }
        case 'drop':
          this.dropFromMempool(entry.txid, entry.status, entry.reason);
          break;
        case 'block': {
          const outcome = this.executeBlock(entry.txs);
          if (!outcome.ok) {
            throw new Error(
              `replay diverged at block ${entry.height}: ${outcome.problem}; the log does not match this simnet version`,
            );
          }
          this.commitBlock(entry.txs, outcome);
          if (entry.time !== undefined && this.tipTime !== entry.time) {
            throw new Error(
              `replay diverged at block ${entry.height}: dated ${this.tipTime}, logged ${entry.time}; ` +
                'the log does not match this simnet version',
            );
          }
          break;
        }
      }
    }
  }

  // ---------------------------------------------------------------- admission

  /**
   * Validates raw transaction bytes and, when accepted, appends them to the log and mempool.
   * Returns `{ txid }` (already known), `{ txid, accepted, replaced? }`, `{ txid, rejection }`
   * (node JSON rejection) or `{ decodeError }`.
   */
  submit(bytes) {
    return this.exclusive(() => {
      const decoded = decodeTransaction(bytes);
      if (decoded.error) return { decodeError: decoded.error };
      const { tx, txid } = decoded;
      // The node answers 200 with the txid for a transaction its mempool database holds, pending
      // or mined (`MemPoolDB::has_tx`); replaced and dropped ones are gone from it.
      const known = this.txs.get(txid);
      if (known && !known.status.startsWith('dropped_')) return { txid };
      const rejection =
        checkStatic(tx, bytes.length) ?? checkAgainstState(tx, this.stateView()) ?? this.checkConflict(tx);
      if (rejection) return { txid, rejection };
      const raw = Buffer.from(bytes).toString('hex');
      const received_at = this.now();
      this.append({ kind: 'tx', raw, received_at });
      const replaced = this.admitDecoded(raw, received_at);
      return { txid, accepted: this.txs.get(txid), replaced };
    });
  }

  /**
   * `MemPoolDB::try_add_tx`: a second transaction for a sender and nonce already in the mempool
   * replaces it only with a strictly higher fee (stacks-core asks no minimum bump).
   */
  checkConflict(tx) {
    const prior = this.pendingWithNonce(originAddress(tx), tx.auth.spendingCondition.nonce);
    if (prior && tx.auth.spendingCondition.fee <= prior.fee) return { reason: 'ConflictingNonceInMempool' };
    return null;
  }

  pendingWithNonce(sender, nonce) {
    for (const rec of this.mempool.values()) {
      if (rec.sender === sender && rec.nonce === nonce) return rec;
    }
    return undefined;
  }

  /** Adds an accepted transaction to the mempool; returns the record it replaced, if any. */
  admitDecoded(rawHex, receivedAt) {
    const { tx, txid } = decodeTransaction(Buffer.from(rawHex, 'hex'));
    const record = {
      txid,
      raw: rawHex,
      tx,
      size: rawHex.length / 2,
      sender: originAddress(tx),
      nonce: tx.auth.spendingCondition.nonce,
      fee: tx.auth.spendingCondition.fee,
      received_at: receivedAt,
      order: this.admitted++,
      status: 'pending',
    };
    const prior = this.pendingWithNonce(record.sender, record.nonce);
    if (prior) {
      this.dropFromMempool(prior.txid, 'dropped_replace_by_fee', `replaced by 0x${txid} (higher fee)`);
      prior.replaced_by = txid;
    }
    this.txs.set(txid, record);
    this.mempool.set(txid, record);
    return prior;
  }

  dropFromMempool(txid, status, reason) {
    const rec = this.txs.get(txid);
    if (!rec) return;
    this.mempool.delete(txid);
    rec.status = status;
    rec.reason = reason;
  }

  stateView() {
    return {
      nonce: (p) => this.nonce(p),
      balance: (p) => this.balance(p),
      contractInterface: (id) => this.simnet.getContractsInterfaces().get(id),
      // Stricter than the node, which looks at the chain only: a second deploy of a name already
      // pending is refused at once instead of failing when mined. A replacement (same sender and
      // nonce) of the pending deploy is not a second deploy.
      contractExists: (id, tx) =>
        this.simnet.getContractsInterfaces().has(id) ||
        [...this.mempool.values()].some(
          (r) => deployTarget(r) === id && r.nonce !== tx.auth.spendingCondition.nonce,
        ),
    };
  }

  // ---------------------------------------------------------------- the clock

  /**
   * Brings the simnet's clock up to the wall clock with empty blocks, as time passes on a real
   * chain: an empty tenure (burn block, and its first Stacks block) for each full 600 s it lags;
   * with `toTheSecond`, then empty Stacks blocks of 10 s each until the next block is dated
   * within 10 s before `nowSeconds`. Logged as one `advance` entry. Returns the blocks added.
   */
  catchUp(nowSeconds, { toTheSecond }) {
    let burns = 0;
    let stacks = 0;
    let burn = this.burnTime;
    let tip = this.tipTime;
    // Replays the simnet's clock rules on paper: only blocks after which the next block is
    // still dated no later than `nowSeconds` are mined.
    for (;;) {
      const nextBurn = Math.max(burn + kBurnBlockSeconds, tip + kStacksBlockSeconds);
      if (nextBurn + 2 * kStacksBlockSeconds > nowSeconds) break;
      burns++;
      burn = nextBurn;
      tip = nextBurn + kStacksBlockSeconds;
    }
    while (toTheSecond && tip + 2 * kStacksBlockSeconds <= nowSeconds) {
      stacks++;
      tip += kStacksBlockSeconds;
    }
    if (burns === 0 && stacks === 0) return [];
    const before = this.blocks.length;
    this.advance(burns, stacks);
    this.append({ kind: 'advance', burn_blocks: burns, stacks_blocks: stacks, height: this.tipHeight, time: this.tipTime });
    return this.blocks.slice(before);
  }

  /** Mines `burns` empty burn blocks, then `stacks` empty Stacks blocks, recording each block. */
  advance(burns, stacks) {
    for (let i = 0; i < burns; i++) {
      this.simnet.mineEmptyBurnBlock();
      this.burnTime = this.tipTime - kStacksBlockSeconds;
      this.recordBlock([]);
    }
    for (let i = 0; i < stacks; i++) {
      this.simnet.mineEmptyStacksBlock();
      this.recordBlock([]);
    }
  }

  recordBlock(steps) {
    const height = this.simnet.stacksBlockHeight;
    const parent = this.blocks.at(-1)?.hash ?? this.genesisHash;
    const hash = sha256Hex(`${parent}|${height}|${steps.map((s) => `${s.txid}:${s.mode}`).join(',')}`);
    const block = {
      height,
      burn_height: this.simnet.burnBlockHeight,
      burn_time: this.burnTime,
      hash,
      parent,
      time: this.tipTime,
      txids: [],
    };
    this.blocks.push(block);
    return block;
  }

  // ---------------------------------------------------------------- mining

  get pendingCount() {
    return this.mempool.size;
  }

  /**
   * One tick of the block timer at wall-clock time `nowMs`: when the mempool holds a transaction
   * that can be mined now, mines one block (after dating the chain up to the wall clock);
   * otherwise only lets empty tenures pass. Returns `{ blocks, dropped }`: every block added
   * (empty ones included) and the transactions dropped as too expensive.
   */
  tick(nowMs = this.now()) {
    return this.exclusive(async () => {
      const now = Math.floor(nowMs / 1000);
      const plan = this.planBlock();
      if (plan.length === 0) return { blocks: this.catchUp(now, { toTheSecond: false }), dropped: [] };
      const blocks = this.catchUp(now, { toTheSecond: true });
      const { block, dropped } = await this.mineBlock(plan);
      if (block) blocks.push(block);
      return { blocks, dropped };
    });
  }

  /**
   * The miner's choice of transactions, as stacks-core's default mempool walk
   * (`MemPoolWalkStrategy::NextNonceWithHighestFeeRate`, stackslib/src/core/mempool.rs): in rounds,
   * each sender's transaction with the next nonce, highest fee rate (micro-STX per byte) first,
   * earlier arrival on ties; a transaction whose nonce is not next waits. A sender that cannot pay
   * the fee (and, for a transfer, the amount) from its balance now, or whose transaction would
   * take the block past `kMaxBlockBytes`, waits for a later block with everything after it.
   */
  planBlock(excluded = new Set()) {
    const expected = new Map();
    const spent = new Map();
    const blocked = new Set();
    const plan = [];
    let bytes = 0;
    for (;;) {
      const round = [...this.mempool.values()].filter(
        (r) =>
          !blocked.has(r.sender) &&
          !excluded.has(r.txid) &&
          r.nonce === (expected.get(r.sender) ?? this.nonce(r.sender)),
      );
      if (round.length === 0) return plan;
      round.sort((a, b) => compareFeeRate(b, a) || a.order - b.order);
      for (const rec of round) {
        const amount = rec.tx.payload.payloadType === PayloadType.TokenTransfer ? rec.tx.payload.amount : 0n;
        const need = (spent.get(rec.sender) ?? 0n) + rec.fee + amount;
        if (bytes + rec.size >= kMaxBlockBytes || this.balance(rec.sender) < need) {
          blocked.add(rec.sender);
          continue;
        }
        plan.push({ txid: rec.txid, mode: 'execute' });
        expected.set(rec.sender, rec.nonce + 1n);
        spent.set(rec.sender, need);
        bytes += rec.size;
      }
    }
  }

  /**
   * Mines `plan` as one block. Executes it; when a transaction's outcome needs a decision (a
   * runtime error or post-condition failure: fee only; a fee it cannot pay or a cost that does
   * not fit the budget: it waits; a cost no block can hold: dropped), takes it, rebuilds the
   * simnet and executes again. Each round settles at least one transaction, so this ends.
   * Returns `{ block, dropped }`; `block` is null when nothing was left to mine.
   */
  async mineBlock(plan) {
    const dropped = [];
    const waiting = new Set();
    for (;;) {
      if (plan.every((s) => s.mode === 'wait')) return { block: null, dropped };
      const steps = plan.filter((s) => s.mode !== 'wait');
      const outcome = this.executeBlock(steps);
      const problem = outcome.ok ? this.overBudget(steps, outcome) : outcome;
      if (!problem) {
        const entry = { kind: 'block', height: this.simnet.stacksBlockHeight, time: this.tipTime, txs: steps };
        this.append(entry);
        return { block: this.commitBlock(steps, outcome), dropped };
      }
      if (problem.index === undefined) throw new Error(problem.problem);
      const step = steps[problem.index];
      if (problem.fix.mode === 'drop') {
        this.append({ kind: 'drop', txid: step.txid, status: problem.fix.status, reason: problem.fix.reason });
        this.dropFromMempool(step.txid, problem.fix.status, problem.fix.reason);
        dropped.push(this.txs.get(step.txid));
        this.holdFollowers(plan, step.txid, waiting);
        step.mode = 'wait';
      } else if (problem.fix.mode === 'wait') {
        waiting.add(step.txid);
        step.mode = 'wait';
        this.holdFollowers(plan, step.txid, waiting);
      } else {
        Object.assign(step, problem.fix);
      }
      await this.rebuild(this.replayEntries());
    }
  }

  /** A sender's later transactions cannot go in this block once one of theirs is held back. */
  holdFollowers(plan, txid, waiting) {
    const sender = this.txs.get(txid).sender;
    const at = plan.findIndex((s) => s.txid === txid);
    for (let j = at + 1; j < plan.length; j++) {
      if (this.txs.get(plan[j].txid).sender === sender && plan[j].mode !== 'wait') {
        plan[j].mode = 'wait';
        waiting.add(plan[j].txid);
      }
    }
  }

  /**
   * The block budget, as the miner applies it (`parse_process_transaction_error`,
   * stackslib/src/chainstate/nakamoto/miner.rs): the first transaction whose cost takes the block
   * past `kBlockLimit` in any dimension waits for a later block, unless the block was below 20 %
   * full before it: then no block can take it, and it is dropped as too expensive.
   */
  overBudget(steps, outcome) {
    const total = zeroCost();
    for (let i = 0; i < steps.length; i++) {
      const cost = outcome.results[i]?.body?.costs?.total;
      if (!cost) continue;
      const after = addCost(total, cost);
      if (!exceeds(after)) {
        Object.assign(total, after);
        continue;
      }
      const fullPercent = largestProportion(total);
      const what = `costs ${describeCost(cost)}; the block held ${describeCost(total)} of ${describeCost(kBlockLimit)}`;
      if (fullPercent < kTooBigBelowPercent) {
        return { ok: false, index: i, problem: 'too expensive', fix: { mode: 'drop', status: 'dropped_too_expensive', reason: `${what}: too big for any block` } };
      }
      return { ok: false, index: i, problem: 'over budget', fix: { mode: 'wait', reason: `${what}: waits for the next block` } };
    }
    return null;
  }

  /** Log entries from genesis to now (minus the genesis line), for a rebuild. */
  replayEntries() {
    return this.readLog().slice(1);
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
        slots.push(null); // format 1: dropped inside a block
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
      return this.locateFailure(plan, feeSinkBefore, e);
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
        return { ok: false, index: i, problem: 'fee transfer failed', fix: { mode: 'wait', reason: 'sender could not pay the fee' } };
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

  /**
   * A runtime error (or a contract that fails analysis, or a cost over the whole block limit)
   * aborts simnet's whole block after the transactions before it. Locate it by the fees already
   * paid: fees are >= 1 and paid in order, so the prefix sums identify the transaction running.
   */
  locateFailure(plan, feeSinkBefore, e) {
    const message = String(e?.message ?? e);
    const paid = this.balance(kFeeSink) - feeSinkBefore;
    let sum = 0n;
    for (let i = 0; i < plan.length; i++) {
      if (plan[i].mode === 'drop') continue;
      sum += this.txs.get(plan[i].txid).fee;
      if (sum !== paid) continue;
      if (plan[i].mode !== 'execute') break;
      if (/CostBalanceExceeded/.test(message)) {
        // More than a whole block's budget on its own: no block can hold it.
        const reason = `costs more than a block's budget (${describeCost(kBlockLimit)}): too big for any block`;
        return { ok: false, index: i, problem: message, fix: { mode: 'drop', status: 'dropped_too_expensive', reason } };
      }
      return {
        ok: false,
        index: i,
        problem: message,
        fix: { mode: 'fee-only', status: 'abort_by_response', result: kErrNone, reason: firstLine(message) },
      };
    }
    return { ok: false, problem: `simnet failed and the failing transaction could not be located: ${message}` };
  }

  /** Records a block that executed cleanly: statuses, nonces, costs, the mempool. */
  commitBlock(plan, outcome) {
    const block = this.recordBlock(plan);
    plan.forEach((step, i) => {
      const rec = this.txs.get(step.txid);
      if (step.mode === 'drop') {
        // Format 1 only: a sender that could no longer pay its fee was dropped from the block.
        this.dropFromMempool(step.txid, step.status ?? 'dropped_problematic', step.reason);
        return;
      }
      this.mempool.delete(step.txid);
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
        rec.cost = zeroCost();
      } else {
        rec.result = '0x' + serializeCV(body.result);
        rec.status = body.result.type === 'err' ? 'abort_by_response' : 'success';
        rec.events = body.events;
        rec.cost = body.costs?.total ?? zeroCost();
      }
    });
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

  /** stacks-block-time of the tip: what the contracts saw in the newest block. */
  get tipTime() {
    return Number(this.simnet.getBlockTime());
  }

  get burnHeight() {
    return this.simnet.burnBlockHeight;
  }

  get genesisHash() {
    return sha256Hex(`genesis|${this.genesis.genesis_time_ms}`);
  }

  get tipHash() {
    return this.blocks.at(-1)?.hash ?? this.genesisHash;
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

function compareFeeRate(a, b) {
  // fee_a / size_a vs fee_b / size_b, exactly: cross-multiply.
  const l = a.fee * BigInt(b.size);
  const r = b.fee * BigInt(a.size);
  return l < r ? -1 : l > r ? 1 : 0;
}

const kCostDims = ['writeLength', 'writeCount', 'readLength', 'readCount', 'runtime'];

function zeroCost() {
  return { writeLength: 0, writeCount: 0, readLength: 0, readCount: 0, runtime: 0 };
}

function addCost(a, b) {
  const out = {};
  for (const d of kCostDims) out[d] = Number(a[d] ?? 0) + Number(b[d] ?? 0);
  return out;
}

function exceeds(cost) {
  return kCostDims.some((d) => cost[d] > kBlockLimit[d]);
}

/** `ExecutionCost::proportion_largest_dimension`: the fullest dimension, in percent. */
function largestProportion(cost) {
  return Math.max(...kCostDims.map((d) => Math.floor((cost[d] * 100) / kBlockLimit[d])));
}

function describeCost(c) {
  return `write_length ${c.writeLength}, write_count ${c.writeCount}, read_length ${c.readLength}, ` +
    `read_count ${c.readCount}, runtime ${c.runtime}`;
}

function parseEntry(line, first) {
  let e;
  try {
    e = JSON.parse(line);
  } catch {
    return null;
  }
  if (!e || typeof e !== 'object') return null;
  if (first) {
    if (e.kind !== 'genesis' || !Number.isFinite(e.genesis_time_ms) || typeof e.epoch !== 'string') return null;
    if (typeof e.format !== 'string') return null;
    return kReadableFormats.has(e.format) ? e : { unknownFormat: e.format };
  }
  switch (e.kind) {
    case 'tx':
      return typeof e.raw === 'string' && /^[0-9a-f]+$/.test(e.raw) && !decodeTransaction(Buffer.from(e.raw, 'hex')).error
        ? e : null;
    case 'block':
      return Array.isArray(e.txs) && e.txs.every((s) => typeof s.txid === 'string' &&
        ['execute', 'fee-only', 'drop'].includes(s.mode)) ? e : null;
    case 'advance':
      return [e.burn_blocks, e.stacks_blocks, e.height, e.time].every((n) => Number.isInteger(n) && n >= 0) ? e : null;
    case 'drop':
      return typeof e.txid === 'string' && typeof e.status === 'string' ? e : null;
    default:
      return null;
  }
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
