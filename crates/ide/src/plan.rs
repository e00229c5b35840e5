//! Deadline planning: which prompt a request with a time budget can afford.
//!
//! An automatic request (the user is typing) has a budget: the `deadline` setting, raised to
//! the cold budget when its context is cold (a fresh anchor whose prompt the main slot mostly
//! lacks). Evaluating (prefilling) the prompt tokens a slot does not hold yet takes time at the
//! measured prefill speed, and a few decode steps must remain for the suggestion itself. The
//! planner compares that need with what is left of the budget:
//! - it fits: the full window in the main slot ([`Plan::Full`]);
//! - it does not: the small anchored window in the scratch slot ([`Plan::Small`]), the full
//!   window being prefilled in the background afterwards when that is worth it;
//! - not even the small window fits: nothing runs now ([`Plan::Skip`]); the small window is
//!   prefilled in the background for the next keystroke.
//!
//! Invariants:
//! - Pure: no clock, no engine, no IO. The result depends only on the [`Input`] and on what
//!   the caller's `small_window` returns; the throughput is an input, so tests inject it.
//! - `small_window` is called at most once, and only when the full window does not fit (the
//!   small window is built lazily: building it updates the document's session).
//! - An explicit request has its own budget (`invokedDeadlineMs`), planned like an automatic
//!   one whose context is cold, but never skipped: the user waits for an answer.
//! - Without a deadline (a raw request, or none configured) the plan is `Full` with no budget; without
//!   KV-cache reuse it is `Full` with the budget (nothing to plan: every prompt is evaluated
//!   whole).
//! - `Skip` and background prefill of the full window only with background prefill on (else
//!   nothing would ever fill the slot the next request needs).

use std::time::{Duration, Instant};

use nib_engine::{PromptPlan, Throughput};

/// Decode steps kept in the budget after the full window's prefill: time to generate the
/// start of a suggestion. The same reserve comes off the cold budget when a new small window
/// is sized.
const FULL_DECODE_RESERVE_STEPS: f64 = 6.0;
/// Decode steps kept in the budget after the small window's prefill.
const SMALL_DECODE_RESERVE_STEPS: f64 = 1.0;
/// Share of the time left that a prefill and its decode reserve may take; the rest absorbs the
/// error of the throughput estimate.
const BUDGET_SHARE: f64 = 0.9;
/// Share of the cold budget a new small window's prefill takes: a cold request evaluates it
/// within its budget, later requests only append what was typed.
const SMALL_WINDOW_BUDGET_SHARE: f64 = 0.8;
/// Size bounds of a new small window, in tokens.
const MIN_SMALL_TOKENS: usize = 48;
const MAX_SMALL_TOKENS: usize = 512;
/// Main-slot tokens below which nothing worth protecting is cached: prefilling the full
/// window there evicts nothing of value.
const NOTHING_CACHED: usize = 64;
/// Requests served by an anchor (this one included) up to which the context is fresh: the
/// first request after opening a file or a jump.
const FRESH_ANCHOR_USES: u32 = 1;
/// Requests served by an anchor from which the user is taken to stay there: its full window is
/// worth prefilling in the background even if that evicts the main slot's context (a short
/// excursion must not evict the context of the place the user returns to).
const SETTLED_ANCHOR_USES: u32 = 2;
/// A fresh context is cold when the main slot holds less than this fraction (numerator,
/// denominator) of its prompt.
const COLD_CACHED_FRACTION: (usize, usize) = (1, 2);
/// Throughput floor (tokens/s): guards against a zero or missing measurement.
const MIN_TOKENS_PER_S: f64 = 1.0;
/// Part of the budget kept for what follows generation (post-processing, safety gate, reply):
/// the engine stops generating this long before the request's budget ends.
const REPLY_MARGIN: Duration = Duration::from_millis(25);
/// Tokens a further candidate needs beyond the length of the first one.
const RETRY_EXTRA_TOKENS: usize = 2;

/// The request's budget, and what the main slot holds of the full window's prompt.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Deadline {
    /// The configured budget of an automatic request.
    pub budget: Duration,
    /// The least budget of a cold request, and what a new small window is sized by.
    pub cold_budget: Duration,
    /// How much of the full window's prompt the main slot holds.
    pub full: PromptPlan,
}

