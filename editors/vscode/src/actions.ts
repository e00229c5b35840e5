// nib's code actions as commands: each asks the server for the actions of its kind at the cursor
// or selection, resolves the chosen one (the model runs then), applies its edit, and shows the
// explanation it carries in the panel.

import * as vscode from 'vscode';
import { CodeAction, CodeActionRequest, Command, CodeActionResolveRequest, CodeActionTriggerKind, LanguageClient } from 'vscode-languageclient/node';
import { detailsOf, explanationOf, ExplanationPanel } from './panel';

export interface ActionSpec {
  command: string;
  /** What the user calls it, in messages. */
  label: string;
  /** The LSP code action kind nib offers it under. */
  kind: string;
}

export const ACTIONS: ActionSpec[] = [
  { command: 'nib.explain', label: 'Explain', kind: 'refactor.nib.explain' },
  { command: 'nib.fix', label: 'Fix', kind: 'quickfix.nib.fix' },
  { command: 'nib.tests', label: 'Generate tests', kind: 'refactor.nib.tests' },
  { command: 'nib.refactor', label: 'Refactor', kind: 'refactor.nib.refactor' },
  { command: 'nib.generate', label: 'Generate code from comment', kind: 'refactor.nib.generate' },
];

/** `kind` equals `parent` or is a sub-kind of it. */
export function kindWithin(kind: string, parent: string): boolean {
  return kind === parent || kind.startsWith(parent + '.');
}

/** The server advertises this kind (or a parent of it) in its code action capability. */
export function serverOffers(client: LanguageClient, kind: string): boolean {
  const cap = client.initializeResult?.capabilities.codeActionProvider;
  if (cap === undefined || cap === false) return false;
  if (cap === true) return false;
  return (cap.codeActionKinds ?? []).some((k) => kindWithin(kind, k));
}

/** Show the explanation a resolved action carries, if any; true when one was shown. */
export async function showExplanation(action: { title?: string; data?: any; command?: { arguments?: any[] } }): Promise<boolean> {
  const md = explanationOf(action);
  if (md === undefined) return false;
  await ExplanationPanel.show(action.title ?? 'nib', md, detailsOf(action.data));
  return true;
}

export async function runAction(client: LanguageClient, spec: ActionSpec): Promise<void> {
  const editor = vscode.window.activeTextEditor;
  if (!editor) {
    void vscode.window.showInformationMessage(`nib: ${spec.label} needs an open editor`);
    return;
  }
  if (!serverOffers(client, spec.kind)) {
    void vscode.window.showInformationMessage(`nib: ${spec.label} is not available yet in this nib version`);
    return;
  }
  const c2p = client.code2ProtocolConverter;
  const doc = editor.document;
  const offered = await client.sendRequest(CodeActionRequest.type, {
    textDocument: c2p.asTextDocumentIdentifier(doc),
    range: c2p.asRange(editor.selection),
    context: { diagnostics: [], only: [spec.kind], triggerKind: CodeActionTriggerKind.Invoked },
  });
  // Not `CodeAction.is`: it wants an edit or a command, which an unresolved action lacks.
  const mine = (offered ?? []).filter(
    (a): a is CodeAction => !Command.is(a) && typeof a.title === 'string' && a.kind !== undefined && kindWithin(a.kind, spec.kind),
  );
  if (mine.length === 0) {
    void vscode.window.showInformationMessage(`nib: no ${spec.label} action here (put the cursor or selection on the code it is for)`);
    return;
  }
  let chosen = mine[0];
  if (mine.length > 1) {
    const pick = await vscode.window.showQuickPick(
      mine.map((a) => ({ label: a.title, action: a })),
      { placeHolder: `nib: ${spec.label}` },
    );
    if (!pick) return;
    chosen = pick.action;
  }
  const resolved = await vscode.window.withProgress(
    { location: vscode.ProgressLocation.Notification, title: `${chosen.title}…`, cancellable: true },
    (_progress, token) => client.sendRequest(CodeActionResolveRequest.type, chosen, token),
  );
  let changed = false;
  if (resolved.edit) {
    const edit = await client.protocol2CodeConverter.asWorkspaceEdit(resolved.edit);
    changed = await vscode.workspace.applyEdit(edit);
    if (!changed) void vscode.window.showWarningMessage(`nib: the edit of ${chosen.title} could not be applied (the file changed?)`);
  }
  if (resolved.command) {
    await vscode.commands.executeCommand(resolved.command.command, ...(resolved.command.arguments ?? []));
  }
  const shown = await showExplanation(resolved);
  if (!changed && !shown && !resolved.command) {
    void vscode.window.showInformationMessage(`${resolved.title}: nothing to apply`);
  }
}
