#!/usr/bin/env node
// medanchor devnet: a local chain laid out as a real deployment, a Stacks node's RPC (port 20443)
// and the Stacks Blockchain API (port 3999), over the real Clarity VM of @stacks/clarinet-sdk's
// simnet. Blocks come on a timer from a mempool that follows the node's rules. For development,
// tests and the demo only. See docs/devnet.md.

import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { format, parseArgs } from 'node:util';
import { Chain } from './chain.mjs';
import { createRpcServer } from './http.mjs';

const kUsage = `Usage: node devnet/server.mjs [options]

A local chain over the Clarity VM of @stacks/clarinet-sdk: a Stacks node's RPC and the Stacks
Blockchain API, on two ports.

Options:
  --host H                  address to bind (default 127.0.0.1)
  --port P                  the node's RPC port (default 20443; 0 picks a free one)
  --api-port Q              the API's port (default 3999; 0 picks a free one)
  --block-interval SECONDS  a block at most this often, when the mempool holds a transaction
                            that can be mined (default 1; decimals allowed, 0.01 to 3600)
  --data DIR                state directory (default .medanchor/devnet)
  --deploy-project          at genesis of a new chain, deploy the Clarinet project's contracts
                            (Clarinet.toml) as the deployer
  --project DIR             the Clarinet project (default: the repository root)
  --ready-file F            when ready, write {"pid", "url", "api_url"} as JSON to F (removed
                            at exit)
  --help                    this text

Prints "ready on http://HOST:P (api http://HOST:Q, ...)" when both accept requests. Stops cleanly
on SIGTERM/SIGINT. Exit status 2: it could not start (bad option, port in use, damaged log).`;

function fail(message) {
  process.stderr.write(`devnet: ${message}\n`);
  process.exit(2);
}

function parsePort(name, text) {
  const port = Number(text);
  if (!/^\d+$/.test(text) || !Number.isInteger(port) || port > 65535) fail(`--${name}: not a port number: ${text}`);
  return port;
}

function parseOptions(argv) {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      options: {
        host: { type: 'string', default: '127.0.0.1' },
        port: { type: 'string', default: '20443' },
        'api-port': { type: 'string', default: '3999' },
        'block-interval': { type: 'string', default: '1' },
        data: { type: 'string', default: '.medanchor/devnet' },
        'deploy-project': { type: 'boolean', default: false },
        project: { type: 'string' },
        'ready-file': { type: 'string' },
        help: { type: 'boolean', default: false },
      },
      strict: true,
    }).values;
  } catch (e) {
    fail(`${e.message}\n${kUsage}`);
  }
  if (parsed.help) {
    process.stdout.write(kUsage + '\n');
    process.exit(0);
  }
  const interval = Number(parsed['block-interval']);
  if (!/^\d+(\.\d+)?$/.test(parsed['block-interval']) || !(interval >= 0.01 && interval <= 3600)) {
    fail(`--block-interval: expected seconds from 0.01 to 3600, got ${parsed['block-interval']}`);
  }
  const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
  return {
    host: parsed.host,
    port: parsePort('port', parsed.port),
    apiPort: parsePort('api-port', parsed['api-port']),
    intervalMs: Math.round(interval * 1000),
    dataDir: path.resolve(parsed.data),
    deployProject: parsed['deploy-project'],
    projectDir: path.resolve(parsed.project ?? repoRoot),
    readyFile: parsed['ready-file'] ? path.resolve(parsed['ready-file']) : null,
  };
}

function stamp() {
  return new Date().toISOString();
}

