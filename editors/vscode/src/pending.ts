// A shown inline suggestion followed through the document's edits (pure: no vscode, no clock).
// Offsets are UTF-16 code units, as in VS Code's change events. The rules are those nib's server
// uses for clients that report nothing (crates/events/src/track.rs), except that a suggestion
// counts as typed over as soon as the typed text stops matching it: VS Code hides it then.

/** One applied change: `start..end` of the document before it replaced by `text`. */
export interface Change {
  start: number;
  end: number;
  text: string;
}

/**
 * - `open`: the suggestion can still be accepted.
 * - `typed`: the user typed the whole suggestion (or an edit inserted it).
 * - `typedOver`: the user typed something that is not the suggestion where it starts.
 * - `lost`: an edit touched it in a way that says nothing (a deletion around it).
 */
export type Step = 'open' | 'typed' | 'typedOver' | 'lost';

export class Pending {
  /** What was typed from `start` on since the suggestion was shown. */
  private typed: string;

  /**
   * The suggestion and its alternatives (`texts`), inserted at `start`; `typed` is the text
   * already between `start` and the cursor (what the suggestion's range replaces).
   */
  constructor(
    private start: number,
    private readonly texts: string[],
    typed = '',
  ) {
    this.typed = typed;
  }

  /** Where the text typed since the suggestion ends: the cursor while it is shown. */
  end(): number {
    return this.start + this.typed.length;
  }

  private diverged(): boolean {
    return !this.texts.some((t) => t.startsWith(this.typed));
  }

  /** Apply one change (changes of one event in the order that applies them one after another). */
  edit(c: Change): Step {
    const typedEnd = this.end();
    if (c.start >= this.start && c.start <= typedEnd && c.end >= typedEnd) {
      // Typing at the end of what was typed, a backspace, or VS Code's own insertion of the
      // suggestion over the typed part.
      this.typed = this.typed.slice(0, c.start - this.start) + c.text;
      if (this.texts.some((t) => this.typed.startsWith(t))) return 'typed';
      return this.diverged() ? 'typedOver' : 'open';
    }
    if (c.end <= this.start) {
      this.start += c.text.length - (c.end - c.start);
      return 'open';
    }
    if (c.start > typedEnd) return 'open';
    return 'lost';
  }
}
