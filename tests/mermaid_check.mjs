// Parse every ```mermaid block of a markdown file with Mermaid's own parser (10.9, the 10.x line GitHub renders
// xychart-beta with). Prints {"blocks": n, "invalid": k} and each invalid block; exits 1 when one is invalid.
// Run from build/ (the test copies it there), where `make test` installed mermaid and jsdom from npm.
import { readFileSync } from 'node:fs';
import { JSDOM } from 'jsdom';

const dom = new JSDOM('<!doctype html><html><body></body></html>');
globalThis.window = dom.window;
globalThis.document = dom.window.document;
const { default: mermaid } = await import('mermaid');

const text = readFileSync(process.argv[2], 'utf8');
const blocks = [...text.matchAll(/^```mermaid\n([\s\S]*?)\n```$/gm)].map((match) => match[1]);
let invalid = 0;
for (const block of blocks) {
  try {
    await mermaid.parse(block);
  } catch (error) {
    invalid += 1;
    console.log(`INVALID:\n${block}\n${String(error).slice(0, 400)}`);
  }
}
console.log(JSON.stringify({ blocks: blocks.length, invalid }));
process.exit(invalid ? 1 : 0);
