// The nib extension: starts `nib serve` as a language server (ghost text through LSP inline
// completion, code actions, the acceptance command), adds commands for nib's code actions, an
// explanation panel and a status bar item, passes the `nib.*` settings to the server and tells
// it which suggestions were dismissed or typed over (`nib/didRejectCompletion`, rejections.ts).

import * as vscode from 'vscode';
import {
  DidChangeConfigurationNotification,
  LanguageClient,
  LanguageClientOptions,
  ServerOptions,
  State,
} from 'vscode-languageclient/node';
import { ACTIONS, runAction, showExplanation } from './actions';
import { findNib, INSTALL_COMMAND } from './binary';
import { ACCEPTED_COMMAND, Suggestions } from './rejections';
import { LAUNCH_SETTINGS, serverKeys, serverSettings } from './settings';
import { Stats, Status } from './status';

let client: LanguageClient | undefined;
let status: Status | undefined;
let poll: NodeJS.Timeout | undefined;
let output: vscode.LogOutputChannel | undefined;
let suggestions: Suggestions | undefined;

export async function activate(context: vscode.ExtensionContext): Promise<void> {
  output = vscode.window.createOutputChannel('nib', { log: true });
  status = new Status();
  suggestions = new Suggestions((uri, params) => {
    const c = client;
    if (c?.state !== State.Running) return;
    c.sendNotification('nib/didRejectCompletion', {
      textDocument: { uri: c.code2ProtocolConverter.asUri(uri) },
      ...params,
    }).catch((e) => output?.appendLine(`nib/didRejectCompletion failed: ${e instanceof Error ? e.message : e}`));
  });
  context.subscriptions.push(output, status, suggestions, { dispose: () => void stop() });

  for (const spec of ACTIONS) {
    context.subscriptions.push(
      vscode.commands.registerCommand(spec.command, async () => {
        const c = await running();
        if (c) await runAction(c, spec).catch((e) => reportError(`${spec.label} failed`, e));
      }),
    );
  }
  context.subscriptions.push(
    // Bound to Escape while an inline suggestion is visible (package.json).
    vscode.commands.registerCommand('nib.dismissSuggestion', async () => {
      suggestions?.dismissed(vscode.window.activeTextEditor);
      await vscode.commands.executeCommand('editor.action.inlineSuggest.hide');
    }),
    vscode.commands.registerCommand('nib.restart', async () => {
      await stop();
      await start(context);
    }),
    vscode.commands.registerCommand('nib.showStats', async () => {
      const c = await running();
      if (!c) return;
      const stats = await c.sendRequest('nib/stats');
      const doc = await vscode.workspace.openTextDocument({ language: 'json', content: JSON.stringify(stats, null, 2) });
      await vscode.window.showTextDocument(doc, { preview: true });
    }),
    vscode.workspace.onDidChangeConfiguration(async (e) => {
      if (!e.affectsConfiguration('nib')) return;
      if (LAUNCH_SETTINGS.some((s) => e.affectsConfiguration(s))) {
        await stop();
        await start(context);
      } else if (client?.state === State.Running) {
        await client.sendNotification(DidChangeConfigurationNotification.type, {
          settings: { nib: serverSettings(serverKeys(context)) },
        });
      }
    }),
  );
  await start(context);
}

export function deactivate(): Promise<void> {
  return stop();
}

/** The running client, or undefined after telling the user why there is none. */
async function running(): Promise<LanguageClient | undefined> {
  if (client?.state === State.Running) return client;
  void vscode.window.showWarningMessage('nib: the language server is not running (see the nib output channel)');
  return undefined;
}

function reportError(what: string, e: unknown) {
  const msg = e instanceof Error ? e.message : String(e);
  output?.appendLine(`${what}: ${msg}`);
  void vscode.window.showErrorMessage(`nib: ${what}: ${msg}`);
}

function languages(): string[] {
  const v = vscode.workspace.getConfiguration('nib').get<string[]>('languages') ?? ['python', 'rust'];
  return v.length ? v : ['python', 'rust'];
}

