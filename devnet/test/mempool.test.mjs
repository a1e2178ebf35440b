// The mempool and block production against stacks-core's rules, on the real server: blocks on an
// interval; future nonces held until the gap fills; the chaining limit; replace-by-fee; a block
// ordered by fee rate, then nonce; the block cost budget; aborts that undo only their own
// transaction; stacks-block-time from the wall clock. Where a scenario needs several transactions
// in one block, it holds them back deterministically (behind a nonce gap, or by posting them to a
// chain whose next block is an hour away and restarting it) instead of racing the block timer.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  Cl,
  ClarityVersion,
  Pc,
  PostConditionMode,
  getAddressFromPrivateKey,
  makeContractCall,
  makeContractDeploy,
  makeSTXTokenTransfer,
  randomPrivateKey,
} from '@stacks/transactions';
import { accountOf, broadcast, getJson, kAddresses, kKeys, postJson, startDevnet, waitForTx } from '../harness.mjs';

const kPayer = `
(define-public (pay (amount uint) (to principal))
  (stx-transfer? amount tx-sender to))
(define-data-var touched uint u0)
(define-public (boom)
  (begin (var-set touched u1) (ok (unwrap-panic (element-at? (list u1) u5)))))
(define-read-only (get-touched) (var-get touched))
`;
// Writes a 100 kB buffer n times: n = 80 costs 8 MB of write_length, over half a block's 15 MB;
// n = 160 more than a whole block.
const kFiller = `
(define-map m uint (buff 100000))
(define-constant k (list ${Array.from({ length: 200 }, (_, i) => `u${i}`).join(' ')}))
(define-private (put (i uint) (b (buff 100000))) (begin (map-set m i b) b))
(define-public (fill (b (buff 100000)) (n uint))
  (begin (fold put (unwrap-panic (slice? k u0 n)) b) (ok n)))
`;
const kFee = 10_000n;

function newAccount() {
  const key = randomPrivateKey();
  return { key, address: getAddressFromPrivateKey(key, 'testnet') };
}

function transfer(from, nonce, fee, to = kAddresses.wallet_4, amount = 1n) {
  return makeSTXTokenTransfer({ recipient: to, amount, senderKey: from.key ?? kKeys[from], network: 'testnet', nonce, fee });
}

function callPayer(who, functionName, functionArgs, nonce, extra = {}) {
  return makeContractCall({
    contractAddress: kAddresses.deployer, contractName: 'payer', functionName, functionArgs,
    senderKey: kKeys[who], network: 'testnet', nonce, fee: kFee,
    postConditionMode: PostConditionMode.Deny, ...extra,
  });
}

async function accepted(url, tx) {
  const res = await broadcast(url, tx);
  assert.ok(res.txid, JSON.stringify(res));
  return res.txid;
}

