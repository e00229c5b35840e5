// The explanation panel: a webview showing the markdown a resolved code action carries.

import * as vscode from 'vscode';

/**
 * The markdown a resolved code action carries, if any: `data.explanation`, `data.result.explanation`
 * (nib's generate action), or an argument of its command with an `explanation` or `markdown` field.
 */
export function explanationOf(action: { data?: any; command?: { arguments?: any[] } }): string | undefined {
  const text = (v: unknown) => (typeof v === 'string' && v.trim() !== '' ? v : undefined);
  const data = action.data;
  const found =
    text(data?.explanation) ??
    text(data?.result?.explanation) ??
    action.command?.arguments?.map((a) => text(a?.explanation) ?? text(a?.markdown)).find((t) => t !== undefined);
  return found;
}

/** Facts about the result shown under the explanation (model, latency, confidence, findings). */
export function detailsOf(data: any): string[] {
  const r = data?.result;
  if (!r || typeof r !== 'object') return [];
  const out: string[] = [];
  if (r.model) out.push(`model: ${r.model}`);
  if (typeof r.latencyMs === 'number') out.push(`latency: ${Math.round(r.latencyMs)} ms`);
  if (r.confidence) out.push(`confidence: ${r.confidence}`);
  if (r.source) out.push(`written by: ${r.source}`);
  if (r.dropped) out.push(`not inserted: ${r.dropped}`);
  for (const f of Array.isArray(r.findings) ? r.findings : []) {
    out.push(`finding: ${f.rule_id ?? f.ruleId ?? '?'} (${f.severity ?? '?'}): ${f.message ?? ''}`);
  }
  return out;
}

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

export class ExplanationPanel {
  private static current: ExplanationPanel | undefined;
  private panel: vscode.WebviewPanel;

  private constructor() {
    this.panel = vscode.window.createWebviewPanel(
      'nib.explanation',
      'nib: Explanation',
      { viewColumn: vscode.ViewColumn.Beside, preserveFocus: true },
      { enableScripts: false, enableFindWidget: true },
    );
    this.panel.onDidDispose(() => {
      ExplanationPanel.current = undefined;
    });
  }

  /** Show `markdown` under `title`, reusing the open panel. */
  static async show(title: string, markdown: string, details: string[] = []) {
    const p = (ExplanationPanel.current ??= new ExplanationPanel());
    p.panel.title = `nib: Explanation`;
    let body: string;
    try {
      // VS Code's own markdown renderer (the built-in markdown extension).
      body = await vscode.commands.executeCommand<string>('markdown.api.render', markdown);
      if (typeof body !== 'string') throw new Error('no renderer');
    } catch {
      body = `<pre>${escapeHtml(markdown)}</pre>`;
    }
    const facts = details.length
      ? `<ul class="details">${details.map((d) => `<li>${escapeHtml(d)}</li>`).join('')}</ul>`
      : '';
    p.panel.webview.html = `<!DOCTYPE html>
<html><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">
<style>
body { font-family: var(--vscode-font-family); color: var(--vscode-foreground); padding: 0 1em; }
pre, code { font-family: var(--vscode-editor-font-family); }
.details { color: var(--vscode-descriptionForeground); font-size: 90%; }
</style></head>
<body><h2 id="nib-title">${escapeHtml(title)}</h2><div id="nib-explanation">${body}</div>${facts}</body></html>`;
    p.panel.reveal(vscode.ViewColumn.Beside, true);
  }
}