async function start(context: vscode.ExtensionContext): Promise<void> {
  const cfg = vscode.workspace.getConfiguration('nib');
  const found = findNib(cfg.get<string>('path') ?? '');
  const langs = languages();
  await vscode.commands.executeCommand('setContext', 'nib.languages', langs);
  if ('error' in found) {
    status?.setProblem(found.error);
    output?.appendLine(found.error);
    const copy = 'Copy install command';
    const open = 'Open settings';
    void vscode.window.showErrorMessage(found.error, copy, open).then(async (choice) => {
      if (choice === copy) await vscode.env.clipboard.writeText(INSTALL_COMMAND);
      if (choice === open) await vscode.commands.executeCommand('workbench.action.openSettings', 'nib.path');
    });
    return;
  }
  const env: NodeJS.ProcessEnv = { ...process.env };
  const logFile = (cfg.get<string>('logFile') ?? '').trim();
  if (logFile) env.NIB_LOG_FILE = logFile;
  const serverOptions: ServerOptions = {
    command: found.bin,
    // No `transport`: the client would add a `--stdio` argument, which nib does not take.
    args: ['serve'],
    options: { env },
  };
  const selector = langs.includes('*')
    ? [{ scheme: 'file' }, { scheme: 'untitled' }]
    : langs.flatMap((language) => [
        { scheme: 'file', language },
        { scheme: 'untitled', language },
      ]);
  const clientOptions: LanguageClientOptions = {
    documentSelector: selector,
    initializationOptions: serverSettings(serverKeys(context)),
    outputChannel: output,
    middleware: {
      provideInlineCompletionItems: async (document, position, ctx, token, next) => {
        const t0 = performance.now();
        const version = document.version;
        const result = await next(document, position, ctx, token);
        const items = Array.isArray(result) ? result : result?.items;
        if (items && items.length > 0 && !token.isCancellationRequested) {
          status?.setLatency(performance.now() - t0);
          schedulePoll(0);
          if (document.version === version) suggestions?.provided(document, position, items);
        }
        return result;
      },
      // The change reaches nib before a rejection that refers to it.
      didChange: async (event, next) => {
        await next(event);
        suggestions?.changed(event);
      },
      didClose: async (document, next) => {
        suggestions?.closed(document);
        await next(document);
      },
      executeCommand: async (command, args, next) => {
        if (command === ACCEPTED_COMMAND) suggestions?.accepted(args);
        return next(command, args);
      },
      resolveCodeAction: async (item, token, next) => {
        const resolved = await next(item, token);
        // Actions applied from the light bulb: their explanation goes to the panel too.
        if (resolved) await showExplanation(resolved as any);
        return resolved;
      },
      handleWorkDoneProgress: (token, params, next) => {
        status?.onProgress(String(token), params);
        next(token, params);
      },
    },
  };
  const c = new LanguageClient('nib', 'nib', serverOptions, clientOptions);
  client = c;
  status?.setProblem(undefined);
  try {
    await c.start();
  } catch (e) {
    status?.setProblem(`nib serve did not start: ${e instanceof Error ? e.message : e}`);
    reportError('nib serve did not start', e);
    return;
  }
  await vscode.commands.executeCommand('setContext', 'nib.active', true);
  c.onDidChangeState((s) => {
    if (s.newState === State.Stopped) {
      void vscode.commands.executeCommand('setContext', 'nib.active', false);
      status?.setProblem('nib serve stopped (see the nib output channel)');
    }
  });
  schedulePoll(0);
}

/** Ask `nib/stats` after `ms`; again soon while the model loads, else every 15 s. */
function schedulePoll(ms: number) {
  if (poll) clearTimeout(poll);
  poll = setTimeout(async () => {
    const c = client;
    if (!c || c.state !== State.Running) return;
    try {
      status?.setStats(await c.sendRequest<Stats>('nib/stats'));
    } catch (e) {
      output?.appendLine(`nib/stats failed: ${e instanceof Error ? e.message : e}`);
    }
    schedulePoll(status?.loading() ? 1000 : 15000);
  }, ms);
}

async function stop(): Promise<void> {
  if (poll) clearTimeout(poll);
  poll = undefined;
  const c = client;
  client = undefined;
  if (c && c.state !== State.Stopped) {
    try {
      await c.stop(5000);
    } catch (e) {
      output?.appendLine(`stopping nib: ${e instanceof Error ? e.message : e}`);
    }
  }
}
