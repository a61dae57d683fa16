/**
 * Calls back when any of some files changes, including when an editor or a deploy tool
 * replaces one by renaming a new file over it (the directory is watched, not the inode).
 * Bursts of events (an editor writes, then renames, then chmods) become one call.
 */
import fs from 'node:fs';
import path from 'node:path';

/** Events closer together than this are one change. */
const SETTLE_MS = 50;

/** Watches `files`; call the returned function to stop. */
export function watchFiles(files: readonly string[], onChange: () => void): () => void {
  const byDirectory = new Map<string, Set<string>>();
  for (const file of files) {
    const absolute = path.resolve(file);
    const directory = path.dirname(absolute);
    if (!byDirectory.has(directory)) byDirectory.set(directory, new Set());
    byDirectory.get(directory)!.add(path.basename(absolute));
  }
  let timer: NodeJS.Timeout | undefined;
  const changed = () => {
    if (timer !== undefined) clearTimeout(timer);
    timer = setTimeout(() => {
      timer = undefined;
      onChange();
    }, SETTLE_MS);
    timer.unref();
  };
  const watchers: fs.FSWatcher[] = [];
  for (const [directory, names] of byDirectory) {
    const watcher = fs.watch(directory, { persistent: false }, (_event, name) => {
      // Some platforms omit the name: then any change in the directory may be ours.
      if (name === null || names.has(name.toString())) changed();
    });
    // A directory that vanishes ends its watch; SIGHUP still reloads.
    watcher.on('error', () => watcher.close());
    watchers.push(watcher);
  }
  return () => {
    if (timer !== undefined) clearTimeout(timer);
    for (const watcher of watchers) watcher.close();
  };
}
