// End to end: the real devnet server in a child process, real signed transactions over loopback
// HTTP, the real medical-analysis contract on the simnet's Clarity VM. Then a restart on the same
// data dir, and a corrupt log.

import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  Cl,
  ClarityVersion,
  PostConditionMode,
  TransactionSigner,
  cvToString,
  deserializeCV,
  makeContractCall,
  makeContractDeploy,
  makeSTXTokenTransfer,
  makeUnsignedContractCall,
  privateKeyToPublic,
  randomPrivateKey,
  serializeCV,
} from '@stacks/transactions';
import {
  accountOf,
  broadcast,
  getJson,
  kAddresses,
  kKeys,
  postJson,
  postRaw,
  startDevnet,
  waitForTx,
} from '../harness.mjs';

const kRepo = path.resolve(import.meta.dirname, '..', '..');
const kSource = fs.readFileSync(path.join(kRepo, 'contracts', 'medical-analysis.clar'), 'utf8');
const kContract = `${kAddresses.deployer}.medical-analysis`;
const kFee = 10_000n;
const kFast = ['--block-interval', '0.2'];
const digest = (label) => Buffer.from(createHash('sha256').update(label).digest());

const nonces = new Map();
function nextNonce(who) {
  const n = nonces.get(who) ?? 0n;
  nonces.set(who, n + 1n);
  return n;
}

function call(who, functionName, functionArgs, extra = {}) {
  return makeContractCall({
    contractAddress: kAddresses.deployer,
    contractName: 'medical-analysis',
    functionName,
    functionArgs,
    senderKey: kKeys[who],
    network: 'testnet',
    nonce: extra.nonce ?? nextNonce(who),
    fee: kFee,
    postConditionMode: PostConditionMode.Deny,
    ...extra,
  });
}

/** Broadcasts to the node's RPC and waits for the outcome through the API, as a client does. */
async function mined(devnet, transaction) {
  const res = await broadcast(devnet.url, transaction);
  assert.ok(res.txid, `broadcast rejected: ${JSON.stringify(res)}`);
  return waitForTx(devnet.apiUrl, res.txid);
}

function readOnly(url, fn, args) {
  return postJson(url, `/v2/contracts/call-read/${kAddresses.deployer}/medical-analysis/${fn}`, {
    sender: kAddresses.wallet_3,
    arguments: args.map((a) => '0x' + serializeCV(a)),
  });
}

