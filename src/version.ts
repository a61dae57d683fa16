/** lockd's version, read from package.json once (lockd and lockctl print it with --version). */
import fs from 'node:fs';
import path from 'node:path';

function readVersion(): string {
  // dist/src/version.js and src/version.ts both sit two levels below the package root or one.
  for (const candidate of [path.join(__dirname, '..', '..', 'package.json'), path.join(__dirname, '..', 'package.json')]) {
    try {
      const parsed = JSON.parse(fs.readFileSync(candidate, 'utf8')) as { name?: string; version?: string };
      if (parsed.name === 'lockd' && typeof parsed.version === 'string') return parsed.version;
    } catch {
      // Not there: try the next candidate.
    }
  }
  return 'unknown';
}

/** The package version, e.g. "0.1.0". */
export const LOCKD_VERSION = readVersion();
