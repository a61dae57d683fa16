/**
 * bench/RESULTS.md, the recorded run: `npm run bench` writes the single-node report, and
 * `npm run bench:recovery` and `npm run bench:cluster` each keep one section of their own in it,
 * between `<!-- begin NAME -->` and `<!-- end NAME -->`. A script replaces only its section, and
 * the full `npm run bench` keeps the others', so the file always holds the latest run of each.
 */
import fs from 'node:fs';
import path from 'node:path';
import { ROOT } from './targets';

const RESULTS = path.join(ROOT, 'bench/RESULTS.md');
const SECTION = /<!-- begin ([\w-]+) -->\n[\s\S]*?<!-- end \1 -->\n?/g;

/** The sections other scripts keep in `text`, as they are (markers included). */
function sectionsOf(text: string): string[] {
  return [...text.matchAll(SECTION)].map((match) => (match[0].endsWith('\n') ? match[0] : `${match[0]}\n`));
}

function readResults(file: string): string {
  return fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : '# lockd benchmark\n';
}

/** Writes the single-node report, keeping every script's section that the file already holds. */
export function writeMainReport(report: string, file = RESULTS): void {
  const kept = sectionsOf(readResults(file));
  fs.writeFileSync(file, kept.length === 0 ? report : `${report.trimEnd()}\n\n${kept.join('\n')}`);
}

/** Replaces (or appends) the section `name` with `body` (markdown, its own heading included). */
export function writeSection(name: string, body: string, file = RESULTS): void {
  const text = readResults(file);
  const section = `<!-- begin ${name} -->\n${body.trimEnd()}\n<!-- end ${name} -->\n`;
  let replaced = false;
  const updated = text.replace(SECTION, (match, found: string) => {
    if (found !== name) return match;
    replaced = true;
    return section;
  });
  fs.writeFileSync(file, replaced ? updated : `${text.trimEnd()}\n\n${section}`);
}

/** How this process was started, as `npm run SCRIPT -- ARGS` in backquotes: what a section's heading names. */
export function commandLine(script: string): string {
  const args = process.argv.slice(2).join(' ');
  return `\`npm run ${script}${args === '' ? '' : ` -- ${args}`}\``;
}