/// What the planner decides from.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Input {
    /// `None`: the request has no deadline (explicit, or raw for evaluation).
    pub deadline: Option<Deadline>,
    /// Time already spent on the request (cache look-ups, prompt assembly).
    pub elapsed: Duration,
    /// The engine's measured speed.
    pub throughput: Throughput,
    /// Requests served by the full window's anchor, this one included (1: a fresh context).
    pub anchor_uses: u32,
    /// The user asked (an explicit request): never skipped, whatever the small window costs.
    pub explicit: bool,
    /// The engine reuses its KV cache across requests.
    pub kv_reuse: bool,
    /// Prompts may be evaluated in the background.
    pub background_prefill: bool,
}

/// Why a request is skipped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SkipReason {
    /// Not even the small window's uncached tokens can be evaluated in what is left of the
    /// budget (typically a new small window while typing).
    SmallWindowOverBudget,
}

impl SkipReason {
    pub fn as_str(self) -> &'static str {
        match self {
            SkipReason::SmallWindowOverBudget => "small_window_over_budget",
        }
    }
}

/// What a request runs. `S` is the small window the caller built when asked for it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Plan<S> {
    /// The full window in the main slot, within `budget` (`None`: no deadline).
    Full { budget: Option<Duration> },
    /// The small window in the scratch slot, within `budget`; the full window is prefilled
    /// in the background afterwards when `prefill_full`.
    Small {
        budget: Duration,
        window: S,
        /// What the scratch slot holds of the small window's prompt.
        small: PromptPlan,
        prefill_full: bool,
    },
    /// Nothing runs now: the small window is prefilled in the background, then the full
    /// window when `prefill_full`.
    Skip {
        reason: SkipReason,
        window: S,
        small: PromptPlan,
        prefill_full: bool,
    },
}

/// Plan a request. `small_window(tokens)` builds the small window (of about `tokens` tokens
/// when it is new) and says what the scratch slot holds of its prompt; it is called only
/// when the full window does not fit.
pub(crate) fn plan<S>(
    input: &Input,
    small_window: impl FnOnce(usize) -> (S, PromptPlan),
) -> Plan<S> {
    let Some(d) = input.deadline else {
        return Plan::Full { budget: None };
    };
    let budget = if is_cold(input.anchor_uses, &d.full) {
        d.budget.max(d.cold_budget)
    } else {
        d.budget
    };
    if !input.kv_reuse {
        return Plan::Full {
            budget: Some(budget),
        };
    }
    let tp = input.throughput;
    let reserve = decode_secs(FULL_DECODE_RESERVE_STEPS, tp);
    let need = prefill_secs(d.full.new_tokens(), tp) + reserve;
    let left = budget.saturating_sub(input.elapsed).as_secs_f64();
    tracing::debug!(
        prompt = d.full.prompt_tokens,
        cached = d.full.cached_tokens,
        need_s = need,
        avail_s = left,
        prefill_tps = tp.prefill_tokens_per_s,
        "deadline plan"
    );
    if fits(need, left) {
        return Plan::Full {
            budget: Some(budget),
        };
    }
    let (window, small) = small_window(small_window_tokens(d.cold_budget, reserve, tp));
    let small_need =
        prefill_secs(small.new_tokens(), tp) + decode_secs(SMALL_DECODE_RESERVE_STEPS, tp);
    let prefill_full = input.background_prefill
        && (is_settled(input.anchor_uses) || nothing_worth_keeping(d.full.slot_tokens));
    if input.background_prefill && !input.explicit && !fits(small_need, left) {
        Plan::Skip {
            reason: SkipReason::SmallWindowOverBudget,
            window,
            small,
            prefill_full,
        }
    } else {
        Plan::Small {
            budget,
            window,
            small,
            prefill_full,
        }
    }
}

/// A fresh context whose prompt the main slot mostly lacks.
fn is_cold(anchor_uses: u32, full: &PromptPlan) -> bool {
    let (num, den) = COLD_CACHED_FRACTION;
    anchor_uses <= FRESH_ANCHOR_USES && full.cached_tokens * den < full.prompt_tokens * num
}

