// Interval mining: chained nonces from one sender wait in the mempool and land in one block; a
// runtime error and a post-condition failure abort only their own transaction (fee charged,
// effects undone), and the block around them stays intact.

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
  makeContractCall,
  makeContractDeploy,
} from '@stacks/transactions';
import { accountOf, broadcast, getJson, kAddresses, kKeys, startDevnet, waitForTx } from '../harness.mjs';

const kPayer = `
(define-public (pay (amount uint) (to principal))
  (stx-transfer? amount tx-sender to))
(define-data-var touched uint u0)
(define-public (boom)
  (begin (var-set touched u1) (ok (unwrap-panic (element-at? (list u1) u5)))))
(define-read-only (get-touched) (var-get touched))
`;
const kFee = 10_000n;

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

describe('interval mining and aborts', () => {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'medanchor-devnet-'));
  let devnet;

  before(async () => {
    devnet = await startDevnet(dataDir, ['--block-interval-ms', '400']);
    const txid = await accepted(devnet.url, await makeContractDeploy({
      contractName: 'payer', codeBody: kPayer, clarityVersion: ClarityVersion.Clarity4,
      senderKey: kKeys.deployer, network: 'testnet', nonce: 0n, fee: 50_000n,
    }));
    assert.equal((await waitForTx(devnet.url, txid)).tx_status, 'success');
  });
  after(async () => {
    await devnet?.stop();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  test('queues consecutive nonces and mines them, with an aborting one, in one block', async () => {
    const start = await accountOf(devnet.url, kAddresses.wallet_3);
    const recipient = await accountOf(devnet.url, kAddresses.wallet_4);
    const ids = [];
    // nonce 0: runtime error; nonce 1: moves STX with no post-condition in deny mode;
    // nonce 2: the same with a matching post-condition.
    ids.push(await accepted(devnet.url, await callPayer('wallet_3', 'boom', [], 0n)));
    ids.push(await accepted(devnet.url, await callPayer('wallet_3', 'pay', [Cl.uint(1000), Cl.principal(kAddresses.wallet_4)], 1n)));
    ids.push(await accepted(devnet.url, await callPayer('wallet_3', 'pay', [Cl.uint(700), Cl.principal(kAddresses.wallet_4)], 2n, {
      postConditions: [Pc.principal(kAddresses.wallet_3).willSendEq(700).ustx()],
    })));
    const nonces = await getJson(devnet.url, `/extended/v1/address/${kAddresses.wallet_3}/nonces`);
    if (nonces.body.detected_mempool_nonces.length === 3) {
      assert.equal(nonces.body.possible_next_nonce, 3);
      // A node reports the confirmed nonce while transactions wait in its mempool.
      assert.equal((await accountOf(devnet.url, kAddresses.wallet_3)).nonce, 0);
    }

    const [boom, denied, allowed] = await Promise.all(ids.map((id) => waitForTx(devnet.url, id)));
    assert.equal(boom.block_height, denied.block_height);
    assert.equal(denied.block_height, allowed.block_height);

    assert.equal(boom.tx_status, 'abort_by_response');
    assert.equal(boom.tx_result.repr, '(err none)');
    assert.equal(denied.tx_status, 'abort_by_post_condition');
    assert.equal(allowed.tx_status, 'success');

    const end = await accountOf(devnet.url, kAddresses.wallet_3);
    assert.equal(end.nonce, 3);
    assert.equal(end.balance, start.balance - 3n * kFee - 700n, 'three fees and the allowed payment only');
    assert.equal((await accountOf(devnet.url, kAddresses.wallet_4)).balance, recipient.balance + 700n);

    const touched = await fetch(`${devnet.url}/v2/contracts/call-read/${kAddresses.deployer}/payer/get-touched`, {
      method: 'POST', headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ sender: kAddresses.wallet_3, arguments: [] }),
    }).then((r) => r.json());
    assert.deepEqual(touched, { okay: true, result: '0x0100000000000000000000000000000000' }, 'the runtime error rolled back');
  });

  test('a nonce gap and a duplicate nonce are refused', async () => {
    const gap = await broadcast(devnet.url, await callPayer('wallet_3', 'boom', [], 7n));
    assert.equal(gap.reason, 'BadNonce');
    assert.equal(gap.reason_data.expected, 3);
    const first = await callPayer('wallet_1', 'pay', [Cl.uint(1), Cl.principal(kAddresses.wallet_4)], 0n, { postConditionMode: PostConditionMode.Allow });
    await accepted(devnet.url, first);
    assert.deepEqual(await broadcast(devnet.url, first), { txid: first.txid() }, 'a known transaction is answered with its txid');
    const rival = await callPayer('wallet_1', 'pay', [Cl.uint(2), Cl.principal(kAddresses.wallet_4)], 0n, { postConditionMode: PostConditionMode.Allow });
    const res = await broadcast(devnet.url, rival);
    // Either still in the mempool (a conflict) or already mined (a stale nonce).
    assert.ok(['ConflictingNonceInMempool', 'BadNonce'].includes(res.reason), JSON.stringify(res));
    assert.equal((await waitForTx(devnet.url, first.txid())).tx_status, 'success');
  });

  test('replays aborted transactions the same way after a restart', async () => {
    const before = await accountOf(devnet.url, kAddresses.wallet_3);
    await devnet.stop();
    devnet = await startDevnet(dataDir, ['--block-interval-ms', '400']);
    assert.deepEqual(await accountOf(devnet.url, kAddresses.wallet_3), before);
  });
});
