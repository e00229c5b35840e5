//! The unbiased pass@k estimator of Chen et al. (2021), "Evaluating Large Language Models
//! Trained on Code": with `n` samples of which `c` pass, pass@k = 1 - C(n-c, k) / C(n, k),
//! computed as a product (no large binomials): 1 - prod_{i=n-c+1}^{n} (1 - k / i).

/// `None` when `k > n` (not estimable from `n` samples).
pub fn pass_at_k(n: usize, c: usize, k: usize) -> Option<f64> {
    if k == 0 || k > n || c > n {
        return None;
    }
    if n - c < k {
        return Some(1.0);
    }
    let prod: f64 = ((n - c + 1)..=n)
        .map(|i| 1.0 - k as f64 / i as f64)
        .product();
    Some(1.0 - prod)
}

/// Mean pass@k over problems given as `(n, c)`; `None` if any problem has fewer than `k` samples.
pub fn mean_pass_at_k(problems: &[(usize, usize)], k: usize) -> Option<f64> {
    if problems.is_empty() {
        return None;
    }
    let mut sum = 0.0;
    for &(n, c) in problems {
        sum += pass_at_k(n, c, k)?;
    }
    Some(sum / problems.len() as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 1 - C(n-c, k) / C(n, k) with exact integer binomials, for small values.
    fn by_binomials(n: usize, c: usize, k: usize) -> f64 {
        fn binom(n: usize, k: usize) -> f64 {
            if k > n {
                return 0.0;
            }
            let mut r = 1u128;
            for i in 0..k {
                r = r * (n - i) as u128 / (i + 1) as u128;
            }
            r as f64
        }
        1.0 - binom(n - c, k) / binom(n, k)
    }

    #[test]
    fn pass_at_1_is_the_pass_share() {
        assert_eq!(pass_at_k(1, 1, 1), Some(1.0));
        assert_eq!(pass_at_k(1, 0, 1), Some(0.0));
        assert!((pass_at_k(10, 3, 1).unwrap() - 0.3).abs() < 1e-12);
        assert!((pass_at_k(200, 57, 1).unwrap() - 57.0 / 200.0).abs() < 1e-12);
    }

    #[test]
    fn matches_binomials() {
        for n in 1..=20 {
            for c in 0..=n {
                for k in 1..=n {
                    let got = pass_at_k(n, c, k).unwrap();
                    let want = by_binomials(n, c, k);
                    assert!(
                        (got - want).abs() < 1e-9,
                        "n={n} c={c} k={k}: {got} vs {want}"
                    );
                }
            }
        }
    }

    #[test]
    fn edge_cases() {
        assert_eq!(pass_at_k(3, 1, 4), None);
        assert_eq!(pass_at_k(3, 0, 0), None);
        assert_eq!(pass_at_k(3, 4, 1), None);
        assert_eq!(pass_at_k(10, 0, 10), Some(0.0));
        assert_eq!(pass_at_k(10, 1, 10), Some(1.0));
        // Stable for large n (no overflowing binomials).
        let p = pass_at_k(1000, 10, 100).unwrap();
        assert!(p > 0.65 && p < 0.66, "{p}");
    }

    #[test]
    fn mean_over_problems() {
        let m = mean_pass_at_k(&[(2, 1), (2, 0), (2, 2)], 1).unwrap();
        assert!((m - 0.5).abs() < 1e-12);
        assert_eq!(mean_pass_at_k(&[(2, 1), (1, 0)], 2), None);
        assert_eq!(mean_pass_at_k(&[], 1), None);
    }
}