/// The user has stayed at this anchor (see [`SETTLED_ANCHOR_USES`]).
pub(crate) fn is_settled(anchor_uses: u32) -> bool {
    anchor_uses >= SETTLED_ANCHOR_USES
}

/// A slot holding `slot_tokens` has nothing a prefill could evict that is worth keeping.
pub(crate) fn nothing_worth_keeping(slot_tokens: usize) -> bool {
    slot_tokens < NOTHING_CACHED
}

/// A need (seconds) fits in what is left of the budget (seconds).
fn fits(need: f64, left: f64) -> bool {
    need <= left * BUDGET_SHARE
}

fn prefill_secs(tokens: usize, tp: Throughput) -> f64 {
    tokens as f64 / tp.prefill_tokens_per_s.max(MIN_TOKENS_PER_S)
}

fn decode_secs(steps: f64, tp: Throughput) -> f64 {
    steps * (1.0 / tp.decode_tokens_per_s.max(MIN_TOKENS_PER_S))
}

/// Size of a new small window: what the cold budget, less the decode reserve, can prefill.
fn small_window_tokens(cold_budget: Duration, reserve: f64, tp: Throughput) -> usize {
    let secs = (cold_budget.as_secs_f64() - reserve).max(0.0);
    ((secs * SMALL_WINDOW_BUDGET_SHARE * tp.prefill_tokens_per_s) as usize)
        .clamp(MIN_SMALL_TOKENS, MAX_SMALL_TOKENS)
}

/// When the engine stops generating for a request started at `started` with `budget`.
pub(crate) fn engine_deadline(started: Instant, budget: Option<Duration>) -> Option<Instant> {
    budget.map(|d| started + d.saturating_sub(REPLY_MARGIN))
}

/// Whether `left` (until the engine's deadline) leaves time for a further candidate after a
/// first one of `first_tokens` tokens.
pub(crate) fn retry_fits(left: Duration, first_tokens: usize, tp: Throughput) -> bool {
    let need =
        (first_tokens + RETRY_EXTRA_TOKENS) as f64 / tp.decode_tokens_per_s.max(MIN_TOKENS_PER_S);
    left.as_secs_f64() > need
}

#[cfg(test)]
mod tests {
    use super::*;

    const fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    const fn tp(prefill: f64, decode: f64) -> Throughput {
        Throughput {
            prefill_tokens_per_s: prefill,
            decode_tokens_per_s: decode,
        }
    }

    const fn slot(prompt: usize, cached: usize, held: usize) -> PromptPlan {
        PromptPlan {
            prompt_tokens: prompt,
            cached_tokens: cached,
            slot_tokens: held,
        }
    }

    /// The settings' defaults: 300 ms while typing, 1 s cold.
    const TYPING: Deadline = Deadline {
        budget: ms(300),
        cold_budget: ms(1000),
        full: slot(0, 0, 0),
    };
    const LAPTOP: Throughput = tp(300.0, 60.0);

    struct Row {
        name: &'static str,
        input: Input,
        /// What the scratch slot holds of the small window, when asked.
        small: PromptPlan,
        /// The plan, with the size asked for a new small window as its window.
        want: Plan<usize>,
    }

    fn typing(full: PromptPlan, uses: u32, throughput: Throughput) -> Input {
        Input {
            deadline: Some(Deadline { full, ..TYPING }),
            elapsed: ms(0),
            throughput,
            anchor_uses: uses,
            explicit: false,
            kv_reuse: true,
            background_prefill: true,
        }
    }

    /// The same request asked for explicitly, with the default 2 s `invokedDeadlineMs`
    /// (its budget and cold budget alike).
    fn explicit(input: Input) -> Input {
        Input {
            explicit: true,
            deadline: input.deadline.map(|d| Deadline {
                budget: ms(2000),
                cold_budget: ms(2000),
                ..d
            }),
            ..input
        }
    }

