//! Suggestions in context, unknown APIs, copyleft similarity, syntax regressions, reports.

use expect_test::expect;
use nib_checks::{
    syntax_regression, to_sarif, to_text, Category, CheckConfig, Checker, Corpus, Environment,
    Finding, WinnowConfig,
};
use nib_syntax::Language::{Python, Rust};

fn render(findings: &[Finding]) -> String {
    findings
        .iter()
        .map(|f| {
            format!(
                "{}:{}-{}:{} {} {} {}\n",
                f.start.0,
                f.start.1,
                f.end.0,
                f.end.1,
                f.severity.as_str(),
                f.rule_id,
                f.message
            )
        })
        .collect()
}

/// `$0` in `file` marks where `suggestion` goes.
fn check_suggestion(
    checker: &Checker,
    lang: nib_syntax::Language,
    file: &str,
    suggestion: &str,
) -> Vec<Finding> {
    let (before, after) = file.split_once("$0").expect("cursor marker");
    checker.check_suggestion(lang, before, suggestion, after)
}

#[test]
fn suggestion_uses_context_for_taint() {
    let checker = Checker::new(CheckConfig::standard());
    let file = "import os\n\ndef clean(path):\n    $0\n\ndef other(x):\n    os.system(x)\n";
    let found = check_suggestion(&checker, Python, file, "os.system(\"rm -rf \" + path)");
    expect![[r#"
        0:0-0:27 medium python/command-injection Shell command built from non-constant data (data from parameter `path`)
    "#]]
    .assert_eq(&render(&found));
    // The finding in the context (`other`) is not reported.
    let found = check_suggestion(&checker, Python, file, "print(path)");
    assert_eq!(render(&found), "");
}

#[test]
fn suggestion_completing_a_call_in_the_context() {
    let checker = Checker::new(CheckConfig::standard());
    let file = "def find(cur, name):\n    cur.execute($0)\n";
    let found = check_suggestion(
        &checker,
        Python,
        file,
        "f\"SELECT * FROM t WHERE n = '{name}'\"",
    );
    expect![[r#"
        0:0-0:37 high python/sql-injection SQL query built by string formatting or concatenation is passed to the database (data from parameter `name`)
    "#]]
    .assert_eq(&render(&found));
    let found = check_suggestion(
        &checker,
        Python,
        file,
        "\"SELECT * FROM t WHERE n = ?\", (name,)",
    );
    assert_eq!(render(&found), "");
    // The suggestion completes a call the user started typing.
    let file = "import subprocess\ndef run(cmd):\n    subprocess.run($0\n";
    expect![[r#"
        0:0-0:16 medium python/command-injection Shell command built from non-constant data (data from parameter `cmd`)
    "#]].assert_eq(&render(&check_suggestion(&checker, Python, file, "cmd, shell=True)")));
    // A vulnerable call already in the context, the suggestion only adds an argument.
    let file = "import subprocess\ndef run(cmd):\n    subprocess.run(cmd, shell=True$0)\n";
    assert_eq!(
        render(&check_suggestion(&checker, Python, file, ", check=True")),
        ""
    );
}

#[test]
fn suggestion_syntax_regression() {
    let checker = Checker::new(CheckConfig::standard());
    let file = "def f(x):\n    return $0\n\nprint(f(1))\n";
    assert_eq!(
        render(&check_suggestion(&checker, Python, file, "x + 1")),
        ""
    );
    expect![[r#"
        0:0-0:10 medium syntax/parse-error the suggestion does not parse in its surrounding code
    "#]]
    .assert_eq(&render(&check_suggestion(
        &checker,
        Python,
        file,
        "x + ) * (2",
    )));
    // Leaving an already incomplete line incomplete is not a regression.
    assert_eq!(syntax_regression(Python, "x = foo(", "1, 2", "\n"), None);
    assert!(syntax_regression(Rust, "fn f() {\n    ", "let x = ;", "\n}\n").is_some());
}

#[test]
fn unknown_python_apis() {
    let env = Environment::builtin()
        .with_installed_python(["requests".to_string(), "yaml".to_string()])
        .with_project_modules(["myapp".to_string()]);
    let checker = Checker::new(CheckConfig {
        environment: Some(env),
        ..CheckConfig::default()
    });
    let code = r#"
import os, json, requests, myapp
import requestz
import os.pathx
from collections import OrderedDict, FrozenDict
from xml.etree import ElementTree as ET
from . import sibling
import numpy as np

os.path.join("a", "b")
os.path.joinn("a", "b")
json.parse("{}")
ET.fromstring("<a/>")
ET.parse_string("<a/>")
requests.get_json("http://x")
"#;
    expect![[r#"
        2:7-2:15 medium python/unknown-module `requestz` is not in the standard library, the project or the installed packages
        3:7-3:15 medium python/unknown-module `os.pathx` is not a standard library module
        4:37-4:47 medium python/unknown-attribute `FrozenDict` does not exist in the standard library module `collections`
        7:7-7:12 medium python/unknown-module `numpy` is not in the standard library, the project or the installed packages
        10:0-10:13 medium python/unknown-attribute `os.path.joinn` does not exist in the standard library
        11:0-11:10 medium python/unknown-attribute `json.parse` does not exist in the standard library
        13:0-13:15 medium python/unknown-attribute `xml.etree.ElementTree.parse_string` does not exist in the standard library
    "#]]
    .assert_eq(&render(&checker.check(Python, code)));
    // Without a list of installed packages third-party imports are not judged.
    let checker = Checker::new(CheckConfig::standard());
    let found = checker.check(
        Python,
        "import numpy\nimport requestz\nimport os\nos.getcwd()\n",
    );
    assert_eq!(render(&found), "");
    // A local name shadowing a module is not checked against the module.
    let found = checker.check(Python, "import json\njson = load_config()\njson.whatever\n");
    assert_eq!(render(&found), "");
}

#[test]
fn unknown_rust_crates() {
    let env =
        Environment::builtin().with_cargo_deps(["serde-json".to_string(), "tokio".to_string()]);
    let checker = Checker::new(CheckConfig {
        environment: Some(env),
        ..CheckConfig::default()
    });
    let code = r#"
use std::collections::HashMap;
use serde_json::Value;
use tokio::sync::mpsc;
use fancy_http::Client;
use crate::config::Config;
mod util;
extern crate alloc;
fn f<T: Default>() -> Vec<T> {
    let m: HashMap<u8, u8> = HashMap::new();
    util::helper();
    let x = u32::MAX;
    let v = serde_yml::from_str::<Value>("a: 1");
    tokio::spawn(async {});
    Vec::new()
}
"#;
    expect![[r#"
        4:4-4:14 medium rust/unknown-crate `fancy_http` is not a dependency in Cargo.toml, a standard crate or a module in scope
        12:12-12:21 medium rust/unknown-crate `serde_yml` is not a dependency in Cargo.toml, a standard crate or a module in scope
    "#]]
    .assert_eq(&render(&checker.check(Rust, code)));
    // No Cargo.toml information: quiet.
    let checker = Checker::new(CheckConfig::standard());
    assert_eq!(render(&checker.check(Rust, code)), "");
}

const GPL_SOURCE: &str = r#"
def levenshtein(source, target):
    # classic dynamic programming edit distance
    if len(source) < len(target):
        return levenshtein(target, source)
    if len(target) == 0:
        return len(source)
    previous = list(range(len(target) + 1))
    for i, s in enumerate(source):
        current = [i + 1]
        for j, t in enumerate(target):
            insertions = previous[j + 1] + 1
            deletions = current[j] + 1
            substitutions = previous[j] + (s != t)
            current.append(min(insertions, deletions, substitutions))
        previous = current
    return previous[-1]
"#;

#[test]
fn copyleft_similarity_survives_renaming() {
    let mut corpus = Corpus::new(WinnowConfig::default());
    corpus.add("vendor/gpl/textdist.py", "GPL-3.0", GPL_SOURCE);
    corpus.add(
        "vendor/gpl/other.py",
        "AGPL-3.0",
        "def unrelated():\n    return 42\n",
    );
    // Renamed identifiers, changed literals and comments, different formatting.
    let copied = r#"
def edit_distance(a, b):
    if len(a) < len(b):
        return edit_distance(b, a)
    if len(b) == 0:
        return len(a)
    prev = list(range(len(b) + 7))
    for x, ca in enumerate(a):
        cur = [x + 1]
        for y, cb in enumerate(b):
            ins = prev[y + 1] + 1
            dels = cur[y] + 1   # deletion
            subs = prev[y] + (ca != cb)
            cur.append(min(ins, dels, subs))
        prev = cur
    return prev[-1]
"#;
    let matches = corpus.matches(Python, copied);
    assert_eq!(matches.len(), 1, "{matches:?}");
    assert_eq!(matches[0].path, "vendor/gpl/textdist.py");
    assert_eq!(matches[0].licence, "GPL-3.0");
    assert!(matches[0].longest_run >= 100, "{:?}", matches[0]);

    let original = r#"
def edit_distance(a, b):
    """Memoised recursion, written independently."""
    from functools import lru_cache

    @lru_cache(maxsize=None)
    def go(i, j):
        if i == 0 or j == 0:
            return i + j
        return min(go(i - 1, j) + 1, go(i, j - 1) + 1, go(i - 1, j - 1) + (a[i - 1] != b[j - 1]))

    return go(len(a), len(b))
"#;
    assert_eq!(corpus.matches(Python, original), vec![]);

    let checker = Checker::new(CheckConfig {
        corpus: Some(corpus),
        ..CheckConfig::default()
    });
    let found = checker.check(Python, copied);
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].category, Category::Licence);
    assert!(
        found[0].message.contains("vendor/gpl/textdist.py"),
        "{}",
        found[0].message
    );
}

#[test]
fn sarif_and_text_reports() {
    let checker = Checker::new(CheckConfig::standard());
    let code = "import os\ndef f(x):\n    os.system(x)\n";
    let results = vec![("src/app.py".to_string(), checker.check(Python, code))];
    let sarif = to_sarif(&results);
    expect![[r#"
        {
          "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
          "runs": [
            {
              "results": [
                {
                  "level": "warning",
                  "locations": [
                    {
                      "physicalLocation": {
                        "artifactLocation": {
                          "uri": "src/app.py"
                        },
                        "region": {
                          "byteLength": 12,
                          "byteOffset": 24,
                          "endColumn": 17,
                          "endLine": 3,
                          "startColumn": 5,
                          "startLine": 3
                        }
                      }
                    }
                  ],
                  "message": {
                    "text": "Shell command built from non-constant data (data from parameter `x`) (medium)"
                  },
                  "properties": {
                    "fixHint": "Pass an argument list without a shell: subprocess.run([\"prog\", arg], shell=False); if a shell is unavoidable, quote with shlex.quote",
                    "severity": "medium"
                  },
                  "ruleId": "python/command-injection",
                  "ruleIndex": 0
                }
              ],
              "tool": {
                "driver": {
                  "informationUri": "https://example.invalid/nib",
                  "name": "nib",
                  "rules": [
                    {
                      "defaultConfiguration": {
                        "level": "warning"
                      },
                      "help": {
                        "text": "Pass an argument list without a shell: subprocess.run([\"prog\", arg], shell=False); if a shell is unavoidable, quote with shlex.quote"
                      },
                      "id": "python/command-injection",
                      "properties": {
                        "security-severity": "5.5",
                        "tags": [
                          "security",
                          "external/cwe/cwe-78"
                        ]
                      },
                      "shortDescription": {
                        "text": "Shell command built from non-constant data (data from parameter `x`)"
                      }
                    }
                  ]
                }
              }
            }
          ],
          "version": "2.1.0"
        }"#]]
    .assert_eq(&serde_json::to_string_pretty(&sarif).unwrap());
    expect![[r#"
        src/app.py:3:5: medium [python/command-injection] Shell command built from non-constant data (data from parameter `x`) (CWE-78)
            fix: Pass an argument list without a shell: subprocess.run(["prog", arg], shell=False); if a shell is unavoidable, quote with shlex.quote
    "#]]
    .assert_eq(&to_text(&results));
}
