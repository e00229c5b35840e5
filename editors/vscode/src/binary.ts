// Finding the nib binary: the `nib.path` setting, else `nib` on PATH.

import * as fs from 'node:fs';
import * as path from 'node:path';

export const INSTALL_COMMAND = 'cargo install --path crates/nib';

function executable(p: string): boolean {
  try {
    fs.accessSync(p, fs.constants.X_OK);
    return fs.statSync(p).isFile();
  } catch {
    return false;
  }
}

/** The binary to start, or an error message saying what is missing and how to install it. */
export function findNib(configured: string): { bin: string } | { error: string } {
  if (configured.trim() !== '') {
    const p = configured.trim();
    if (executable(p)) return { bin: p };
    return {
      error: `nib: the nib.path setting points to ${p}, which is not an executable file; install nib from a nib checkout with \`${INSTALL_COMMAND}\` or fix the setting`,
    };
  }
  const exts = process.platform === 'win32' ? ['.exe', ''] : [''];
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (!dir) continue;
    for (const ext of exts) {
      const p = path.join(dir, 'nib' + ext);
      if (executable(p)) return { bin: p };
    }
  }
  return {
    error: `nib: the nib binary was not found on PATH; install it from a nib checkout with \`${INSTALL_COMMAND}\`, or set nib.path`,
  };
}