    /// The scenario of the harness test `a_shrunk_context_stays_anchored_across_lines`, at the
    /// speeds the warm-up measured on a busy and on a quiet machine (prefill 44 and 147
    /// tokens/s) and on a CPU ten times faster: with budgets of 3 s (5 s cold), a cold request
    /// before 2,900 uncached tokens shrinks to the small window, and the next line, typed at
    /// the same anchor with the small window cached, stays in it without being skipped.
    #[test]
    fn a_shrunk_context_stays_anchored_across_lines() {
        for (prefill, decode) in [(44.0, 15.0), (147.0, 25.0), (400.0, 60.0)] {
            let speed = tp(prefill, decode);
            let budgets = |full, uses| Input {
                deadline: Some(Deadline {
                    budget: ms(3000),
                    cold_budget: ms(5000),
                    full,
                }),
                ..typing(full, uses, speed)
            };
            let mut size = 0;
            let first = plan(&budgets(slot(2900, 0, 0), 1), |tokens| {
                size = tokens;
                (tokens, slot(tokens, 0, 0))
            });
            assert!(
                matches!(first, Plan::Small { budget, .. } if budget == ms(5000)),
                "{prefill} tok/s: {first:?}"
            );
            // 12 new tokens on the next line, the rest of the small window cached.
            let second = plan(&budgets(slot(2912, 0, size), 2), |_| {
                (size, slot(size + 12, size, size))
            });
            assert!(
                matches!(second, Plan::Small { budget, .. } if budget == ms(3000)),
                "{prefill} tok/s: {second:?}"
            );
        }
    }

