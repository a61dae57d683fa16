/**
 * The long fuzz run: `npm run fuzz -- --messages N --seed S`. One lockd per stack (binary and
 * compact, buffered and framed), fed campaigns of 10,000 messages in turn. Prints messages sent,
 * crashes (lockd exited; it is restarted), bad replies (and other problems: connections lockd
 * did not close), and lockd's peak RSS, every 100,000 messages and at the end. Exits 1 when
 * anything went wrong.
 *
 *   --messages N   total messages (default 1,000,000)
 *   --seed S       campaign seed (default: random, printed)
 *   --dump DIR     write the bytes of every connection with a problem into DIR
 */
import fs from 'node:fs';
import { LockdUnderTest, startMeasuredLockd } from '../bench/abuse/lockd';
import { okValue, RawClient } from '../bench/abuse/raw-client';
import { runCampaign } from './campaign';
import { calls } from './lock-service';
import { Stack, STACKS } from './thrift-tree';

const CHUNK_MESSAGES = 10_000;
const REPORT_EVERY = 100_000;

interface Settings {
  messages: number;
  seed: number;
  dumpDir: string | undefined;
}

function parseArgs(argv: string[]): Settings {
  const settings: Settings = { messages: 1_000_000, seed: Math.floor(Math.random() * 2 ** 32), dumpDir: undefined };
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] = argv[i].split('=', 2) as [string, string | undefined];
    const value = () => inline ?? argv[++i];
    if (flag === '--messages') settings.messages = Number(value());
    else if (flag === '--seed') settings.seed = Number(value());
    else if (flag === '--dump') settings.dumpDir = value();
    else if (flag === '--help' || flag === '-h') {
      process.stdout.write('usage: npm run fuzz -- [--messages N] [--seed S] [--dump DIR]\n');
      process.exit(0);
    } else throw new Error(`unknown argument ${JSON.stringify(argv[i])} (see --help)`);
  }
  if (!Number.isInteger(settings.messages) || settings.messages < 1) throw new Error('--messages must be a positive whole number');
  if (!Number.isInteger(settings.seed) || settings.seed < 0 || settings.seed >= 2 ** 32) throw new Error('--seed must be a whole number in 0..2^32-1');
  return settings;
}

const startFor = (stack: Stack) => startMeasuredLockd(['--in-memory', '--protocol', stack.protocol, '--transport', stack.transport]);

async function main(): Promise<void> {
  const settings = parseArgs(process.argv.slice(2));
  if (settings.dumpDir) fs.mkdirSync(settings.dumpDir, { recursive: true });
  const servers: LockdUnderTest[] = [];
  for (const stack of STACKS) servers.push(await startFor(stack));
  let sent = 0;
  let crashes = 0;
  let problems = 0;
  let peakRss = 0;
  const samples: string[] = [];
  const started = performance.now();
  const report = (final: boolean) => {
    for (const server of servers) peakRss = Math.max(peakRss, server.peakRssBytes());
    const rate = sent / ((performance.now() - started) / 1000);
    process.stdout.write(
      `${final ? 'done' : 'progress'}: seed ${settings.seed}, ${sent.toLocaleString('en-US')} messages sent (${Math.round(rate).toLocaleString('en-US')}/s), ` +
        `${crashes} crashes, ${problems} bad replies or other problems, lockd peak RSS ${(peakRss / 2 ** 20).toFixed(0)} MiB\n`,
    );
  };
  let nextReport = REPORT_EVERY;
  for (let chunk = 0; sent < settings.messages; chunk++) {
    const index = chunk % STACKS.length;
    const stack = STACKS[index];
    const result = await runCampaign({
      port: servers[index].port,
      stack,
      messages: Math.min(CHUNK_MESSAGES, settings.messages - sent),
      seed: (settings.seed + chunk * 0x9e3779b9) >>> 0,
      dumpDir: settings.dumpDir,
    });
    sent += result.messagesSent;
    problems += result.problems;
    for (const sample of result.problemSamples) if (samples.length < 50) samples.push(`chunk ${chunk}: ${sample}`);
    if (!servers[index].alive()) {
      crashes++;
      samples.push(`chunk ${chunk}: lockd (${stack.protocol}/${stack.transport}) exited (${servers[index].exitStatus}): ${servers[index].lastLines.slice(-5).join(' / ')}`);
      peakRss = Math.max(peakRss, servers[index].peakRssBytes());
      servers[index] = await startFor(stack);
    }
    if (sent >= nextReport) {
      report(false);
      nextReport += REPORT_EVERY;
    }
  }
  // Each lockd must still answer a fresh connection.
  for (const [i, server] of servers.entries()) {
    try {
      const client = await RawClient.connect(server.port, STACKS[i]);
      if (okValue(await client.call(calls.ping(client.seqid()), 10_000)) !== 'pong') throw new Error('no pong');
      client.close();
    } catch (error) {
      problems++;
      samples.push(`final ping on ${STACKS[i].protocol}/${STACKS[i].transport} failed: ${(error as Error).message}`);
    }
  }
  report(true);
  for (const sample of samples) process.stdout.write(`  ${sample}\n`);
  await Promise.all(servers.map((s) => s.stop()));
  process.exit(crashes > 0 || problems > 0 ? 1 : 0);
}

main().catch((error) => {
  process.stderr.write(`fuzz: ${(error as Error).stack ?? error}\n`);
  process.exit(2);
});
