/**
 * The abuse benchmark (issue 10): each attack runs against a fresh lockd with default limits
 * (in memory) while a canary client keeps doing acquire + release + ping on its own key in its
 * own process. One table: what the canary saw, lockd's peak RSS and CPU, and whether the goal
 * held (canary errors 0, canary p99 under 50 ms, RSS under 1 GiB).
 *
 *   npm run bench:abuse                       every attack (~5 minutes)
 *   npm run bench:abuse -- --only D1,D5-drop  attacks whose id starts with one of these
 *   npm run bench:abuse -- --quick            tiny sizes and 1 s windows: a smoke test
 */
import os from 'node:os';
import { Attack, AttackContext, sleep } from './abuse/attack';
import { Canary, CanaryWindow, startCanary } from './abuse/canary';
import { replyAmplification } from './abuse/d1-reply-amplification';
import { bufferedInput } from './abuse/d3-buffered-input';
import { slowLargeMessage } from './abuse/d4-slow-message';
import { waiters } from './abuse/d5-waiters';
import { hashFlooding } from './abuse/d6-hash-flooding';
import { listScan } from './abuse/d7-list-scan';
import { logFlood } from './abuse/d13-log-flood';
import { garbageInput } from './abuse/garbage';
import { LockdUnderTest, startMeasuredLockd } from './abuse/lockd';

/** The goal each row is checked against. */
const GOAL = { canaryErrors: 0, canaryP99Ms: 50, peakRssBytes: 1024 * 1024 * 1024 };
const RSS_SAMPLE_MS = 200;

const baseline: Attack = {
  id: 'baseline',
  label: 'baseline: canary alone',
  run: async (ctx) => {
    await sleep(ctx.holdMs);
    return 'no attack';
  },
};

/** Every attack, in table order (after the baseline). */
export const ATTACKS: readonly Attack[] = [
  ...replyAmplification,
  ...bufferedInput,
  slowLargeMessage,
  ...waiters,
  ...hashFlooding,
  listScan,
  logFlood,
  ...garbageInput,
];

interface Row {
  attack: Attack;
  canary: CanaryWindow | undefined;
  alone: CanaryWindow | undefined;
  peakRssBytes: number;
  cpuPercent: number;
  notes: string;
  lockdDied: string | undefined;
}

interface Settings {
  quick: boolean;
  only: string[] | undefined;
}

function parseArgs(argv: string[]): Settings {
  const settings: Settings = { quick: false, only: undefined };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--quick') settings.quick = true;
    else if (arg === '--only' && i + 1 < argv.length) settings.only = argv[++i].split(',').map((s) => s.trim().toLowerCase()).filter(Boolean);
    else if (arg.startsWith('--only=')) settings.only = arg.slice('--only='.length).split(',').map((s) => s.trim().toLowerCase()).filter(Boolean);
    else if (arg === '--help' || arg === '-h') {
      process.stdout.write(`usage: npm run bench:abuse -- [--quick] [--only ID[,ID...]]\nattack ids: ${[baseline, ...ATTACKS].map((a) => a.id).join(', ')}\n`);
      process.exit(0);
    } else throw new Error(`unknown argument ${JSON.stringify(arg)} (see --help)`);
  }
  return settings;
}

function selected(settings: Settings): Attack[] {
  if (settings.only === undefined) return [baseline, ...ATTACKS];
  const chosen = ATTACKS.filter((a) => settings.only!.some((prefix) => a.id.toLowerCase().startsWith(prefix)));
  if (chosen.length === 0) throw new Error(`--only ${settings.only.join(',')} matches no attack; ids: ${ATTACKS.map((a) => a.id).join(', ')}`);
  return [baseline, ...chosen];
}

