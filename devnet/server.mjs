#!/usr/bin/env node
// medanchor devnet: a local chain that answers like a Stacks node (RPC on port 20443) over the
// real Clarity VM of @stacks/clarinet-sdk's simnet. For development, tests and the demo only.
// See docs/devnet.md.

import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { format, parseArgs } from 'node:util';
import { Chain } from './chain.mjs';
import { createRpcServer } from './http.mjs';

const kUsage = `Usage: node devnet/server.mjs [options]

A local Stacks-node-compatible chain over the Clarity VM of @stacks/clarinet-sdk.

Options:
  --host H               address to bind (default 127.0.0.1)
  --port P               port to bind (default 20443; 0 picks a free one)
  --data DIR             state directory (default .medanchor/devnet)
  --mine-per-tx          mine one block per accepted transaction, at once (default)
  --block-interval-ms N  instead, mine the whole mempool into one block every N ms
  --deploy-project       at genesis of a new chain, deploy the Clarinet project's contracts
                         (Clarinet.toml) as the deployer
  --project DIR          the Clarinet project (default: the repository root)
  --ready-file F         when ready, write {"pid", "url"} as JSON to F (removed at exit)
  --help                 this text

Prints "ready on http://HOST:PORT" when it accepts requests. Stops cleanly on SIGTERM/SIGINT.`;

function fail(message) {
  process.stderr.write(`devnet: ${message}\n`);
  process.exit(2);
}

function parseOptions(argv) {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      options: {
        host: { type: 'string', default: '127.0.0.1' },
        port: { type: 'string', default: '20443' },
        data: { type: 'string', default: '.medanchor/devnet' },
        'mine-per-tx': { type: 'boolean', default: false },
        'block-interval-ms': { type: 'string' },
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
  const port = Number(parsed.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) fail(`--port: not a port number: ${parsed.port}`);
  let interval = null;
  if (parsed['block-interval-ms'] !== undefined) {
    if (parsed['mine-per-tx']) fail('--mine-per-tx and --block-interval-ms exclude each other');
    interval = Number(parsed['block-interval-ms']);
    if (!Number.isInteger(interval) || interval < 10 || interval > 3_600_000) {
      fail(`--block-interval-ms: expected an integer from 10 to 3600000, got ${parsed['block-interval-ms']}`);
    }
  }
  const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
  return {
    host: parsed.host,
    port,
    dataDir: path.resolve(parsed.data),
    interval,
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

  const reportBlocks = (blocks) => {
    for (const b of blocks) {
      const txs = b.txids.map((id) => `${id.slice(0, 12)}… ${chain.txs.get(id).status}`).join(', ');
      log(`block ${b.height} mined: ${b.txids.length} tx${b.txids.length === 1 ? '' : 's'}${txs ? ` (${txs})` : ''}`);
    }
  };
  const mine = () =>
    chain.mine({ perTx: opts.interval === null }).then(reportBlocks, (e) => {
      warn(`mining failed: ${e?.stack ?? e}`);
    });

  let timer = null;
  const server = createRpcServer(chain, {
    log,
    accepted: (rec) => {
      log(`tx accepted ${rec.txid} from ${rec.sender} nonce ${rec.nonce} fee ${rec.fee}`);
      if (opts.interval === null) setImmediate(mine);
    },
  });
  if (opts.interval !== null) {
    timer = setInterval(() => {
      if (chain.pendingCount > 0) mine();
    }, opts.interval);
  } else if (chain.pendingCount > 0) {
    setImmediate(mine); // transactions accepted before the last stop
  }

  server.on('error', (e) => fail(`cannot listen on ${opts.host}:${opts.port}: ${e.message}`));
  server.listen(opts.port, opts.host, () => {
    const { port } = server.address();
    const host = opts.host.includes(':') ? `[${opts.host}]` : opts.host;
    const url = `http://${host}:${port}`;
    if (opts.readyFile) fs.writeFileSync(opts.readyFile, JSON.stringify({ pid: process.pid, url }) + '\n');
    log(`ready on ${url} (network testnet, chain id 0x80000000, ${opts.interval === null ? 'one block per transaction' : `a block every ${opts.interval} ms`})`);
  });

  let stopping = false;
  const stop = async (signal) => {
    if (stopping) return;
    stopping = true;
    log(`${signal}: stopping`);
    if (timer) clearInterval(timer);
    server.close();
    server.closeAllConnections?.();
    await chain.queue; // let a block in progress reach the log
    if (opts.readyFile) fs.rmSync(opts.readyFile, { force: true });
    debugLog.end(() => process.exit(0));
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

main();
