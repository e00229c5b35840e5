#!/usr/bin/env node
// Writes package.json `contributes.configuration` from nib's settings table.
//
//   node scripts/gen-settings.mjs                 # from settings.json.in
//   node scripts/gen-settings.mjs --from-nib [BIN] # from `BIN settings --json` (BIN: $NIB_BIN or nib)
//   node scripts/gen-settings.mjs FILE|-          # from a file, or stdin
//   add --check to fail (exit 1) instead of writing when package.json is out of date
//
// The table is `[{"key","type","default","enum","minimum","maximum","description"}]`; each entry
// becomes `nib.<key>` in the "nib: server" section, which the extension sends to the server as
// initializationOptions. The extension's own settings (how to start nib) are defined here.

import { readFileSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const check = args.includes('--check');
const rest = args.filter((a) => a !== '--check');

function readTable() {
  if (rest[0] === '--from-nib') {
    const bin = rest[1] || process.env.NIB_BIN || 'nib';
    return execFileSync(bin, ['settings', '--json'], { encoding: 'utf8' });
  }
  if (rest[0] === '-') return readFileSync(0, 'utf8');
  return readFileSync(rest[0] || join(root, 'settings.json.in'), 'utf8');
}

const TYPES = new Set(['string', 'integer', 'number', 'boolean', 'array', 'object']);

/** One table row as a VS Code configuration property; throws on a malformed row. */
export function property(row) {
  if (typeof row.key !== 'string' || !/^[A-Za-z][A-Za-z0-9]*$/.test(row.key)) {
    throw new Error(`bad key ${JSON.stringify(row.key)}`);
  }
  if (!TYPES.has(row.type)) throw new Error(`${row.key}: unknown type ${JSON.stringify(row.type)}`);
  const p = { type: row.type, default: row.default ?? null };
  if (row.default === undefined || row.default === null) p.type = [row.type, 'null'];
  if (Array.isArray(row.enum) && row.enum.length > 0) p.enum = row.enum;
  if (typeof row.minimum === 'number') p.minimum = row.minimum;
  if (typeof row.maximum === 'number') p.maximum = row.maximum;
  p.markdownDescription = String(row.description ?? '').trim();
  return p;
}

const EXTENSION_SETTINGS = {
  'nib.path': {
    type: 'string',
    default: '',
    markdownDescription:
      'Path of the `nib` binary; empty = `nib` on `PATH`. Install it with `cargo install --path crates/nib` from a nib checkout',
  },
  'nib.logFile': {
    type: 'string',
    default: '',
    markdownDescription: "nib's log file (passed as `NIB_LOG_FILE`); empty = nib's default",
  },
  'nib.languages': {
    type: 'array',
    items: { type: 'string' },
    default: ['python', 'rust'],
    markdownDescription:
      'Language ids nib serves (`*` = every file); nib starts when a Python or Rust file opens, or with the command *nib: Restart server*',
  },
  'nib.trace.server': {
    type: 'string',
    default: 'off',
    enum: ['off', 'messages', 'verbose'],
    markdownDescription: 'Trace the LSP messages between VS Code and nib in the output channel',
  },
};

const table = JSON.parse(readTable());
if (!Array.isArray(table)) throw new Error('the settings table must be a JSON array');
const server = {};
for (const row of table) server[`nib.${row.key}`] = property(row);

const pkgPath = join(root, 'package.json');
const before = readFileSync(pkgPath, 'utf8');
const pkg = JSON.parse(before);
pkg.contributes = pkg.contributes || {};
pkg.contributes.configuration = [
  { id: 'nib', title: 'nib', properties: EXTENSION_SETTINGS },
  { id: 'nib.server', title: 'nib: server', properties: server },
];
const after = JSON.stringify(pkg, null, 2) + '\n';
if (check) {
  if (after !== before) {
    console.error('package.json settings are out of date: run npm run gen-settings');
    process.exit(1);
  }
} else if (after !== before) {
  writeFileSync(pkgPath, after);
  console.log(`package.json: ${table.length} server settings`);
}
