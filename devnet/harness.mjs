// Test harness for the devnet: starts the real server in a child process on free loopback ports
// and talks to it over HTTP. Used by devnet/test/*.test.mjs; no mocks anywhere.

import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { broadcastTransaction } from '@stacks/transactions';

const kServer = path.join(path.dirname(fileURLToPath(import.meta.url)), 'server.mjs');

// Clarinet's public devnet keys, derived from the mnemonics in settings/Devnet.toml (BIP-32 path
// m/44'/5757'/0'/0/0). They are published with every Clarinet project and hold nothing anywhere.
export const kKeys = Object.freeze({
  deployer: '753b7cc01a1a2e86221266a154af739463fce51219d97e4f856cd7200c3bd2a601',
  wallet_1: '7287ba251d44a4d3fd9276c88ce34c5c52a038955511cccaf77e61068649c17801',
  wallet_2: '530d9f61984c888536871c6573073bdfc0058896dc1adfe9a6a10dfacadc209101',
  wallet_3: 'd655b2523bcd65e34889725c73064feb17ceb796831c0e111ba1a552b0f31b3901',
});
export const kAddresses = Object.freeze({
  deployer: 'ST1PQHQKV0RJXZFY1DGX8MNSNYVE3VGZJSRTPGZGM',
  wallet_1: 'ST1SJ3DTE5DN7X54YDH5D64R3BCB6A2AG2ZQ8YPD5',
  wallet_2: 'ST2CY5V39NHDPWSXMW9QDT3HC3GD6Q6XX4CFRK9AG',
  wallet_3: 'ST2JHG361ZXG51QTKY2NQCVBPPRRE2KZB1HR05NNC',
  wallet_4: 'ST2NEB84ASENDXKYGJPQW86YXQCEFEX2ZQPG87ND',
});

/**
 * Starts `node devnet/server.mjs --port 0 --api-port 0 --data DIR ...args` and resolves once it
 * prints its ready line, or rejects with its output if it exits first. The handle's `url` is the
 * node's RPC, `apiUrl` the API's.
 */
export function startDevnet(dataDir, args = []) {
  const child = spawn(process.execPath, [kServer, '--port', '0', '--api-port', '0', '--data', dataDir, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  const exited = new Promise((resolve) => child.on('exit', (code) => resolve(code)));
  const ready = new Promise((resolve, reject) => {
    child.stdout.on('data', (d) => {
      stdout += d;
      const m = stdout.match(/ready on (http:\/\/127\.0\.0\.1:\d+) \(api (http:\/\/127\.0\.0\.1:\d+)/);
      if (m) resolve({ url: m[1], apiUrl: m[2] });
    });
    exited.then((code) => reject(new Error(`devnet exited with ${code}\n${stdout}\n${stderr}`)));
  });
  const handle = {
    child,
    exited,
    output: () => ({ stdout, stderr }),
    async stop() {
      if (child.exitCode === null) child.kill('SIGTERM');
      return exited;
    },
  };
  return ready.then((urls) => Object.assign(handle, urls));
}

/** Broadcasts with @stacks/transactions (JSON `{tx}` body, as the library sends it). */
export function broadcast(url, transaction) {
  return broadcastTransaction({ transaction, network: 'testnet', client: { baseUrl: url } });
}

/** POSTs raw bytes as application/octet-stream; returns { status, type, body }. */
export async function postRaw(url, bytes, contentType = 'application/octet-stream') {
  const res = await fetch(`${url}/v2/transactions`, {
    method: 'POST',
    headers: { 'Content-Type': contentType },
    body: bytes,
  });
  const text = await res.text();
  return { status: res.status, type: res.headers.get('content-type'), text, json: safeJson(text) };
}

function safeJson(text) {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

export async function getJson(url, pathname) {
  const res = await fetch(url + pathname);
  const text = await res.text();
  return { status: res.status, body: safeJson(text) ?? text };
}

export async function postJson(url, pathname, body) {
  const res = await fetch(url + pathname, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: safeJson(text) ?? text };
}

/** Polls the API's transaction status (at `apiUrl`) until it leaves `pending` (or `timeoutMs`
 * passes). */
export async function waitForTx(apiUrl, txid, timeoutMs = 15_000) {
  const url = apiUrl;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const { status, body } = await getJson(url, `/extended/v1/tx/0x${txid}`);
    if (status === 200 && body.tx_status !== 'pending') return body;
    if (Date.now() > deadline) throw new Error(`tx ${txid} still ${body?.tx_status ?? status}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export async function accountOf(url, principal) {
  const { body } = await getJson(url, `/v2/accounts/${principal}?proof=0`);
  return { balance: BigInt(body.balance), nonce: body.nonce };
}
