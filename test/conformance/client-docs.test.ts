/**
 * The per-language guides (docs/clients/) cannot rot: their code is quoted from the conformance
 * clients, which languages.test.ts runs, and every quote must match its source here. The package
 * list CI installs (.ci/conformance-packages) must hold every package a language needs.
 */
import fs from 'node:fs';
import path from 'node:path';
import { refreshSnippets, regionOf, snippetsOf } from './doc-snippets';
import { LANGUAGES, ROOT } from './languages';

const DOCS = path.join(ROOT, 'docs/clients');
/** Guides written from this suite: each quotes its client's connect and lease regions. */
const GUIDES: Record<string, string> = {
  java: 'test/conformance/clients/java/Conformance.java',
  go: 'test/conformance/clients/go/main.go',
  cpp: 'test/conformance/clients/cpp/conformance.cpp',
  ruby: 'test/conformance/clients/ruby/conformance.rb',
  perl: 'test/conformance/clients/perl/conformance.pl',
};

test.each(Object.entries(GUIDES))('docs/clients/%s.md quotes the connect and lease code its conformance client runs', (name, source) => {
  const markdown = fs.readFileSync(path.join(DOCS, `${name}.md`), 'utf8');
  const quoted = snippetsOf(markdown).map((snippet) => `${snippet.source}#${snippet.region}`);
  expect(quoted).toEqual(expect.arrayContaining([`${source}#connect`, `${source}#lease`]));
});

test.each(fs.readdirSync(DOCS).filter((file) => file.endsWith('.md')))('every code quote in docs/clients/%s matches its source', (file) => {
  const markdown = fs.readFileSync(path.join(DOCS, file), 'utf8');
  for (const snippet of snippetsOf(markdown)) {
    const current = regionOf(ROOT, snippet.source, snippet.region);
    if (snippet.shown !== current) {
      throw new Error(`docs/clients/${file} quotes ${snippet.source}#${snippet.region} as it no longer is; the source now reads:\n${current}`);
    }
  }
  // The same check from the other side: refreshing the quotes changes nothing.
  expect(refreshSnippets(ROOT, markdown)).toBe(markdown);
});

test('docs/clients/README.md links every guide, the Python one included', () => {
  const index = fs.readFileSync(path.join(DOCS, 'README.md'), 'utf8');
  for (const guide of ['python', ...Object.keys(GUIDES)]) expect(index).toContain(`](${guide}.md)`);
});

test('.ci/conformance-packages lists the compiler and every package a language of the suite needs', () => {
  const listed = fs.readFileSync(path.join(ROOT, '.ci/conformance-packages'), 'utf8').split('\n').filter((line) => line.trim() !== '');
  for (const line of listed) expect(line).toMatch(/^[a-z0-9][a-z0-9+.-]+$/);
  const needed = ['thrift-compiler', ...LANGUAGES.flatMap((language) => language.packages)];
  expect(needed.filter((name) => !listed.includes(name))).toEqual([]);
});