    #[test]
    fn plans() {
        // LAPTOP: a new small window is (1 s - 6/60 s) * 0.8 * 300 tok/s = 216 tokens.
        let rows = [
            Row {
                name: "no deadline (explicit request): the full window, unhurried",
                input: Input {
                    deadline: None,
                    ..typing(slot(3000, 0, 0), 1, tp(1.0, 1.0))
                },
                small: slot(0, 0, 0),
                want: Plan::Full { budget: None },
            },
            Row {
                name: "warm: only the typed tokens are new",
                input: typing(slot(3000, 2990, 3000), 5, LAPTOP),
                small: slot(0, 0, 0),
                want: Plan::Full {
                    budget: Some(ms(300)),
                },
            },
            Row {
                name: "cold and fast enough: the full window within the cold budget",
                input: typing(slot(2000, 0, 0), 1, tp(3000.0, 60.0)),
                small: slot(0, 0, 0),
                want: Plan::Full {
                    budget: Some(ms(1000)),
                },
            },
            Row {
                name: "cold and slow, nothing cached: small window now, full one afterwards",
                input: typing(slot(2000, 0, 0), 1, LAPTOP),
                small: slot(216, 0, 0),
                want: Plan::Small {
                    budget: ms(1000),
                    window: 216,
                    small: slot(216, 0, 0),
                    prefill_full: true,
                },
            },
            Row {
                name: "a jump away from a cached context: small window, the cache is kept",
                input: typing(slot(2000, 100, 2500), 1, LAPTOP),
                small: slot(216, 0, 300),
                want: Plan::Small {
                    budget: ms(1000),
                    window: 216,
                    small: slot(216, 0, 300),
                    prefill_full: false,
                },
            },
            Row {
                name: "typing on in a shrunk context: the small window's cache is reused",
                input: typing(slot(2000, 1200, 2500), 3, LAPTOP),
                small: slot(230, 220, 230),
                want: Plan::Small {
                    budget: ms(300),
                    window: 216,
                    small: slot(230, 220, 230),
                    prefill_full: true,
                },
            },
            Row {
                name: "budget too small even for the small window: skipped",
                input: typing(slot(2000, 1200, 2500), 3, LAPTOP),
                small: slot(216, 0, 0),
                want: Plan::Skip {
                    reason: SkipReason::SmallWindowOverBudget,
                    window: 216,
                    small: slot(216, 0, 0),
                    prefill_full: true,
                },
            },
            Row {
                name: "the same without background prefill: the small window, late",
                input: Input {
                    background_prefill: false,
                    ..typing(slot(2000, 1200, 2500), 3, LAPTOP)
                },
                small: slot(216, 0, 0),
                want: Plan::Small {
                    budget: ms(300),
                    window: 216,
                    small: slot(216, 0, 0),
                    prefill_full: false,
                },
            },
            Row {
                name: "no KV reuse: the full window within the cold budget, no shrinking",
                input: Input {
                    kv_reuse: false,
                    ..typing(slot(2000, 0, 0), 1, tp(1.0, 1.0))
                },
                small: slot(0, 0, 0),
                want: Plan::Full {
                    budget: Some(ms(1000)),
                },
            },
            Row {
                name: "time already spent: a warm window that fit no longer does",
                input: Input {
                    elapsed: ms(200),
                    ..typing(slot(3000, 2950, 3000), 5, LAPTOP)
                },
                small: slot(230, 225, 230),
                want: Plan::Small {
                    budget: ms(300),
                    window: 216,
                    small: slot(230, 225, 230),
                    prefill_full: true,
                },
            },
            Row {
                name: "no throughput measured: the floor of 1 tok/s; the smallest window, skipped",
                input: typing(slot(2000, 0, 0), 1, tp(0.0, 0.0)),
                small: slot(48, 48, 48),
                want: Plan::Skip {
                    reason: SkipReason::SmallWindowOverBudget,
                    window: MIN_SMALL_TOKENS,
                    small: slot(48, 48, 48),
                    prefill_full: true,
                },
            },
            Row {
                name: "fast prefill, a long prompt: the largest small window",
                input: typing(slot(100_000, 0, 0), 1, tp(5000.0, 60.0)),
                small: slot(512, 0, 0),
                want: Plan::Small {
                    budget: ms(1000),
                    window: MAX_SMALL_TOKENS,
                    small: slot(512, 0, 0),
                    prefill_full: true,
                },
            },
            Row {
                name: "a second request at a fresh anchor whose prompt is half cached: warm",
                input: typing(slot(2000, 1000, 2500), 1, tp(1000.0, 60.0)),
                small: slot(216, 216, 216),
                want: Plan::Small {
                    budget: ms(300),
                    window: MAX_SMALL_TOKENS,
                    small: slot(216, 216, 216),
                    prefill_full: false,
                },
            },
            Row {
                name: "explicit, 2 s budget, slow engine: the small window of what 2 s allow",
                input: explicit(typing(slot(3000, 0, 0), 1, LAPTOP)),
                small: slot(456, 0, 0),
                want: Plan::Small {
                    budget: ms(2000),
                    window: 456,
                    small: slot(456, 0, 0),
                    prefill_full: true,
                },
            },
            Row {
                name: "explicit on an engine too slow even for the small window: run, not skipped",
                input: explicit(typing(slot(3000, 0, 0), 1, tp(1.0, 1.0))),
                small: slot(48, 0, 0),
                want: Plan::Small {
                    budget: ms(2000),
                    window: MIN_SMALL_TOKENS,
                    small: slot(48, 0, 0),
                    prefill_full: true,
                },
            },
        ];
        for row in rows {
            let mut asked = 0;
            let got = plan(&row.input, |tokens| {
                asked += 1;
                (tokens, row.small)
            });
            assert_eq!(got, row.want, "{}", row.name);
            let shrunk = !matches!(row.want, Plan::Full { .. });
            assert_eq!(
                asked,
                usize::from(shrunk),
                "small window built: {}",
                row.name
            );
        }
    }

    #[test]
    fn retries_fit_when_the_time_left_covers_the_first_candidate_again() {
        // 60 tok/s: a first candidate of 10 tokens needs 12 steps = 200 ms for another.
        let rows = [
            (ms(250), 10, LAPTOP, true),
            (ms(200), 10, LAPTOP, false),
            (ms(100), 10, LAPTOP, false),
            (ms(100), 10, tp(300.0, 600.0), true),
            // No decode speed measured: the floor of one token a second.
            (ms(3000), 0, tp(0.0, 0.0), true),
            (ms(1000), 0, tp(0.0, 0.0), false),
        ];
        for (left, first, throughput, want) in rows {
            assert_eq!(
                retry_fits(left, first, throughput),
                want,
                "{left:?} {first} {throughput:?}"
            );
        }
    }

    #[test]
    fn the_engine_stops_before_the_budget_ends() {
        let t = Instant::now();
        assert_eq!(engine_deadline(t, None), None);
        assert_eq!(engine_deadline(t, Some(ms(300))), Some(t + ms(275)));
        assert_eq!(engine_deadline(t, Some(ms(10))), Some(t));
    }
}