async function runOne(attack: Attack, settings: Settings): Promise<Row> {
  const quick = settings.quick;
  const lockd: LockdUnderTest = await startMeasuredLockd(['--in-memory', ...(attack.lockdArgs ?? [])]);
  const ctx: AttackContext = { lockd, port: lockd.port, quick, size: (full, small) => (quick ? small : full), holdMs: quick ? 1_000 : 10_000 };
  const row: Row = { attack, canary: undefined, alone: undefined, peakRssBytes: 0, cpuPercent: NaN, notes: '', lockdDied: undefined };
  let canary: Canary | undefined;
  const sampler = setInterval(() => lockd.peakRssBytes(), RSS_SAMPLE_MS);
  try {
    await attack.prepare?.(ctx);
    canary = await startCanary(lockd.port);
    await sleep(quick ? 500 : 3_000);
    row.alone = await canary.window();
    const cpuBefore = lockd.cpuSeconds();
    const started = performance.now();
    try {
      row.notes = await attack.run(ctx);
    } finally {
      row.cpuPercent = ((lockd.cpuSeconds() - cpuBefore) / ((performance.now() - started) / 1000)) * 100;
      row.canary = await canary.window();
    }
  } catch (error) {
    row.notes = `${row.notes ? `${row.notes}; ` : ''}attack failed: ${(error as Error).message}`;
  } finally {
    clearInterval(sampler);
    row.peakRssBytes = lockd.peakRssBytes();
    if (!lockd.alive()) row.lockdDied = `${lockd.exitStatus}: ${lockd.lastLines.slice(-3).join(' / ')}`;
    await canary?.stop();
    await lockd.stop();
  }
  return row;
}

function goalMet(row: Row): boolean {
  const c = row.canary;
  return c !== undefined && row.lockdDied === undefined && c.errors <= GOAL.canaryErrors && c.p99Ms < GOAL.canaryP99Ms && row.peakRssBytes < GOAL.peakRssBytes;
}

const num = (n: number | undefined, digits = 0) => (n === undefined || !Number.isFinite(n) ? '–' : n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits }));

/** The table, as markdown. */
export function renderTable(rows: readonly Row[]): string {
  const lines = [
    '| attack | canary pairs/s | canary p99 ms | canary errors | lockd peak RSS MiB | lockd CPU % | goal | notes |',
    '|---|---:|---:|---:|---:|---:|---|---|',
  ];
  for (const row of rows) {
    const c = row.canary;
    const notes = [row.notes];
    if (row.lockdDied) notes.push(`LOCKD DIED (${row.lockdDied})`);
    if (c?.firstError) notes.push(`first canary error: ${c.firstError}`);
    if (row.alone && row.attack.id !== 'baseline') notes.push(`canary alone before: ${num(row.alone.pairsPerSecond)}/s, p99 ${num(row.alone.p99Ms, 1)} ms`);
    const cells = [row.attack.label, num(c?.pairsPerSecond), num(c?.p99Ms, 1), num(c?.errors), num(row.peakRssBytes / 2 ** 20), num(row.cpuPercent), goalMet(row) ? 'PASS' : 'MISS', notes.join('; ').replace(/\|/g, '\\|')];
    lines.push(`| ${cells.join(' | ')} |`);
  }
  return lines.join('\n');
}

async function main(): Promise<void> {
  const settings = parseArgs(process.argv.slice(2));
  const attacks = selected(settings);
  const loadBefore = os.loadavg()[0];
  const rows: Row[] = [];
  for (const attack of attacks) {
    process.stderr.write(`abuse: ${attack.id} ...\n`);
    rows.push(await runOne(attack, settings));
  }
  const out = [
    '# lockd abuse benchmark',
    '',
    `${new Date().toISOString()} · ${os.cpus().length} CPUs · Node ${process.version} · load average ${loadBefore.toFixed(2)} → ${os.loadavg()[0].toFixed(2)}${settings.quick ? ' · **QUICK (smoke) run: tiny sizes, figures mean nothing**' : ''}`,
    '',
    'Each row: a fresh `lockd --in-memory` with default limits (unless the notes say otherwise); the canary (its own process, one connection: acquire + release on its own key, then ping, one call after the other; one pair = the three calls) runs alone first, then during the attack. Goal: canary errors 0, canary p99 < 50 ms, lockd peak RSS (VmHWM) < 1 GiB. CPU % is lockd\'s over the attack (100 = one core).',
    '',
    renderTable(rows),
    '',
  ];
  process.stdout.write(out.join('\n'));
}

if (require.main === module) {
  main().catch((error) => {
    process.stderr.write(`bench:abuse: ${(error as Error).stack ?? error}\n`);
    process.exit(1);
  });
}
