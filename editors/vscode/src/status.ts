// The status bar item: the model from `nib/stats`, the last suggestion's latency, and a spinner
// while nib indexes the workspace (`$/progress`) or loads the model.

import * as vscode from 'vscode';

export interface Stats {
  model?: { name?: string; provider?: string; context_length?: number; threads?: number } | null;
  /** The engine's throughput when a model is ready, else its state (`Loading`, `Failed(..)`). */
  engine?: unknown;
  ide?: Record<string, number>;
  index?: { files: number; definitions: number } | null;
}

export class Status implements vscode.Disposable {
  private item = vscode.window.createStatusBarItem('nib.status', vscode.StatusBarAlignment.Right, 100);
  private progress = new Map<string, string>();
  private stats: Stats | undefined;
  private latencyMs: number | undefined;
  private problem: string | undefined;

  constructor() {
    this.item.name = 'nib';
    this.item.command = 'nib.showStats';
    this.render();
    this.item.show();
  }

  /** A `$/progress` report: begin/report set the spinner's text, end removes it. */
  onProgress(token: string, value: { kind: string; title?: string; message?: string; percentage?: number }) {
    if (value.kind === 'end') {
      this.progress.delete(token);
    } else {
      const prev = this.progress.get(token) ?? '';
      const title = value.title ?? prev.replace(/ \d+%$/, '');
      const pct = value.percentage !== undefined ? ` ${value.percentage}%` : '';
      this.progress.set(token, `${title.replace(/^nib: /, '')}${pct}`);
    }
    this.render();
  }

  setStats(stats: Stats) {
    this.stats = stats;
    this.problem = undefined;
    this.render();
  }

  setLatency(ms: number) {
    this.latencyMs = ms;
    this.render();
  }

  setProblem(text: string | undefined) {
    this.problem = text;
    this.render();
  }

  /** The model is still being loaded (no stats yet, or the engine reports `Loading`). */
  loading(): boolean {
    const e = this.stats?.engine;
    return this.stats === undefined || (typeof e === 'string' && e.startsWith('Loading'));
  }

  private render() {
    const model = this.stats?.model?.name;
    const engine = this.stats?.engine;
    const lines: string[] = [];
    let text: string;
    if (this.problem) {
      text = `$(error) nib`;
      lines.push(this.problem);
    } else if (this.progress.size > 0) {
      text = `$(loading~spin) nib: ${[...this.progress.values()].join(', ')}`;
    } else if (this.loading()) {
      text = `$(loading~spin) nib: loading model`;
    } else if (typeof engine === 'string' && !model) {
      text = engine.startsWith('Failed') ? `$(error) nib: model failed` : `$(warning) nib: no model`;
      lines.push(`engine: ${engine}`);
    } else {
      const provider = this.stats?.model?.provider;
      text = `$(sparkle) nib: ${model ?? '?'}${provider ? ` (${provider})` : ''}`;
    }
    if (this.latencyMs !== undefined && !this.problem) text += ` · ${Math.round(this.latencyMs)} ms`;
    const provider = this.stats?.model?.provider;
    if (model) lines.push(`model: ${model}${provider ? ` (${provider})` : ''}`);
    if (this.latencyMs !== undefined) lines.push(`last suggestion: ${Math.round(this.latencyMs)} ms`);
    const ide = this.stats?.ide;
    if (ide) lines.push(`requests: ${ide.requests}, model runs: ${ide.model_requests}, cache hits: ${(ide.typeahead_hits ?? 0) + (ide.lru_hits ?? 0)}`);
    const index = this.stats?.index;
    if (index) lines.push(`index: ${index.files} files, ${index.definitions} definitions`);
    lines.push('click for nib/stats');
    this.item.text = text;
    this.item.tooltip = lines.join('\n');
  }

  dispose() {
    this.item.dispose();
  }
}
