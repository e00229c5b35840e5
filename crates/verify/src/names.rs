//! Undefined names: the globals a changed Python module uses that it neither binds nor gets
//! from the builtins, and that the module before the change did not already use unbound. Each
//! is a `NameError` waiting for its line to run (a rewrite calling `math.ceil` after dropping
//! the function's `import math`, a helper the model assumed), found even when no test reaches
//! the line.
//!
//! `python/names.py` reads Python's symbol tables of both sources in the [`Sandbox`]; neither
//! module is run.

use std::time::Duration;

use crate::sandbox::Sandbox;

const FINDER: &str = include_str!("python/names.py");

/// Names `after` uses as globals without binding them (no assignment, import, definition, nor
/// a builtin) that `before` does not already use unbound, sorted. Empty when either does not
/// parse, imports with `*`, or the sandbox fails.
pub fn new_undefined_names(before: &str, after: &str, sandbox: &Sandbox) -> Vec<String> {
    let config = serde_json::json!({"before": "nib_before.py", "after": "nib_after.py"});
    let config = config.to_string();
    let files = [
        ("nib_before.py", before),
        ("nib_after.py", after),
        ("nib_names.json", config.as_str()),
    ];
    let quick = sandbox.with_timeout(Duration::from_secs(10).min(sandbox.config().timeout));
    let run = quick.run_files(&files, FINDER);
    let names = run
        .records()
        .filter_map(|v| {
            v["new"].as_array().map(|names| {
                names
                    .iter()
                    .filter_map(|n| n.as_str().map(str::to_string))
                    .collect::<Vec<_>>()
            })
        })
        .next()
        .unwrap_or_default();
    names
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_sandbox as sandbox;

    const BEFORE: &str = r#"import os


def max_fill(grid, capacity):
    import math
    """Buckets lowered."""
    return sum([math.ceil(sum(row) / capacity) for row in grid])


class Shelf:
    SIZE = 3

    def slots(self):
        return [Shelf.SIZE for _ in range(2)] + [missing_before]


def counter():
    global COUNT
    COUNT = 1
    return lambda y: y + COUNT + len(os.sep)
"#;

    #[test]
    fn a_name_the_change_uses_unbound_is_found_and_older_ones_are_not() {
        let after = BEFORE
            .replace("    import math\n", "")
            .replace("len(os.sep)", "len(os.sep) + SIZE");
        assert_eq!(
            new_undefined_names(BEFORE, &after, &sandbox()),
            vec!["SIZE".to_string(), "math".to_string()],
            "`missing_before` was unbound before the change too; `SIZE` is the class's, not a global"
        );
    }

    #[test]
    fn a_change_binding_every_name_it_uses_has_none() {
        let after = BEFORE.replace(
            "    import math\n    \"\"\"Buckets lowered.\"\"\"\n    return sum([math.ceil(sum(row) / capacity) for row in grid])",
            "    \"\"\"Buckets lowered.\"\"\"\n    return sum(-(-sum(row) // capacity) for row in grid)",
        );
        assert_ne!(after, BEFORE);
        assert!(new_undefined_names(BEFORE, &after, &sandbox()).is_empty());
        let imported = format!("import math\n{}", BEFORE.replace("    import math\n", ""));
        assert!(new_undefined_names(BEFORE, &imported, &sandbox()).is_empty());
    }

    #[test]
    fn a_star_import_or_a_syntax_error_gives_no_verdict() {
        let starred = format!(
            "from math import *\n{}",
            BEFORE.replace("    import math\n", "")
        );
        assert!(new_undefined_names(BEFORE, &starred, &sandbox()).is_empty());
        assert!(
            new_undefined_names(BEFORE, "def f(:\n    return math.pi\n", &sandbox()).is_empty()
        );
    }
}