describe('devnet over HTTP', () => {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'medanchor-devnet-'));
  let devnet;
  const imageHash = digest('image-1');

  before(async () => {
    devnet = await startDevnet(dataDir, kFast);
  });
  after(async () => {
    await devnet?.stop();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  test('announces the testnet it emulates', async () => {
    const { status, body } = await getJson(devnet.url, '/v2/info');
    assert.equal(status, 200);
    assert.equal(body.network_id, 0x80000000);
    assert.equal(typeof body.stacks_tip_height, 'number');
    assert.match(body.stacks_tip, /^[0-9a-f]{64}$/);
    const acct = await getJson(devnet.url, `/v2/accounts/${kAddresses.deployer}?proof=0`);
    assert.deepEqual(acct.body, {
      balance: '0x000000000000000000005af3107a4000', // 100_000_000_000_000 from Devnet.toml
      locked: '0x00000000000000000000000000000000',
      unlock_height: 0,
      nonce: 0,
    });
  });

  test('serves the node RPC and the API on two ports, as a deployment does', async () => {
    assert.notEqual(devnet.url, devnet.apiUrl);
    // The node serves no /extended path: a client that looks for the API there is told so.
    for (const p of [`/extended/v1/tx/0x${'ab'.repeat(32)}`, '/extended/v2/blocks?limit=1',
      `/extended/v1/address/${kAddresses.deployer}/nonces`]) {
      const res = await fetch(devnet.url + p);
      assert.equal(res.status, 404, p);
      assert.match(res.headers.get('content-type'), /^text\/plain/);
      assert.equal(await res.text(), `No such API endpoint 'GET ${p.split('?')[0]}'`);
    }
    // The API serves its own paths, and the node's through its proxy, with the node's answers.
    assert.equal((await getJson(devnet.apiUrl, '/extended/v2/blocks?limit=1')).status, 200);
    for (const p of ['/v2/info', `/v2/accounts/${kAddresses.wallet_1}?proof=0`, '/v2/fees/transfer', '/v2/nothing-here']) {
      const [node, api] = await Promise.all([fetch(devnet.url + p), fetch(devnet.apiUrl + p)]);
      assert.equal(api.status, node.status, p);
      assert.equal(api.headers.get('content-type'), node.headers.get('content-type'), p);
      assert.equal(await api.text(), await node.text(), p);
    }
    const unknown = await getJson(devnet.apiUrl, '/extended/v1/nothing');
    assert.equal(unknown.status, 404);
    assert.deepEqual(unknown.body, { message: 'Route GET:/extended/v1/nothing not found', error: 'Not Found', statusCode: 404 });
  });

  test('the medical-analysis contract is not pre-deployed', async () => {
    const { status } = await getJson(devnet.url, `/v2/contracts/interface/${kAddresses.deployer}/medical-analysis`);
    assert.equal(status, 404);
  });

  test('deploys medical-analysis (Clarity 4) and runs the analysis flow', async () => {
    const deploy = await makeContractDeploy({
      contractName: 'medical-analysis',
      codeBody: kSource,
      clarityVersion: ClarityVersion.Clarity4,
      senderKey: kKeys.deployer,
      network: 'testnet',
      nonce: nextNonce('deployer'),
      fee: 500_000n,
    });
    const d = await mined(devnet, deploy);
    assert.equal(d.tx_status, 'success', JSON.stringify(d));
    assert.equal(d.tx_type, 'smart_contract');
    assert.equal(d.smart_contract.contract_id, kContract);

    const src = await getJson(devnet.url, `/v2/contracts/source/${kAddresses.deployer}/medical-analysis?proof=0`);
    assert.equal(src.body.source, kSource);

    assert.equal((await mined(devnet, await call('deployer', 'appoint-verifier', [Cl.principal(kAddresses.wallet_1)]))).tx_status, 'success');
    const model = await mined(devnet, await call('deployer', 'register-model', [
      Cl.buffer(digest('model.onnx')), Cl.stringAscii('nodule-cnn'), Cl.stringAscii('1.0.0'), Cl.uint(6000),
    ]));
    assert.equal(model.tx_status, 'success');
    assert.equal(model.tx_result.repr, '(ok u1)');

    const reg = await mined(devnet, await call('wallet_2', 'register-professional', [
      Cl.buffer(digest('licence')), Cl.stringAscii('radiology'),
    ]));
    assert.equal(reg.tx_status, 'success');
    // Chain time, not wall-clock time, bounds the expiry: take it from the last block.
    const expires = BigInt(reg.block_time) + 30n * 86_400n;
    const ver = await mined(devnet, await call('wallet_1', 'verify-professional', [
      Cl.principal(kAddresses.wallet_2), Cl.uint(expires), Cl.uint(1),
    ]));
    assert.equal(ver.tx_status, 'success', JSON.stringify(ver.tx_result));

    const sub = await mined(devnet, await call('wallet_2', 'submit-analysis', [
      Cl.buffer(imageHash), Cl.uint(1), Cl.stringAscii('nodule'), Cl.uint(9000), Cl.buffer(digest('report')),
    ]));
    assert.equal(sub.tx_status, 'success');
    assert.equal(sub.tx_result.repr, '(ok u1)');
    assert.equal(sub.tx_result.hex, '0x070100000000000000000000000000000001');
    assert.equal(sub.sender_address, kAddresses.wallet_2);
    assert.equal(sub.fee_rate, '10000');
    assert.ok(sub.events.some((e) => e.event_type === 'smart_contract_log' && e.contract_log.value.repr.includes('analysis-submitted')));

    const ro = await readOnly(devnet.url, 'get-analysis', [Cl.uint(1)]);
    assert.equal(ro.status, 200);
    assert.equal(ro.body.okay, true);
    const analysis = cvToString(deserializeCV(ro.body.result.slice(2)));
    assert.match(analysis, /\(analyst ST2CY5V39NHDPWSXMW9QDT3HC3GD6Q6XX4CFRK9AG\)/);
    assert.match(analysis, /\(confidence u9000\)/);
    assert.match(analysis, new RegExp(`\\(block-height u${sub.block_height}\\)`), 'block height as the contract saw it');
    assert.match(analysis, new RegExp(`\\(block-time u${sub.block_time}\\)`), 'block time as the contract saw it');

    const entry = await postJson(devnet.url, `/v2/map_entry/${kAddresses.deployer}/medical-analysis/analyses?proof=0`, '0x' + serializeCV(Cl.uint(1)));
    assert.equal(entry.status, 200);
    assert.deepEqual(Object.keys(entry.body), ['data']);
    assert.match(cvToString(deserializeCV(entry.body.data.slice(2))), /^\(some \(tuple .*\(finding "nodule"\)/);
    const missing = await postJson(devnet.url, `/v2/map_entry/${kAddresses.deployer}/medical-analysis/analyses?proof=0`, '0x' + serializeCV(Cl.uint(99)));
    assert.deepEqual(missing.body, { data: '0x09' });
  });

  test('a call that returns err is mined as abort_by_response', async () => {
    const low = await mined(devnet, await call('wallet_2', 'submit-analysis', [
      Cl.buffer(digest('image-2')), Cl.uint(1), Cl.stringAscii('nodule'), Cl.uint(5500), Cl.buffer(digest('report-2')),
    ]));
    assert.equal(low.tx_status, 'abort_by_response');
    assert.equal(low.tx_result.repr, '(err u1063)'); // ERR-CONFIDENCE-BELOW-THRESHOLD
    assert.equal((await accountOf(devnet.url, kAddresses.wallet_2)).nonce, 3);
  });

  test('rejects a nonce already used with BadNonce', async () => {
    const tx = await call('wallet_2', 'register-professional', [Cl.buffer(digest('x')), Cl.stringAscii('cardio')], { nonce: 1n });
    const res = await broadcast(devnet.url, tx);
    assert.equal(res.error, 'transaction rejected');
    assert.equal(res.reason, 'BadNonce');
    assert.deepEqual(res.reason_data, { expected: 3, actual: 1, principal: kAddresses.wallet_2, is_origin: true });
    assert.equal(res.txid, tx.txid());
  });

  test('rejects a bad signature with SignatureValidation', async () => {
    const tx = await call('wallet_3', 'register-professional', [Cl.buffer(digest('x')), Cl.stringAscii('cardio')], { nonce: 0n });
    const sig = tx.auth.spendingCondition.signature.data;
    const flipped = sig.slice(0, 10) + (sig[10] === '0' ? '1' : '0') + sig.slice(11);
    tx.auth.spendingCondition.signature.data = flipped;
    const res = await postRaw(devnet.url, Buffer.from(tx.serialize(), 'hex'));
    assert.equal(res.status, 400);
    assert.equal(res.json.reason, 'SignatureValidation');
    assert.match(res.json.reason_data.message, /verify/i);
  });

  test('rejects other networks: mainnet version and a foreign chain id', async () => {
    const unsigned = await makeUnsignedContractCall({
      contractAddress: kAddresses.deployer, contractName: 'medical-analysis', functionName: 'pause',
      functionArgs: [], publicKey: privateKeyToPublic(kKeys.wallet_3), network: 'testnet', nonce: 0n, fee: kFee,
    });
    unsigned.chainId = 0x00000001;
    new TransactionSigner(unsigned).signOrigin(kKeys.wallet_3);
    const foreign = await postRaw(devnet.url, Buffer.from(unsigned.serialize(), 'hex'));
    assert.equal(foreign.json.reason, 'SignatureValidation');
    assert.match(foreign.json.reason_data.message, /invalid chain ID 1 \(expected 2147483648\)/);

    const mainnet = await makeContractCall({
      contractAddress: 'SP000000000000000000002Q6VF78', contractName: 'pox-4', functionName: 'x',
      functionArgs: [], senderKey: kKeys.wallet_3, network: 'mainnet', nonce: 0n, fee: kFee,
    });
    const res = await postRaw(devnet.url, Buffer.from(mainnet.serialize(), 'hex'));
    assert.equal(res.status, 400);
    assert.deepEqual(Object.keys(res.json).sort(), ['error', 'reason', 'txid']);
    assert.equal(res.json.reason, 'BadTransactionVersion');
  });

  test('rejects a sender that cannot pay the fee with NotEnoughFunds', async () => {
    const key = randomPrivateKey();
    const tx = await makeContractCall({
      contractAddress: kAddresses.deployer, contractName: 'medical-analysis', functionName: 'pause',
      functionArgs: [], senderKey: key, network: 'testnet', nonce: 0n, fee: kFee,
    });
    const res = await broadcast(devnet.url, tx);
    assert.equal(res.reason, 'NotEnoughFunds');
    assert.deepEqual(res.reason_data, { expected: '0x00000000000000000000000000002710', actual: '0x00000000000000000000000000000000' });
  });

  test('rejects unknown functions, a fee below 1 uSTX/byte and a second deploy of the same name', async () => {
    const noFn = await broadcast(devnet.url, await call('wallet_3', 'no-such-fn', [], { nonce: 0n }));
    assert.equal(noFn.reason, 'NoSuchPublicFunction');
    const badArg = await broadcast(devnet.url, await call('wallet_3', 'pause', [Cl.uint(1)], { nonce: 0n }));
    assert.equal(badArg.reason, 'BadFunctionArgument');
    const cheap = await broadcast(devnet.url, await call('wallet_3', 'pause', [], { nonce: 0n, fee: 10n }));
    assert.equal(cheap.reason, 'FeeTooLow');
    assert.equal(cheap.reason_data.actual, 10);
    const again = await broadcast(devnet.url, await makeContractDeploy({
      contractName: 'medical-analysis', codeBody: kSource, clarityVersion: ClarityVersion.Clarity4,
      senderKey: kKeys.deployer, network: 'testnet', nonce: nonces.get('deployer'), fee: 500_000n,
    }));
    assert.equal(again.reason, 'ContractAlreadyExists');
    assert.deepEqual(again.reason_data, { contract_identifier: kContract });
  });

  test('answers malformed input as a node does', async () => {
    const garbage = await postRaw(devnet.url, Buffer.from('8000000001deadbeef', 'hex'));
    assert.equal(garbage.status, 400);
    assert.match(garbage.type, /^text\/plain/);
    assert.match(garbage.text, /^Failed to decode: Failed to deserialize posted transaction: /);

    const badJson = await postRaw(devnet.url, Buffer.from('{"tx": '), 'application/json');
    assert.equal(badJson.status, 400);
    const big = await postRaw(devnet.url, Buffer.alloc(3 * 1024 * 1024));
    assert.equal(big.status, 400);
    assert.match(big.text, /too big/);
    const noPath = await getJson(devnet.url, '/v2/nothing-here');
    assert.equal(noPath.status, 404);
    assert.equal(noPath.body, "No such API endpoint 'GET /v2/nothing-here'");
    const wrongVerb = await getJson(devnet.url, '/v2/transactions');
    assert.equal(wrongVerb.status, 405);
    const unknownTx = await getJson(devnet.apiUrl, `/extended/v1/tx/0x${'ab'.repeat(32)}`);
    assert.equal(unknownTx.status, 404);
    assert.equal(unknownTx.body.error, 'could not find transaction by ID');
    const badRead = await postJson(devnet.url, `/v2/contracts/call-read/${kAddresses.deployer}/medical-analysis/get-analysis`, { sender: 'nope', arguments: [] });
    assert.equal(badRead.status, 400);
    const info = await getJson(devnet.url, '/v2/info'); // still alive
    assert.equal(info.status, 200);
  });

  test('estimates fees in the node shape', async () => {
    const tx = await call('wallet_3', 'pause', [], { nonce: 0n });
    const payloadHex = Buffer.from(tx.serialize(), 'hex').subarray(-20).toString('hex'); // not a payload
    const bad = await postJson(devnet.url, '/v2/fees/transaction', { transaction_payload: payloadHex });
    assert.equal(bad.status, 400);
    const { serializePayload } = await import('@stacks/transactions');
    const ok = await postJson(devnet.url, '/v2/fees/transaction', { transaction_payload: serializePayload(tx.payload), estimated_len: 180 });
    assert.equal(ok.status, 200);
    assert.deepEqual(Object.keys(ok.body).sort(), ['cost_scalar_change_by_byte', 'estimated_cost', 'estimated_cost_scalar', 'estimations']);
    assert.equal(ok.body.estimations.length, 3);
    for (const e of ok.body.estimations) assert.ok(e.fee >= 180 && typeof e.fee_rate === 'number');
    assert.equal((await getJson(devnet.url, '/v2/fees/transfer')).body, 1);
  });

  test('lists blocks newest first with their stacks-block-time', async () => {
    const info = (await getJson(devnet.url, '/v2/info')).body;
    const list = await getJson(devnet.apiUrl, '/extended/v2/blocks?limit=2');
    assert.equal(list.status, 200);
    assert.equal(list.body.limit, 2);
    assert.ok(list.body.total >= 2);
    const [newest, previous] = list.body.results;
    assert.equal(newest.height, info.stacks_tip_height);
    assert.equal(newest.hash, `0x${info.stacks_tip}`);
    assert.equal(previous.height, newest.height - 1);
    assert.ok(newest.block_time > previous.block_time, 'block time grows with height');
    assert.equal(new Date(newest.block_time_iso).getTime(), newest.block_time * 1000);
    const page = await getJson(devnet.apiUrl, '/extended/v2/blocks?limit=1&offset=1');
    assert.equal(page.body.results[0].height, previous.height);
  });

  test('state survives a restart', async () => {
    const before = {
      w2: await accountOf(devnet.url, kAddresses.wallet_2),
      dep: await accountOf(devnet.url, kAddresses.deployer),
      analysis: (await readOnly(devnet.url, 'get-analysis', [Cl.uint(1)])).body.result,
      tip: (await getJson(devnet.url, '/v2/info')).body.stacks_tip,
    };
    assert.equal(await devnet.stop(), 0);
    devnet = await startDevnet(dataDir, kFast);
    assert.deepEqual(await accountOf(devnet.url, kAddresses.wallet_2), before.w2);
    assert.deepEqual(await accountOf(devnet.url, kAddresses.deployer), before.dep);
    assert.equal((await readOnly(devnet.url, 'get-analysis', [Cl.uint(1)])).body.result, before.analysis);
    assert.equal((await getJson(devnet.url, '/v2/info')).body.stacks_tip, before.tip);
    // and the chain goes on from there
    const again = await mined(devnet, await call('wallet_2', 'submit-analysis', [
      Cl.buffer(digest('image-3')), Cl.uint(1), Cl.stringAscii('clear'), Cl.uint(8000), Cl.buffer(digest('report-3')),
    ]));
    assert.equal(again.tx_result.repr, '(ok u2)');
  });

  test('a torn last log line is cut off with a warning; a corrupt middle line refuses start', async () => {
    await devnet.stop();
    const log = path.join(dataDir, 'chain.jsonl');
    const good = fs.readFileSync(log, 'utf8');
    fs.appendFileSync(log, '{"kind":"tx","raw":"8000'); // a write cut short by a crash
    devnet = await startDevnet(dataDir, kFast);
    assert.match(devnet.output().stderr, /WARNING: .*chain\.jsonl: last line \d+ is corrupt or incomplete/);
    assert.equal(fs.readFileSync(log, 'utf8'), good);
    assert.ok(fs.readdirSync(dataDir).some((f) => f.startsWith('chain.jsonl.corrupt-')));
    assert.equal((await readOnly(devnet.url, 'get-analysis', [Cl.uint(2)])).body.okay, true);
    await devnet.stop();

    const lines = good.split('\n');
    lines[2] = '{"kind":"block","txs":[{"txid":';
    fs.writeFileSync(log, lines.join('\n'));
    await assert.rejects(startDevnet(dataDir), /line 3 is corrupt and valid lines follow it; refusing to start/);
    fs.writeFileSync(log, good);
    devnet = undefined;
  });
});

describe('log formats', () => {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'medanchor-devnet-'));
  let devnet;

  after(async () => {
    await devnet?.stop();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  test('a format 1 log (every block mined at once) replays', async () => {
    devnet = await startDevnet(dataDir, kFast);
    await devnet.stop();
    const log = path.join(dataDir, 'chain.jsonl');
    const genesis = JSON.parse(fs.readFileSync(log, 'utf8').split('\n')[0]);
    const pay = (nonce) => makeSTXTokenTransfer({
      recipient: kAddresses.wallet_2, amount: 1000n, senderKey: kKeys.wallet_1, network: 'testnet', nonce, fee: kFee,
    });
    const [paid, dropped] = [await pay(0n), await pay(1n)];
    const raw = (t) => ({ kind: 'tx', raw: t.serialize(), received_at: genesis.genesis_time_ms + 1000 });
    // What the format 1 devnet wrote: blocks without a time; a sender that could no longer pay
    // its fee dropped inside a block.
    const lines = [
      { ...genesis, format: 'medanchor-devnet-log/1' },
      raw(paid),
      { kind: 'block', height: 2, txs: [{ txid: paid.txid(), mode: 'execute' }] },
      raw(dropped),
      { kind: 'block', height: 3, txs: [{ txid: dropped.txid(), mode: 'drop', reason: 'sender can no longer pay the fee' }] },
    ];
    fs.writeFileSync(log, lines.map((l) => JSON.stringify(l)).join('\n') + '\n');

    devnet = await startDevnet(dataDir, kFast);
    assert.equal((await accountOf(devnet.url, kAddresses.wallet_1)).nonce, 1);
    const first = (await getJson(devnet.apiUrl, `/extended/v1/tx/0x${paid.txid()}`)).body;
    assert.equal(first.tx_status, 'success');
    assert.equal(first.token_transfer.amount, '1000');
    const gone = (await getJson(devnet.apiUrl, `/extended/v1/tx/0x${dropped.txid()}`)).body;
    assert.equal(gone.tx_status, 'dropped_problematic');
    // and it goes on, in format 2 entries
    const next = await mined(devnet, await pay(1n));
    assert.equal(next.tx_status, 'success');
  });

  test('a log in a format it does not know is refused, naming the format', async () => {
    await devnet.stop();
    const log = path.join(dataDir, 'chain.jsonl');
    const [first, ...rest] = fs.readFileSync(log, 'utf8').split('\n');
    fs.writeFileSync(log, [JSON.stringify({ ...JSON.parse(first), format: 'medanchor-devnet-log/9' }), ...rest].join('\n'));
    await assert.rejects(startDevnet(dataDir, kFast), /log format "medanchor-devnet-log\/9", which this devnet cannot replay/);
    devnet = undefined;
  });
});