async function status(devnet, txid) {
  return (await getJson(devnet.apiUrl, `/extended/v1/tx/0x${txid}`)).body;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Funds fresh accounts from the deployer (one transfer each, consecutive nonces) and waits. */
async function fund(devnet, accounts, amount = 10_000_000n) {
  const { nonce } = await accountOf(devnet.url, kAddresses.deployer);
  const ids = [];
  for (const [i, a] of accounts.entries()) {
    ids.push(await accepted(devnet.url, await transfer('deployer', BigInt(nonce + i), kFee, a.address, amount)));
  }
  for (const id of ids) assert.equal((await waitForTx(devnet.apiUrl, id, 60_000)).tx_status, 'success');
}

/** The "block H mined at T" lines of the server's stdout: [{ height, at (ms, the log stamp) }]. */
function minedLines(devnet) {
  return [...devnet.output().stdout.matchAll(/^(\S+) block (\d+) mined at/gm)].map((m) => ({
    at: Date.parse(m[1]),
    height: Number(m[2]),
  }));
}

describe('blocks on an interval, held nonces, chaining, replace-by-fee, aborts', () => {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'medanchor-devnet-'));
  const kInterval = ['--block-interval', '1.5'];
  let devnet;

  before(async () => {
    devnet = await startDevnet(dataDir, kInterval);
    const txid = await accepted(devnet.url, await makeContractDeploy({
      contractName: 'payer', codeBody: kPayer, clarityVersion: ClarityVersion.Clarity4,
      senderKey: kKeys.deployer, network: 'testnet', nonce: 0n, fee: 50_000n,
    }));
    assert.equal((await waitForTx(devnet.apiUrl, txid, 60_000)).tx_status, 'success');
  });
  after(async () => {
    await devnet?.stop();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  test('mines on the interval: never at once, never two blocks within it', async () => {
    // Three rounds of three transfers from three senders, each round posted back to back.
    const senders = [newAccount(), newAccount(), newAccount()];
    await fund(devnet, senders);
    const heights = new Set();
    for (let round = 0; round < 3; round++) {
      const ids = [];
      for (const s of senders) ids.push(await accepted(devnet.url, await transfer(s, BigInt(round), kFee)));
      for (const id of ids) heights.add((await waitForTx(devnet.apiUrl, id)).block_height);
    }
    // Nine transactions, posted within fractions of an interval of each other: at most two blocks
    // per round (mining each at once would take nine).
    assert.ok(heights.size >= 3 && heights.size <= 6, `blocks: ${[...heights]}`);
    const lines = minedLines(devnet);
    for (let i = 1; i < lines.length; i++) {
      assert.ok(lines[i].at - lines[i - 1].at >= 1450, `blocks ${lines[i - 1].height} and ${lines[i].height} ${lines[i].at - lines[i - 1].at} ms apart`);
    }
  });

  test('a future nonce waits in the mempool until the gap fills, then both are mined in order', async () => {
    const d = newAccount();
    await fund(devnet, [d]);
    const first = await accepted(devnet.url, await transfer(d, 0n, kFee));
    assert.equal((await waitForTx(devnet.apiUrl, first)).tx_status, 'success');

    // Nonce 2 while the chain expects 1: accepted, as a node does, and held.
    const later = await accepted(devnet.url, await transfer(d, 2n, kFee));
    await sleep(3 * 1500);
    assert.equal((await status(devnet, later)).tx_status, 'pending');
    assert.equal((await accountOf(devnet.url, d.address)).nonce, 1, 'the account shows the confirmed nonce');
    const nonces = await getJson(devnet.apiUrl, `/extended/v1/address/${d.address}/nonces`);
    assert.deepEqual(nonces.body, {
      last_mempool_tx_nonce: 2,
      last_executed_tx_nonce: 0,
      possible_next_nonce: 3,
      detected_missing_nonces: [1],
      detected_mempool_nonces: [],
    });

    const gap = await accepted(devnet.url, await transfer(d, 1n, kFee));
    const [a, b] = [await waitForTx(devnet.apiUrl, gap), await waitForTx(devnet.apiUrl, later)];
    assert.equal(a.tx_status, 'success');
    assert.equal(b.tx_status, 'success');
    assert.equal(a.block_height, b.block_height, 'the gap filled, both were mineable at the next block');
    assert.ok(a.tx_index < b.tx_index, 'nonce 1 before nonce 2');
    assert.equal((await accountOf(devnet.url, d.address)).nonce, 3);
  });

  test('at most 25 chained beyond the next nonce: TooMuchChaining after that', async () => {
    const e = newAccount();
    await fund(devnet, [e]);
    // stacks-core admits nonces up to confirmed + 1 + MAXIMUM_MEMPOOL_TX_CHAINING (25).
    await accepted(devnet.url, await transfer(e, 26n, kFee));
    const res = await broadcast(devnet.url, await transfer(e, 27n, kFee));
    assert.equal(res.reason, 'TooMuchChaining');
    assert.deepEqual(res.reason_data, {
      message: 'Nonce would exceed chaining limit in mempool',
      expected: 26,
      actual: 27,
      principal: e.address,
      is_origin: true,
    });
  });

  test('replace-by-fee: a strictly higher fee replaces a pending transaction, an equal one conflicts', async () => {
    const r = newAccount();
    await fund(devnet, [r]);
    // Held behind a gap (nonce 0 missing), so it is certainly still pending while we replace it.
    const original = await transfer(r, 1n, 1_000n);
    await accepted(devnet.url, original);
    const same = await broadcast(devnet.url, await transfer(r, 1n, 1_000n, kAddresses.wallet_3));
    assert.equal(same.reason, 'ConflictingNonceInMempool');
    assert.equal(same.reason_data, undefined);
    const lower = await broadcast(devnet.url, await transfer(r, 1n, 999n, kAddresses.wallet_3));
    assert.equal(lower.reason, 'ConflictingNonceInMempool');
    const replacement = await accepted(devnet.url, await transfer(r, 1n, 1_001n, kAddresses.wallet_3));

    const dropped = await status(devnet, original.txid());
    assert.equal(dropped.tx_status, 'dropped_replace_by_fee');
    assert.equal(dropped.replaced_by_tx_id, `0x${replacement}`);
    assert.equal((await status(devnet, replacement)).replaced_by_tx_id, null);
    // The replaced transaction is gone from the mempool: sending it again conflicts.
    assert.equal((await broadcast(devnet.url, original)).reason, 'ConflictingNonceInMempool');

    await accepted(devnet.url, await transfer(r, 0n, kFee));
    const mined = await waitForTx(devnet.apiUrl, replacement);
    assert.equal(mined.tx_status, 'success');
    assert.equal(mined.token_transfer.recipient_address, kAddresses.wallet_3);
    assert.equal((await status(devnet, original.txid())).tx_status, 'dropped_replace_by_fee');
    assert.equal((await accountOf(devnet.url, r.address)).nonce, 2);
  });

  test('a sender that cannot pay when the block is built waits, pending, until it can', async () => {
    const p = newAccount();
    await fund(devnet, [p], 25_000n);
    // Both admitted against the confirmed balance (25 000): nonce 1 first, held behind the gap,
    // so both are in the mempool before any block. The block can pay for nonce 0 (20 000) only.
    const second = await accepted(devnet.url, await transfer(p, 1n, kFee));
    const first = await accepted(devnet.url, await transfer(p, 0n, kFee, kAddresses.wallet_4, 10_000n));
    assert.equal((await waitForTx(devnet.apiUrl, first)).tx_status, 'success');
    await sleep(3 * 1500);
    assert.equal((await status(devnet, second)).tx_status, 'pending');
    assert.equal((await accountOf(devnet.url, p.address)).balance, 5_000n);
    await fund(devnet, [p], 100_000n);
    assert.equal((await waitForTx(devnet.apiUrl, second)).tx_status, 'success');
    assert.equal((await accountOf(devnet.url, p.address)).balance, 5_000n + 100_000n - kFee - 1n);
  });

  test('a runtime error and a post-condition failure abort only their own transaction', async () => {
    const start = await accountOf(devnet.url, kAddresses.wallet_3);
    const recipient = await accountOf(devnet.url, kAddresses.wallet_4);
    // Nonces 2 and 1 first (held behind the gap), then 0: all three go in the next block.
    // nonce 0: runtime error; nonce 1: moves STX with no post-condition in deny mode;
    // nonce 2: the same with a matching post-condition.
    const allowed = await accepted(devnet.url, await callPayer('wallet_3', 'pay', [Cl.uint(700), Cl.principal(kAddresses.wallet_4)], 2n, {
      postConditions: [Pc.principal(kAddresses.wallet_3).willSendEq(700).ustx()],
    }));
    const denied = await accepted(devnet.url, await callPayer('wallet_3', 'pay', [Cl.uint(1000), Cl.principal(kAddresses.wallet_4)], 1n));
    const boom = await accepted(devnet.url, await callPayer('wallet_3', 'boom', [], 0n));
    const [b, d, a] = [await waitForTx(devnet.apiUrl, boom), await waitForTx(devnet.apiUrl, denied), await waitForTx(devnet.apiUrl, allowed)];
    assert.equal(b.block_height, d.block_height);
    assert.equal(d.block_height, a.block_height);
    assert.deepEqual([b.tx_index, d.tx_index, a.tx_index], [0, 1, 2].map((i) => b.tx_index + i));

    assert.equal(b.tx_status, 'abort_by_response');
    assert.equal(b.tx_result.repr, '(err none)');
    assert.equal(d.tx_status, 'abort_by_post_condition');
    assert.equal(a.tx_status, 'success');
    assert.ok(a.execution_cost_runtime > 0, 'execution costs as the simnet measured them');

    const end = await accountOf(devnet.url, kAddresses.wallet_3);
    assert.equal(end.nonce, 3);
    assert.equal(end.balance, start.balance - 3n * kFee - 700n, 'three fees and the allowed payment only');
    assert.equal((await accountOf(devnet.url, kAddresses.wallet_4)).balance, recipient.balance + 700n);

    const touched = await postJson(devnet.url, `/v2/contracts/call-read/${kAddresses.deployer}/payer/get-touched`, {
      sender: kAddresses.wallet_3, arguments: [],
    });
    assert.deepEqual(touched.body, { okay: true, result: '0x0100000000000000000000000000000000' }, 'the runtime error rolled back');
  });

  test('a known transaction is answered with its txid, pending or mined', async () => {
    const first = await callPayer('wallet_1', 'pay', [Cl.uint(1), Cl.principal(kAddresses.wallet_4)], 0n, { postConditionMode: PostConditionMode.Allow });
    await accepted(devnet.url, first);
    assert.deepEqual(await broadcast(devnet.url, first), { txid: first.txid() });
    assert.equal((await waitForTx(devnet.apiUrl, first.txid())).tx_status, 'success');
    // stacks-core keeps mined transactions in its mempool database: the same answer.
    assert.deepEqual(await broadcast(devnet.url, first), { txid: first.txid() });
    const stale = await callPayer('wallet_1', 'pay', [Cl.uint(2), Cl.principal(kAddresses.wallet_4)], 0n, { postConditionMode: PostConditionMode.Allow });
    assert.equal((await broadcast(devnet.url, stale)).reason, 'BadNonce');
  });

  test('replays held, replaced and aborted transactions the same way after a restart', async () => {
    const before = {
      w3: await accountOf(devnet.url, kAddresses.wallet_3),
      tip: (await getJson(devnet.url, '/v2/info')).body.stacks_tip,
      blocks: (await getJson(devnet.apiUrl, '/extended/v2/blocks?limit=30')).body,
    };
    await devnet.stop();
    devnet = await startDevnet(dataDir, kInterval);
    assert.deepEqual(await accountOf(devnet.url, kAddresses.wallet_3), before.w3);
    assert.equal((await getJson(devnet.url, '/v2/info')).body.stacks_tip, before.tip);
    assert.deepEqual((await getJson(devnet.apiUrl, '/extended/v2/blocks?limit=30')).body, before.blocks);
  });
});

describe('one block: ordered by fee rate, then nonce, within the cost budget', () => {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'medanchor-devnet-'));
  let devnet;
  const [a, b, c, f, g, h] = Array.from({ length: 6 }, newAccount);
  const big = Cl.buffer(Buffer.alloc(100_000, 7));
  const fill = (who, n, fee, nonce = 0n) => makeContractCall({
    contractAddress: kAddresses.deployer, contractName: 'filler', functionName: 'fill',
    functionArgs: [big, Cl.uint(n)], senderKey: who.key, network: 'testnet', nonce, fee,
  });

  before(async () => {
    devnet = await startDevnet(dataDir, ['--block-interval', '0.5']);
    const deploy = await accepted(devnet.url, await makeContractDeploy({
      contractName: 'filler', codeBody: kFiller, clarityVersion: ClarityVersion.Clarity4,
      senderKey: kKeys.deployer, network: 'testnet', nonce: 0n, fee: 50_000n,
    }));
    assert.equal((await waitForTx(devnet.apiUrl, deploy, 60_000)).tx_status, 'success');
    await fund(devnet, [a, b, c, f, g, h]);
  });
  after(async () => {
    if (process.env.DEVNET_DEBUG) console.error(devnet?.output());
    await devnet?.stop();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  test('the mempool is mined by fee rate in rounds of next nonces; what does not fit waits; what no block can hold is dropped', async () => {
    // Posted to a chain whose next block is an hour away, then restarted with a short interval:
    // the whole mempool is there for the first block.
    await devnet.stop();
    devnet = await startDevnet(dataDir, ['--block-interval', '3600']);
    const ids = {
      a0: await accepted(devnet.url, await transfer(a, 0n, 1_000n)),
      b0: await accepted(devnet.url, await transfer(b, 0n, 5_000n)),
      b1: await accepted(devnet.url, await transfer(b, 1n, 9_000n)),
      c0: await accepted(devnet.url, await transfer(c, 0n, 3_000n)),
      // 100 kB each: 3, 2 and 1.5 micro-STX per byte, below every transfer above.
      h: await accepted(devnet.url, await fill(h, 160, 300_000n)),
      f: await accepted(devnet.url, await fill(f, 80, 200_000n)),
      g: await accepted(devnet.url, await fill(g, 80, 150_000n)),
    };
    await devnet.stop();
    devnet = await startDevnet(dataDir, ['--block-interval', '0.5']);

    const got = {};
    for (const [k, id] of Object.entries(ids)) got[k] = await waitForTx(devnet.apiUrl, id, 120_000);
    // No block can hold 16 MB of writes: dropped, not mined, nonce not consumed.
    assert.equal(got.h.tx_status, 'dropped_too_expensive');
    assert.equal(got.h.block_height, undefined);
    assert.equal((await accountOf(devnet.url, h.address)).nonce, 0);
    // One block: round one by fee rate (b0, c0, a0, f; g does not fit beside f), round two b1.
    const block = got.b0.block_height;
    const order = ['b0', 'c0', 'a0', 'f', 'b1'];
    for (const [i, k] of order.entries()) {
      assert.equal(got[k].tx_status, 'success', k);
      assert.equal(got[k].block_height, block, k);
      assert.equal(got[k].tx_index, i, k);
    }
    assert.ok(got.f.execution_cost_write_length > 8_000_000);
    // g waited for the next block, where it fits.
    assert.equal(got.g.tx_status, 'success');
    assert.ok(got.g.block_height > block);
  });
  test('a block holds at most 2 MiB of transactions; the rest wait for the next block', async () => {
    const s = newAccount();
    await fund(devnet, [s], 5_000_000n);
    // 21 transactions of about 100 kB; nonces 1-20 first, held behind the gap, then nonce 0.
    const txs = [];
    for (let n = 0; n <= 20; n++) txs.push(await fill(s, 1, 101_000n, BigInt(n)));
    const bytes = txs.map((t) => t.serialize().length / 2);
    assert.ok(bytes.slice(0, 20).reduce((x, y) => x + y) < 2 * 1024 * 1024);
    assert.ok(bytes.reduce((x, y) => x + y) >= 2 * 1024 * 1024);
    for (const t of txs.slice(1)) await accepted(devnet.url, t);
    await accepted(devnet.url, txs[0]);
    const got = [];
    for (const t of txs) got.push(await waitForTx(devnet.apiUrl, t.txid(), 120_000));
    for (const [n, t] of got.entries()) assert.equal(t.tx_status, 'success', `nonce ${n}`);
    for (let n = 1; n < 20; n++) assert.equal(got[n].block_height, got[0].block_height, `nonce ${n}`);
    assert.ok(got[20].block_height > got[0].block_height, 'the 21st does not fit');
  });

  test('a transaction over the budget of a block less than 20 % full is dropped, even if an empty block could hold it', async () => {
    const j = newAccount();
    await fund(devnet, [j]);
    // 2 MB of writes (13 % of the block's write_length), then 14 MB: together over 15 MB.
    const heavy = await fill(j, 140, 200_000n, 1n);
    await accepted(devnet.url, heavy);
    const light = await accepted(devnet.url, await fill(j, 20, 200_000n, 0n));
    assert.equal((await waitForTx(devnet.apiUrl, light, 60_000)).tx_status, 'success');
    const dropped = await waitForTx(devnet.apiUrl, heavy.txid(), 60_000);
    assert.equal(dropped.tx_status, 'dropped_too_expensive');
    assert.match(dropped.medanchor_devnet_reason, /too big for any block/);
    assert.equal((await accountOf(devnet.url, j.address)).nonce, 1, 'its nonce is free again');
  });
});

describe('stacks-block-time from the wall clock', () => {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'medanchor-devnet-'));
  let devnet;

  after(async () => {
    await devnet?.stop();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  test('a new chain dates its first block now', async () => {
    devnet = await startDevnet(dataDir, ['--block-interval', '0.2']);
    const sent = Math.floor(Date.now() / 1000);
    const tx = await waitForTx(devnet.apiUrl, await accepted(devnet.url, await transfer('wallet_1', 0n, kFee)));
    const seen = Math.ceil(Date.now() / 1000);
    assert.ok(tx.block_time > sent - 10 && tx.block_time <= seen, `block_time ${tx.block_time}, sent at ${sent}, seen at ${seen}`);
  });

  test('an idle chain passes tenures with the wall clock, and the next block is dated within 10 s of now', async () => {
    // The chain as if created two hours ago: its genesis line says so, and nothing happened since.
    await devnet.stop();
    fs.rmSync(dataDir, { recursive: true, force: true });
    devnet = await startDevnet(dataDir, ['--block-interval', '0.2']);
    await devnet.stop();
    const log = path.join(dataDir, 'chain.jsonl');
    const genesis = JSON.parse(fs.readFileSync(log, 'utf8').split('\n')[0]);
    genesis.genesis_time_ms -= 2 * 3600 * 1000;
    fs.writeFileSync(log, JSON.stringify(genesis) + '\n');

    devnet = await startDevnet(dataDir, ['--block-interval', '0.2']);
    let newest;
    for (let i = 0; i < 100; i++) {
      newest = (await getJson(devnet.apiUrl, '/extended/v2/blocks?limit=1')).body.results[0];
      if (newest.height > 2) break;
      await sleep(100);
    }
    const now = Math.floor(Date.now() / 1000);
    // Empty tenures, one per 600 s: within 620 s of the wall clock, never ahead of it.
    assert.ok(newest.height >= 11, `height ${newest.height}`);
    assert.ok(newest.block_time > now - 620 && newest.block_time <= now, `newest block ${newest.block_time}, now ${now}`);
    assert.ok(newest.burn_block_height >= 12);

    const sent = Math.floor(Date.now() / 1000);
    const tx = await waitForTx(devnet.apiUrl, await accepted(devnet.url, await transfer('wallet_1', 0n, kFee)));
    const seen = Math.ceil(Date.now() / 1000);
    assert.ok(tx.block_time > sent - 10 && tx.block_time <= seen, `block_time ${tx.block_time}, sent at ${sent}, seen at ${seen}`);

    // The log holds those steps of the clock: a restart replays them to the same blocks.
    const blocks = (await getJson(devnet.apiUrl, '/extended/v2/blocks?limit=30')).body;
    await devnet.stop();
    devnet = await startDevnet(dataDir, ['--block-interval', '3600']);
    assert.deepEqual((await getJson(devnet.apiUrl, '/extended/v2/blocks?limit=30')).body, blocks);
  });
});
