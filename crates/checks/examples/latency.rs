//! Latency of `Checker::check` / `check_suggestion` on a ~100-line snippet, p50/p95.
//! `cargo run -p nib-checks --example latency` (numbers from a dev build are pessimistic).
use std::time::{Duration, Instant};

use nib_checks::{CheckConfig, Checker};
use nib_syntax::Language;

fn snippet() -> String {
    let mut s =
        String::from("import os, subprocess, hashlib, random\nfrom flask import request\n\n");
    for i in 0..12 {
        s.push_str(&format!(
            "def handler_{i}(cur, name, path):\n    q = f\"SELECT * FROM t{i} WHERE n = '{{name}}'\"\n    cur.execute(q)\n    subprocess.run([\"ls\", path])\n    data = request.args.get(\"x\")\n    token = hashlib.sha256(data.encode()).hexdigest()\n    return os.path.join(\"/srv\", os.path.basename(path)), token\n\n"
        ));
    }
    s
}

fn report(name: &str, mut samples: Vec<Duration>) {
    samples.sort();
    let p = |q: f64| samples[((samples.len() - 1) as f64 * q) as usize];
    println!(
        "{name}: p50 {:?} p95 {:?} max {:?}",
        p(0.5),
        p(0.95),
        samples[samples.len() - 1]
    );
}

fn main() {
    let t = Instant::now();
    let checker = Checker::new(CheckConfig::standard());
    println!("Checker::new: {:?}", t.elapsed());
    let code = snippet();
    println!(
        "snippet: {} lines, {} findings",
        code.lines().count(),
        checker.check(Language::Python, &code).len()
    );
    let samples = (0..200)
        .map(|_| {
            let t = Instant::now();
            std::hint::black_box(checker.check(Language::Python, &code));
            t.elapsed()
        })
        .collect();
    report("check (100 lines)", samples);
    let (before, after) = code.split_at(code.len() / 2);
    let samples = (0..200)
        .map(|_| {
            let t = Instant::now();
            std::hint::black_box(checker.check_suggestion(
                Language::Python,
                before,
                "    os.system(name)\n",
                after,
            ));
            t.elapsed()
        })
        .collect();
    report("check_suggestion (100-line context)", samples);
    for (name, config) in [
        (
            "security rules only",
            CheckConfig {
                environment: None,
                ..CheckConfig::default()
            },
        ),
        (
            "unknown-API only",
            CheckConfig {
                no_security: true,
                ..CheckConfig::standard()
            },
        ),
    ] {
        let checker = Checker::new(config);
        let samples = (0..100)
            .map(|_| {
                let t = Instant::now();
                std::hint::black_box(checker.check(Language::Python, &code));
                t.elapsed()
            })
            .collect();
        report(name, samples);
    }
    let samples = (0..100)
        .map(|_| {
            let t = Instant::now();
            std::hint::black_box(nib_syntax::parse(Language::Python, &code));
            t.elapsed()
        })
        .collect();
    report("parse only", samples);
}
