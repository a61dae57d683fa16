/**
 * The client guides (docs/clients/*.md) quote the conformance clients instead of carrying code of
 * their own. A guide marks a quote as
 *
 *   <!-- snippet: test/conformance/clients/java/Conformance.java#connect -->
 *   ```java
 *   ...the lines between `docs:begin connect` and `docs:end connect` in that file...
 *   ```
 *   <!-- /snippet -->
 *
 * and client-docs.test.ts checks every quote against its source, so a guide's code is the code
 * the suite runs.
 */
import fs from 'node:fs';
import path from 'node:path';

/** One quote in a guide: where it points and the code the guide shows. */
export interface Snippet {
  source: string;
  region: string;
  language: string;
  shown: string;
}

const SNIPPET = /<!-- snippet: ([^#\s]+)#([\w-]+) -->\n```(\w*)\n([\s\S]*?)```\n<!-- \/snippet -->/g;

/** Every quote in `markdown`, in order. */
export function snippetsOf(markdown: string): Snippet[] {
  return [...markdown.matchAll(SNIPPET)].map(([, source, region, language, shown]) => ({ source, region, language, shown }));
}

/**
 * The lines strictly between `docs:begin REGION` and `docs:end REGION` in the file at `source`
 * (relative to `root`), with their common indentation removed. Throws when the markers are missing.
 */
export function regionOf(root: string, source: string, region: string): string {
  const lines = fs.readFileSync(path.join(root, source), 'utf8').split('\n');
  const begin = lines.findIndex((line) => line.trim().endsWith(`docs:begin ${region}`));
  const end = lines.findIndex((line, i) => i > begin && line.trim().endsWith(`docs:end ${region}`));
  if (begin < 0 || end < 0) throw new Error(`${source} has no "docs:begin ${region}" ... "docs:end ${region}" markers`);
  const body = lines.slice(begin + 1, end);
  const indent = Math.min(...body.filter((line) => line.trim() !== '').map((line) => /^ */.exec(line)![0].length));
  return body.map((line) => line.slice(indent)).join('\n') + '\n';
}

/** `markdown` with every quote replaced by its source's current text. */
export function refreshSnippets(root: string, markdown: string): string {
  return markdown.replace(SNIPPET, (_all, source: string, region: string, language: string) =>
    `<!-- snippet: ${source}#${region} -->\n\`\`\`${language}\n${regionOf(root, source, region)}\`\`\`\n<!-- /snippet -->`,
  );
}
