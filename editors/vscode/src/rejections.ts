// nib's explicit rejection event for ghost text: `nib/didRejectCompletion` when the newest nib
// suggestion of a document is dismissed (Escape, through the `nib.dismissSuggestion` keybinding)
// or typed over (the user types something it does not start with). VS Code's stable API says
// neither (the provider hooks for shown, partially accepted and rejected items are a proposed
// API), so the suggestion is followed here: the provider's answer starts it, the document's
// changes follow it, and `nib.accepted` (run by VS Code on Tab) ends it without a verdict.
//
// Each suggestion is rejected at most once, never after its acceptance, and not at all once part
// of it was accepted (Ctrl+Right inserts a word of it: a change inserting more than one character
// that still matches it) or the user typed all of it.

import * as vscode from 'vscode';
import { Pending } from './pending';

interface Shown {
  /** The nib.accepted arguments of the answer's items, which identify the suggestion. */
  ids: unknown[];
  pending: Pending;
  shownAt: number;
}

export interface RejectParams {
  textDocument: { uri: string };
  position: { line: number; character: number };
  reason: 'dismissed' | 'typedOver';
  items: unknown[];
  shownMs: number;
}

export const ACCEPTED_COMMAND = 'nib.accepted';

/** The nib.accepted argument of an inline completion item (undefined for other items). */
function identity(item: vscode.InlineCompletionItem): unknown {
  return item.command?.command === ACCEPTED_COMMAND ? item.command.arguments?.[0] : undefined;
}

function same(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

export class Suggestions implements vscode.Disposable {
  /** The newest suggestion of each document (by its URI as VS Code writes it). */
  private readonly shown = new Map<string, Shown>();

  constructor(
    /** Sends the notification for the document `document`. */
    private readonly send: (document: vscode.Uri, params: Omit<RejectParams, 'textDocument'>) => void,
  ) {}

  dispose(): void {
    this.shown.clear();
  }

  /** The document closed: its suggestion is gone without a verdict. */
  closed(document: vscode.TextDocument): void {
    this.shown.delete(document.uri.toString());
  }

  /** The provider answered `items` at `position`: they replace the document's older suggestion. */
  provided(document: vscode.TextDocument, position: vscode.Position, items: vscode.InlineCompletionItem[]): void {
    const ids = items.map(identity).filter((id) => id !== undefined);
    const texts = items.map((i) => (typeof i.insertText === 'string' ? i.insertText : i.insertText.value));
    const key = document.uri.toString();
    if (ids.length === 0) return;
    const start = items[0].range?.start ?? position;
    const typed = start.isBefore(position) ? document.getText(new vscode.Range(start, position)) : '';
    this.shown.set(key, {
      ids,
      pending: new Pending(document.offsetAt(start), texts, typed),
      shownAt: Date.now(),
    });
  }

  /** `nib.accepted` ran with `args`: the suggestion it names gets no rejection. */
  accepted(args: unknown[]): void {
    for (const [key, s] of this.shown) {
      if (s.ids.some((id) => same(id, args?.[0]))) this.shown.delete(key);
    }
  }

  /** Escape on a visible inline suggestion: reject nib's suggestion if the cursor is at it. */
  dismissed(editor: vscode.TextEditor | undefined): void {
    if (!editor || editor.selections.length !== 1 || !editor.selection.isEmpty) return;
    const doc = editor.document;
    const s = this.shown.get(doc.uri.toString());
    if (!s || doc.offsetAt(editor.selection.active) !== s.pending.end()) return;
    this.reject(doc, s, 'dismissed');
  }

  /** The document changed (called once the server has been sent the change). */
  changed(e: vscode.TextDocumentChangeEvent): void {
    const s = this.shown.get(e.document.uri.toString());
    if (!s) return;
    for (const c of e.contentChanges) {
      const at = s.pending.end();
      const step = s.pending.edit({ start: c.rangeOffset, end: c.rangeOffset + c.rangeLength, text: c.text });
      const partial = step === 'open' && c.rangeOffset === at && c.rangeLength === 0 && c.text.length > 1;
      if (step === 'typedOver') {
        this.reject(e.document, s, 'typedOver');
        return;
      }
      if (step === 'typed' || step === 'lost' || partial) {
        this.shown.delete(e.document.uri.toString());
        return;
      }
    }
  }

  private reject(doc: vscode.TextDocument, s: Shown, reason: RejectParams['reason']): void {
    this.shown.delete(doc.uri.toString());
    const p = doc.positionAt(s.pending.end());
    this.send(doc.uri, {
      position: { line: p.line, character: p.character },
      reason,
      items: s.ids,
      shownMs: Math.max(0, Date.now() - s.shownAt),
    });
  }
}