async function main() {
  const opts = parseOptions(process.argv.slice(2));
  fs.mkdirSync(opts.dataDir, { recursive: true });

  // The simnet echoes every contract `print` (and some chatter) through console.log: keep it
  // out of stdout, which carries one line per transaction and block, in a debug log.
  const debugLog = fs.createWriteStream(path.join(opts.dataDir, 'debug.log'), { flags: 'a' });
  console.log = (...args) => debugLog.write(`${stamp()} ${format(...args)}\n`);
  console.info = console.log;
  console.debug = console.log;
  console.warn = console.log; // the simnet reports every runtime error it meets this way
  console.error = console.log;

  const log = (line) => process.stdout.write(`${stamp()} ${line}\n`);
  const warn = (line) => process.stderr.write(`${stamp()} ${line}\n`);

  const chain = new Chain({
    dataDir: opts.dataDir,
    projectDir: opts.projectDir,
    deployProject: opts.deployProject,
    log,
    warn,
  });
  try {
    await chain.exclusive(() => chain.open());
  } catch (e) {
    fail(`cannot open the chain in ${opts.dataDir}: ${e?.message ?? e}`);
  }
  log(`chain at height ${chain.tipHeight} (${chain.blocks.length} blocks replayed, ${chain.pendingCount} in mempool)`);

  const reportBlocks = ({ blocks, dropped }) => {
    for (const rec of dropped) log(`tx dropped ${rec.txid}: ${rec.status} (${rec.reason})`);
    const empty = blocks.filter((b) => b.txids.length === 0);
    if (empty.length > 0) {
      const last = empty.at(-1);
      log(`${empty.length} empty block${empty.length === 1 ? '' : 's'} up to height ${last.height} (the chain's clock to ${new Date(last.time * 1000).toISOString()})`);
    }
    for (const b of blocks.filter((x) => x.txids.length > 0)) {
      const txs = b.txids.map((id) => `${id.slice(0, 12)}… ${chain.txs.get(id).status}`).join(', ');
      log(`block ${b.height} mined at ${new Date(b.time * 1000).toISOString()}: ${b.txids.length} tx${b.txids.length === 1 ? '' : 's'} (${txs})`);
    }
  };

  // The block timer: one block per tick at most; a tick comes `intervalMs` after the previous
  // one ended (so two blocks are never closer than that, however long mining took), the first
  // one `intervalMs` after start. Ticks never overlap.
  let timer = null;
  let stopping = false;
  const tick = async () => {
    try {
      reportBlocks(await chain.tick(Date.now()));
    } catch (e) {
      warn(`mining failed: ${e?.stack ?? e}`);
    }
    if (!stopping) timer = setTimeout(tick, opts.intervalMs);
  };

  const hooks = {
    log,
    accepted: (rec, replaced) => {
      log(`tx accepted ${rec.txid} from ${rec.sender} nonce ${rec.nonce} fee ${rec.fee}` +
        (replaced ? ` (replaces ${replaced.txid}, fee ${replaced.fee})` : ''));
    },
  };
  const node = createRpcServer(chain, hooks, { role: 'node' });
  const api = createRpcServer(chain, hooks, { role: 'api' });
  const listen = (server, port, what) =>
    new Promise((resolve) => {
      server.on('error', (e) => fail(`cannot listen on ${opts.host}:${port} (${what}): ${e.message}`));
      server.listen(port, opts.host, () => resolve(server.address().port));
    });
  const host = opts.host.includes(':') ? `[${opts.host}]` : opts.host;
  const url = `http://${host}:${await listen(node, opts.port, 'node RPC')}`;
  const apiUrl = `http://${host}:${await listen(api, opts.apiPort, 'API')}`;
  if (opts.readyFile) {
    // Written whole, then renamed: a reader never sees half of it.
    const tmp = `${opts.readyFile}.${process.pid}.tmp`;
    fs.writeFileSync(tmp, JSON.stringify({ pid: process.pid, url, api_url: apiUrl }) + '\n');
    fs.renameSync(tmp, opts.readyFile);
  }
  timer = setTimeout(tick, opts.intervalMs);
  log(`ready on ${url} (api ${apiUrl}, network testnet, chain id 0x80000000, a block at most every ${opts.intervalMs / 1000} s)`);

  const stop = async (signal) => {
    if (stopping) return;
    stopping = true;
    log(`${signal}: stopping`);
    clearTimeout(timer);
    for (const server of [node, api]) {
      server.close();
      server.closeAllConnections?.();
    }
    await chain.queue; // let a block in progress reach the log
    if (opts.readyFile) fs.rmSync(opts.readyFile, { force: true });
    debugLog.end(() => process.exit(0));
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

main();
