// The settings sent to nib: every `nib.<key>` of the "nib: server" configuration section that
// package.json contributes (generated from nib's settings table by scripts/gen-settings.mjs).

import * as vscode from 'vscode';

/** The server's setting keys (without the `nib.` prefix), read from the extension's manifest. */
export function serverKeys(ext: vscode.ExtensionContext): string[] {
  const sections = ext.extension.packageJSON?.contributes?.configuration;
  const list: any[] = Array.isArray(sections) ? sections : [sections];
  const server = list.find((s) => s && s.id === 'nib.server');
  return Object.keys(server?.properties ?? {}).map((k) => k.replace(/^nib\./, ''));
}

/** The effective value of each server setting; unset nullable ones are left out. */
export function serverSettings(keys: string[]): Record<string, unknown> {
  const cfg = vscode.workspace.getConfiguration('nib');
  const out: Record<string, unknown> = {};
  for (const key of keys) {
    const v = cfg.get(key);
    if (v !== undefined && v !== null) out[key] = v;
  }
  return out;
}

/** Settings that change how nib is started (a restart is needed, not a notification). */
export const LAUNCH_SETTINGS = ['nib.path', 'nib.logFile', 'nib.languages'];
