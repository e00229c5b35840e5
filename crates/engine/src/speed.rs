//! A speed estimate that stays right on a cold or busy machine: a decaying average of
//! measurements (tokens per second) in which early measurements move the estimate far and
//! later ones less, so a low first measurement (the warm-up batch pages the model in and
//! sizes buffers; a busy machine slows it) is corrected within a few batches, while a single
//! odd batch later on moves it by at most a quarter of the way.

/// Each measurement's weight decays by this factor per later measurement: the estimate
/// follows the last few batches (the total weight tends to 1 / (1 - DECAY) = 4).
const DECAY: f64 = 0.75;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SpeedEstimate {
    rate: f64,
    /// The decayed total weight of the measurements so far (0: only the prior).
    weight: f64,
}

impl SpeedEstimate {
    /// Before any measurement: `prior` tokens/s.
    pub const fn new(prior: f64) -> SpeedEstimate {
        SpeedEstimate {
            rate: prior,
            weight: 0.0,
        }
    }

    /// Tokens per second.
    pub fn rate(&self) -> f64 {
        self.rate
    }

    /// Add a measurement: `tokens` in `secs`, counted with `weight` (1 for a full-sized
    /// measurement; less for a small batch or a warm-up whose time is partly not the
    /// model's). The first measurement replaces the prior whatever its weight. Nonsense
    /// (no time, no tokens, no weight) is ignored.
    pub fn observe(&mut self, tokens: usize, secs: f64, weight: f64) {
        let positive = |x: f64| x.is_finite() && x > 0.0;
        if tokens == 0 || !positive(secs) || !positive(weight) {
            return;
        }
        let sample = tokens as f64 / secs;
        self.weight = self.weight * DECAY + weight;
        self.rate += (sample - self.rate) * weight / self.weight;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (name, prior, measurements (tokens/s, weight), estimate within 1 token/s)
    type Row = (&'static str, f64, &'static [(f64, f64)], f64);

    #[test]
    fn estimates() {
        let rows: &[Row] = &[
            ("no measurement: the prior", 300.0, &[], 300.0),
            ("the first replaces the prior", 300.0, &[(75.0, 0.5)], 75.0),
            // A warm-up measured on a busy machine, then the real speed: most of the way
            // after one batch (75%), nearly all after three.
            (
                "a low warm-up, one batch",
                300.0,
                &[(44.0, 0.5), (147.0, 1.0)],
                119.1,
            ),
            (
                "a low warm-up, three batches",
                300.0,
                &[(44.0, 0.5), (147.0, 1.0), (147.0, 1.0), (147.0, 1.0)],
                138.8,
            ),
            // Settled on many measurements, one slow batch moves it by about a quarter.
            (
                "one odd batch after many",
                300.0,
                &[(100.0, 1.0); 30],
                100.0,
            ),
            (
                "one odd batch after many, then the odd one",
                300.0,
                &[
                    (100.0, 1.0),
                    (100.0, 1.0),
                    (100.0, 1.0),
                    (100.0, 1.0),
                    (100.0, 1.0),
                    (100.0, 1.0),
                    (100.0, 1.0),
                    (100.0, 1.0),
                    (100.0, 1.0),
                    (100.0, 1.0),
                    (20.0, 1.0),
                ],
                79.6,
            ),
            // A machine that becomes busy: the estimate follows within a few batches.
            (
                "the machine becomes busy",
                300.0,
                &[
                    (150.0, 1.0),
                    (150.0, 1.0),
                    (150.0, 1.0),
                    (150.0, 1.0),
                    (50.0, 1.0),
                    (50.0, 1.0),
                    (50.0, 1.0),
                    (50.0, 1.0),
                ],
                74.0,
            ),
            (
                "a small batch counts less",
                300.0,
                &[(100.0, 1.0), (200.0, 0.1)],
                111.8,
            ),
        ];
        for (name, prior, samples, want) in rows {
            let mut e = SpeedEstimate::new(*prior);
            for &(rate, weight) in *samples {
                // 60 tokens at `rate`.
                e.observe(60, 60.0 / rate, weight);
            }
            assert!((e.rate() - want).abs() < 1.0, "{name}: {}", e.rate());
        }
    }

    #[test]
    fn nonsense_is_ignored() {
        let mut e = SpeedEstimate::new(300.0);
        e.observe(0, 1.0, 1.0);
        e.observe(10, 0.0, 1.0);
        e.observe(10, f64::NAN, 1.0);
        e.observe(10, 1.0, 0.0);
        assert_eq!(e, SpeedEstimate::new(300.0));
    }
}
