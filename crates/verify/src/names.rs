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

/// What [`new_undefined_names`] found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Undefined {
    /// The names, sorted.
    pub names: Vec<String>,
    /// For each of them the standard library has (a module, or a name of `math`, `typing`,
    /// `itertools`, `functools`, `collections`, ...): the name and the statement importing it.
    pub imports: Vec<(String, String)>,
}

impl Undefined {
    /// The statements binding every name, when each has one.
    pub fn imports_for_all(&self) -> Option<Vec<String>> {
        (!self.names.is_empty() && self.imports.len() == self.names.len())
            .then(|| self.imports.iter().map(|(_, s)| s.clone()).collect())
    }
}

/// Names `after` uses as globals without binding them (no assignment, import, definition, nor
/// a builtin) that `before` does not already use unbound, sorted, with the imports the
/// standard library offers for them. None when either does not parse, imports with `*`, or
/// the sandbox fails.
pub fn new_undefined_names(before: &str, after: &str, sandbox: &Sandbox) -> Undefined {
    let config = serde_json::json!({"before": "nib_before.py", "after": "nib_after.py"});
    let config = config.to_string();
    let files = [
        ("nib_before.py", before),
        ("nib_after.py", after),
        ("nib_names.json", config.as_str()),
    ];
    let quick = sandbox.with_timeout(Duration::from_secs(10).min(sandbox.config().timeout));
    let run = quick.run_files(&files, FINDER);
    let found = run
        .records()
        .find_map(|v| {
            let names: Vec<String> = v["new"]
                .as_array()?
                .iter()
                .filter_map(|n| n.as_str().map(str::to_string))
                .collect();
            let imports = names
                .iter()
                .filter_map(|n| Some((n.clone(), v["imports"][n].as_str()?.to_string())))
                .collect();
            Some(Undefined { names, imports })
        })
        .unwrap_or_default();
    found
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
        let found = new_undefined_names(BEFORE, &after, &sandbox());
        assert_eq!(
            found.names,
            vec!["SIZE".to_string(), "math".to_string()],
            "`missing_before` was unbound before the change too; `SIZE` is the class's, not a global"
        );
        // The standard library has `math`, not `SIZE`: no import binds them all.
        assert_eq!(
            found.imports,
            vec![("math".to_string(), "import math".to_string())]
        );
        assert_eq!(found.imports_for_all(), None);
    }

    #[test]
    fn standard_library_names_come_with_their_import() {
        let before = "def f(xs):\n    return xs\n";
        let after = "def f(xs: List[int]) -> int:\n    return factorial(len(xs)) + math.prod(xs) + reduce(max, xs)\n";
        let found = new_undefined_names(before, after, &sandbox());
        assert_eq!(
            found.imports_for_all(),
            Some(vec![
                "from typing import List".to_string(),
                "from math import factorial".to_string(),
                "import math".to_string(),
                "from functools import reduce".to_string(),
            ])
        );
        // A lost loop variable named like a constant (`math.e`) is not imported.
        let after = "def f(xs):\n    return [e for x in xs]\n";
        let found = new_undefined_names(before, after, &sandbox());
        assert_eq!(found.names, vec!["e".to_string()]);
        assert_eq!(found.imports_for_all(), None);
    }

    #[test]
    fn a_change_binding_every_name_it_uses_has_none() {
        let after = BEFORE.replace(
            "    import math\n    \"\"\"Buckets lowered.\"\"\"\n    return sum([math.ceil(sum(row) / capacity) for row in grid])",
            "    \"\"\"Buckets lowered.\"\"\"\n    return sum(-(-sum(row) // capacity) for row in grid)",
        );
        assert_ne!(after, BEFORE);
        assert!(new_undefined_names(BEFORE, &after, &sandbox())
            .names
            .is_empty());
        let imported = format!("import math\n{}", BEFORE.replace("    import math\n", ""));
        assert!(new_undefined_names(BEFORE, &imported, &sandbox())
            .names
            .is_empty());
    }

    #[test]
    fn a_star_import_or_a_syntax_error_gives_no_verdict() {
        let starred = format!(
            "from math import *\n{}",
            BEFORE.replace("    import math\n", "")
        );
        assert_eq!(
            new_undefined_names(BEFORE, &starred, &sandbox()),
            Undefined::default()
        );
        assert_eq!(
            new_undefined_names(BEFORE, "def f(:\n    return math.pi\n", &sandbox()),
            Undefined::default()
        );
    }
}
