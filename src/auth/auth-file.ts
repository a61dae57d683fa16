/**
 * The permissions file on disk: loaded at start (a bad file stops lockd with the reason), then
 * reloaded when it changes or on SIGHUP. A reload that fails keeps the permissions in force and
 * logs why at error level: a half-written or mistyped file never opens or closes access.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import type winston from 'winston';
import { ConfigError } from '../errors';
import { watchFiles } from '../util/watch-files';
import { parsePermissions, Permissions } from './permissions';

export class AuthFile {
  private current: Permissions;
  private digest: string;
  private stopWatching: (() => void) | undefined;
  private readonly reloadListeners = new Set<(permissions: Permissions) => void>();

  /** Reads and validates `path`; throws ConfigError naming the file and what is wrong. */
  constructor(
    readonly path: string,
    private readonly logger?: winston.Logger,
  ) {
    const text = readText(path);
    this.current = parsePermissions(text, path);
    this.digest = digestOf(text);
  }

  /** The permissions in force. A new object after each successful reload. */
  get permissions(): Permissions {
    return this.current;
  }

  /**
   * Reads the file again. Returns true when new permissions took effect; false when the file
   * is unchanged or invalid (then the old ones stay and the reason is logged).
   */
  reload(reason: string): boolean {
    let text: string;
    let next: Permissions;
    try {
      text = readText(this.path);
      if (digestOf(text) === this.digest) return false;
      next = parsePermissions(text, this.path);
    } catch (error) {
      this.logger?.error('auth file not reloaded; the permissions loaded before stay in force', { reason, error: (error as Error).message });
      return false;
    }
    this.current = next;
    this.digest = digestOf(text);
    this.logger?.info('auth file reloaded', { path: this.path, reason, identities: next.identities.size });
    for (const listener of this.reloadListeners) listener(next);
    return true;
  }

  /** Calls `listener` after each successful reload. */
  onReload(listener: (permissions: Permissions) => void): void {
    this.reloadListeners.add(listener);
  }

  /** Reloads whenever the file changes on disk (until close()). */
  watch(): void {
    this.stopWatching ??= watchFiles([this.path], () => this.reload('file changed'));
  }

  close(): void {
    this.stopWatching?.();
    this.stopWatching = undefined;
  }
}

function readText(path: string): string {
  try {
    return fs.readFileSync(path, 'utf8');
  } catch (error) {
    throw new ConfigError(`auth file ${path}: cannot read it: ${(error as Error).message}`);
  }
}

function digestOf(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}
