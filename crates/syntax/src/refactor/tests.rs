use super::*;
use expect_test::{expect, Expect};

fn check(code: &str, want: Expect) {
    let out: String = refactor_hints(Language::Python, code)
        .iter()
        .map(|h| format!("{}: {} -- {}\n", h.line, h.code, h.advice))
        .collect();
    want.assert_eq(&out);
}

#[test]
fn a_counting_loop_and_an_index_from_the_end() {
    check(
        r#"def smallest_change(arr):
    """Changes to make arr a palindrome."""
    ans = 0
    for i in range(len(arr) // 2):
        if arr[i] != arr[len(arr) - i - 1]:
            ans += 1
    return ans
"#,
        expect![[r#"
            4: for i in range(len(arr) // 2): -- `len(arr)` is computed 2 times: name it once
            4: for i in range(len(arr) // 2): -- the loop only adds to `ans`: `sum(...)` (numbers) or `''.join(...)` (strings) over a generator expression with an `if` says it in one expression
            5: arr[len(arr) - i - 1] -- `arr[len(arr) - i - 1]` is `arr[-(i + 1)]`: a negative index
        "#]],
    );
}

#[test]
fn collecting_loops_index_loops_and_boolean_returns() {
    check(
        r#"def f(xs, words):
    out = []
    for w in words:
        out.append(w.strip())
    for i in range(len(xs)):
        print(i, xs[i])
    if len(out) > 3:
        return True
    return False
"#,
        expect![[r#"
            3: for w in words: -- the loop only appends to `out`: a list comprehension builds it in one expression
            5: for i in range(len(xs)): -- the loop reads `xs[i]`: `for i, x in enumerate(xs)` (or iterating over `xs` itself) names the item
            7: if len(out) > 3: -- returning `True`/`False` by a condition is `return <condition>` (wrap it in `bool(...)` if the condition is not already a bool)
        "#]],
    );
}

#[test]
fn else_after_return_and_repeated_pure_calls() {
    check(
        r#"def g(s, n):
    if n < 0:
        raise ValueError(n)
    else:
        t = s.lower()
    return t.count("a") + len(s) * len(s)
"#,
        expect![[r#"
            2: if n < 0: -- the `if` branch ends in a `raise`: the `else:` can go and its body move one level out (an early raise)
            6: return t.count("a") + len(s) * len(s) -- `len(s)` is computed 2 times: name it once
        "#]],
    );
}

#[test]
fn nothing_where_the_pattern_does_not_hold() {
    // A name reassigned or mutated between calls; an index that could be `len(xs) - 0`;
    // an `if` returning the same value both ways (no `return <condition>`; only its `else`
    // after a `return`); a loop doing two things; other languages; a syntax error.
    check(
        r#"def h(xs, k):
    a = len(xs)
    xs.append(1)
    b = len(xs)
    y = xs[len(xs) - k]
    if a > b:
        return True
    else:
        return True
    for x in xs:
        a += x
        b += x
"#,
        expect![[r#"
            6: if a > b: -- the `if` branch ends in a `return`: the `else:` can go and its body move one level out (an early return)
            10: for x in xs: -- the loop only folds `x` into names: `a` is `sum(...)`, `b` is `sum(...)` of what it iterates over (`math.prod` needs `import math`)
        "#]],
    );
    assert!(refactor_hints(Language::Rust, "fn f() { for i in 0..3 { s += i; } }").is_empty());
    assert!(refactor_hints(Language::Python, "def f(:\n  for x in y:\n    t += x\n").is_empty());
}

#[test]
fn folds_bounds_counters_and_branch_chains() {
    check(
        r#"def k(numbers, text, s, g):
    total = 0
    prod = 1
    for n in numbers:
        total += n
        prod *= n
    if (s < 0):
        s = 0
    i = 0
    while i < len(text):
        print(text[i])
        i += 1
    if g > 3:
        out = "A"
    elif g > 2:
        out = "B"
    elif g > 1:
        out = "C"
    else:
        out = "D"
    return True if total > s else False
"#,
        expect![[r#"
            4: for n in numbers: -- the loop only folds `n` into names: `total` is `sum(...)`, `prod` is `math.prod(...)` of what it iterates over (`math.prod` needs `import math`)
            7: if (s < 0): -- the `if` only bounds `s`: `s = max(s, 0)`
            10: while i < len(text): -- `i` only counts up by one: `for i in range(...)` says so (and drops the `i += 1`)
            13: if g > 3: -- the 4 branches differ only in the value in `out = ...`: a helper function returning the value (or a table of conditions and values) says it once
        "#]],
    );
    // Only the first MAX_HINTS are told: the last line's conditional, alone, is one.
    check(
        "def c(t, s):\n    return True if t > s else False\n",
        expect![[r#"
            2: return True if t > s else False -- `True if <condition> else False` is the condition itself (`bool(...)` if it is not already a bool; `not` for the reverse)
        "#]],
    );
    // A counter changed elsewhere in the loop, or skipped by `continue`, is not a `range`.
    check(
        r#"def w(text):
    i = 0
    while i < len(text):
        if text[i] == " ":
            i += 2
        i += 1
    j = 0
    while j < 3:
        if j:
            continue
        j += 1
"#,
        expect![""],
    );
}
