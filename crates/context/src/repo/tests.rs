use super::*;
use crate::env::{is_manifest, Environment};
use crate::test_support::{fixture_files, load_fixture};
use expect_test::{expect, Expect};
use nib_engine::ApproxTokenCounter;
use proptest::prelude::*;

struct Fixture {
    index: WorkspaceIndex,
    files: Vec<(String, String)>,
    env: Environment,
}

fn fixture(name: &str) -> Fixture {
    let files = fixture_files(name);
    let env = Environment::from_manifests(
        files
            .iter()
            .filter(|(p, _)| is_manifest(p.rsplit('/').next().unwrap()))
            .map(|(p, t)| (p.as_str(), t.as_str())),
    );
    Fixture {
        index: load_fixture(name),
        files,
        env,
    }
}

impl Fixture {
    fn text(&self, path: &str) -> &str {
        &self.files.iter().find(|(p, _)| p == path).unwrap().1
    }

    /// Context for `path` with its text edited: `marker` replaced by `insert` and the
    /// cursor at the end of `insert` (or at `$0` inside it).
    fn context(
        &self,
        path: &str,
        marker: &str,
        insert: &str,
        open: &[&str],
        config: &RepoConfig,
    ) -> RepoContext {
        let (text, cursor) = edited(self.text(path), marker, insert);
        let open: Vec<OpenFile> = open
            .iter()
            .map(|p| OpenFile {
                path: p,
                text: self.text(p),
            })
            .collect();
        let lang = Language::from_path(std::path::Path::new(path));
        let req = RepoRequest {
            path,
            lang,
            text: &text,
            cursor,
            tree: None,
            open_files: &open,
            env: Some(&self.env),
        };
        repo_context(&self.index, &req, &ApproxTokenCounter, config)
    }
}

fn edited(text: &str, marker: &str, insert: &str) -> (String, usize) {
    let at = text.find(marker).expect("marker in fixture");
    let (ins, cur) = match insert.find("$0") {
        Some(i) => (insert.replacen("$0", "", 1), i),
        None => (insert.to_string(), insert.len()),
    };
    let mut t = text.to_string();
    t.replace_range(at..at + marker.len(), &ins);
    (t, at + cur)
}

fn render(ctx: &RepoContext) -> String {
    let mut out = String::new();
    for p in &ctx.pieces {
        out.push_str(&format!(
            "== {:?} {} {}..{}\n{}",
            p.kind, p.path, p.lines.start, p.lines.end, p.text
        ));
        if !p.text.ends_with('\n') {
            out.push('\n');
        }
    }
    for d in &ctx.report.dropped {
        out.push_str(&format!(
            "-- dropped {:?} {} ({})\n",
            d.kind, d.path, d.reason
        ));
    }
    out
}

fn check(ctx: &RepoContext, expect: Expect) {
    expect.assert_eq(&render(ctx));
}

#[test]
fn python_call_on_cursor_line_brings_its_definition() {
    let f = fixture("pyproj");
    let ctx = f.context(
        "app.py",
        "        receipts.append(charge(item, \"visa\"))",
        "        receipts.append(charge(item, \"visa\"))\n        price = item.with_tax(",
        &["shop/payments/gateway.py"],
        &RepoConfig::default(),
    );
    check(
        &ctx,
        expect![[r#"
            == Environment environment 0..0
            # Python 3.11.9
            == Definition shop/models.py 12..15
            class Item:
                def with_tax(self) -> float:
                    """The price including tax."""
                    ...
            == Definition shop/models.py 17..20
            def make_item(name: str, price: float = 0.0) -> Item:
                """Build an item, rounding the price to cents."""
                ...
            == Definition shop/payments/gateway.py 6..11
            def charge(item: Item, card: str) -> dict:
                """Charge a card for an item and return the provider's reply."""
                ...
            == Snippet shop/payments/gateway.py 0..11
            import requests

            from ..models import Item, make_item
            from . import fees


            def charge(item: Item, card: str) -> dict:
                """Charge a card for an item and return the provider's reply."""
                amount = item.with_tax()
                total = amount + fees.fee_for(amount, card=card)
                return requests.post("https://pay.invalid/charge", json={"total": total}).json()
            == Bm25 shop/payments/__init__.py 0..1
            from .gateway import charge
            == Bm25 shop/payments/fees.py 0..4
            def fee_for(amount: float, *, card: str = "visa") -> float:
                """The card fee for an amount."""
                rate = 0.029 if card == "visa" else 0.035
                return round(amount * rate + 0.30, 2)
        "#]],
    );
}

#[test]
fn python_relative_imports_resolve_to_definitions() {
    let f = fixture("pyproj");
    let ctx = f.context(
        "shop/payments/gateway.py",
        "    amount = item.with_tax()",
        "    base = make_item(item.name, fees.fee_for(1.0))$0\n    amount = item.with_tax()",
        &[],
        &RepoConfig::default(),
    );
    check(
        &ctx,
        expect![[r#"
            == Environment environment 0..0
            # Python 3.11.9
            # requests 2.32.3
            == Definition shop/models.py 6..15
            @dataclass
            class Item:
                """One thing for sale."""
                name: str
                price: float
                def with_tax(self) -> float: ...
            == Definition shop/models.py 17..20
            def make_item(name: str, price: float = 0.0) -> Item:
                """Build an item, rounding the price to cents."""
                ...
            == Definition shop/payments/fees.py 0..4
            def fee_for(amount: float, *, card: str = "visa") -> float:
                """The card fee for an amount."""
                ...
            == Bm25 app.py 0..10
            import shop.models as m
            from shop.payments.gateway import charge


            def checkout(names: list[str]) -> list[dict]:
                receipts = []
                for name in names:
                    item = m.make_item(name, 9.99)
                    receipts.append(charge(item, "visa"))
                return receipts
        "#]],
    );
}

#[test]
fn rust_use_and_mod_paths_resolve_to_definitions() {
    let f = fixture("rscrate");
    let ctx = f.context(
        "src/util.rs",
        "        store.insert(Item::new(name, 100));",
        "        store.insert(Item::new(name, 100));\n        store.remove(",
        &[],
        &RepoConfig::default(),
    );
    check(
        &ctx,
        expect![[r#"
            == Environment environment 0..0
            // Rust 1.82.0
            == Definition src/store/item.rs 4..8
            /// One thing for sale; prices are in cents.
            #[derive(Debug, Clone, Serialize)]
            pub struct Item {
                pub name: String,
                pub price_cents: u64,
            }
            == Definition src/store/item.rs 9..14
            impl Item {
                pub fn new(name: &str, price_cents: u64) -> Item;
            }
            == Definition src/store/mod.rs 6..9
            /// Items by name.
            #[derive(Debug, Default)]
            pub struct Store {
                items: Vec<Item>,
            }
            == Definition src/store/mod.rs 10..24
            impl Store {
                pub fn insert(&mut self, item: Item) -> Option<Item>;
                pub fn remove(&mut self, name: &str) -> Option<Item>;
            }
            == Bm25 src/lib.rs 0..10
            //! A tiny store crate used by nib's context tests.

            mod store;
            pub mod util;

            pub use store::Store;

            pub fn open() -> Store {
                Store::default()
            }
        "#]],
    );
}

#[test]
fn small_budget_keeps_the_best_and_reports_the_rest() {
    let f = fixture("pyproj");
    let config = RepoConfig {
        budget_tokens: 60,
        ..RepoConfig::default()
    };
    let ctx = f.context(
        "shop/payments/gateway.py",
        "    amount = item.with_tax()",
        "    base = make_item(item.name, fees.fee_for(1.0))$0\n    amount = item.with_tax()",
        &[],
        &config,
    );
    assert!(ctx.report.used_tokens <= 60);
    assert!(!ctx.report.dropped.is_empty());
    check(
        &ctx,
        expect![[r#"
            == Environment environment 0..0
            # Python 3.11.9
            # requests 2.32.3
            == Definition shop/models.py 17..20
            def make_item(name: str, price: float = 0.0) -> Item:
                """Build an item, rounding the price to cents."""
                ...
            -- dropped Definition shop/payments/fees.py (budget)
            -- dropped Definition shop/models.py (budget)
            -- dropped Bm25 app.py (budget)
        "#]],
    );
}

#[test]
fn typing_inside_a_function_keeps_the_pieces() {
    let mut f = fixture("pyproj");
    let typed = "        subtotal = sum(len(r) for r in receipts) + total_of(receipts)";
    let marker = "    return receipts";
    // Two open files: one like the code above the cursor, one like the line being typed.
    let like_above = "for name in names:\n    item = make_item(name)\n";
    let like_typed = "def summary(receipts):\n    subtotal = sum(len(r) for r in receipts)\n    return subtotal + total_of(receipts)\n";
    let open = [
        OpenFile {
            path: "scratch/above.py",
            text: like_above,
        },
        OpenFile {
            path: "scratch/typed.py",
            text: like_typed,
        },
    ];
    let config = RepoConfig {
        max_snippets: 1,
        ..RepoConfig::default()
    };
    let key = |ctx: &RepoContext| -> Vec<(PieceKind, String, Range<usize>)> {
        ctx.pieces
            .iter()
            .map(|p| (p.kind, p.path.clone(), p.lines.clone()))
            .collect()
    };
    let mut first: Option<RepoContext> = None;
    for n in 0..=typed.len() {
        let insert = format!("{}$0\n{marker}", &typed[..n]);
        let (text, cursor) = edited(f.text("app.py"), marker, &insert);
        // The server updates the index on every change, as here.
        f.index.update_file("app.py", Some(Language::Python), &text);
        let req = RepoRequest {
            path: "app.py",
            lang: Some(Language::Python),
            text: &text,
            cursor,
            tree: None,
            open_files: &open,
            env: Some(&f.env),
        };
        let ctx = repo_context(&f.index, &req, &ApproxTokenCounter, &config);
        let first = first.get_or_insert_with(|| ctx.clone());
        assert!(first.pieces.iter().any(|p| p.path == "scratch/above.py"));
        assert_eq!(key(&ctx), key(first), "after typing {:?}", &typed[..n]);
        assert_eq!(ctx.files(), first.files());
    }
}

#[test]
fn files_merge_consecutive_pieces_of_one_path() {
    let f = fixture("pyproj");
    let ctx = f.context(
        "shop/payments/gateway.py",
        "    amount = item.with_tax()",
        "    base = make_item(item.name, fees.fee_for(1.0))$0\n    amount = item.with_tax()",
        &[],
        &RepoConfig::default(),
    );
    let files = ctx.files();
    let paths: Vec<&str> = files.iter().map(|f| f.path.as_str()).collect();
    let mut dedup = paths.clone();
    dedup.dedup();
    assert_eq!(paths, dedup);
    assert!(files.len() < ctx.pieces.len());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn budget_is_never_exceeded(budget in 0usize..400, at in 0usize..2000, which in 0usize..3, extra in "[a-zé😀_ \n(]{0,40}") {
        let f = fixture("pyproj");
        let paths = ["app.py", "shop/payments/gateway.py", "shop/models.py"];
        let path = paths[which];
        let mut text = f.text(path).to_string();
        let mut cursor = floor_char(&text, at.min(text.len()));
        text.insert_str(cursor, &extra);
        cursor += extra.len();
        let unicode_open = format!("{}\n# é😀 {extra}\n", f.text("shop/payments/fees.py"));
        let open = [
            OpenFile { path: "shop/payments/fees.py", text: &unicode_open },
            OpenFile { path: "shop/models.py", text: f.text("shop/models.py") },
        ];
        let req = RepoRequest {
            path,
            lang: Some(Language::Python),
            text: &text,
            cursor,
            tree: None,
            open_files: &open,
            env: Some(&f.env),
        };
        let config = RepoConfig { budget_tokens: budget, ..RepoConfig::default() };
        let ctx = repo_context(&f.index, &req, &ApproxTokenCounter, &config);
        let total: usize = ctx.pieces.iter().map(|p| {
            ApproxTokenCounter.count(&p.path) + ApproxTokenCounter.count(&p.text) + PIECE_OVERHEAD_TOKENS
        }).sum();
        prop_assert!(total <= budget);
        prop_assert_eq!(total, ctx.report.used_tokens);
        for p in &ctx.pieces {
            if matches!(p.kind, PieceKind::Snippet | PieceKind::Bm25) {
                let src = open.iter().find(|o| o.path == p.path).map(|o| o.text)
                    .unwrap_or_else(|| f.text(&p.path));
                prop_assert!(src.contains(p.text.as_str()));
            }
        }
    }
}

fn definitions_for(index: &WorkspaceIndex, path: &str, fixture: &str) -> Vec<String> {
    let (text, cursor) = edited(fixture, "$0", "");
    let req = RepoRequest {
        path,
        lang: Some(Language::Python),
        text: &text,
        cursor,
        tree: None,
        open_files: &[],
        env: None,
    };
    let config = RepoConfig {
        max_bm25: 0,
        ..RepoConfig::default()
    };
    repo_context(index, &req, &ApproxTokenCounter, &config)
        .pieces
        .iter()
        .filter(|p| p.kind == PieceKind::Definition)
        .map(|p| format!("{}:{}", p.path, p.lines.start))
        .collect()
}

#[test]
fn words_in_strings_and_unrelated_members_are_not_looked_up() {
    let mut index = WorkspaceIndex::new();
    let py = Some(Language::Python);
    index.update_file(
        "lib/widgets.py",
        py,
        "def autocomplete(x):\n    return x\n\n\nclass Form:\n    def render_all(self):\n        pass\n",
    );
    let plain = "def view(form):\n    label = \"autocomplete\"  # autocomplete\n    form.render_all()\n    $0\n";
    assert_eq!(
        definitions_for(&index, "app.py", plain),
        Vec::<String>::new()
    );
    // Once the module is imported, its members count, and the class outline covers them.
    let imported = format!("from lib.widgets import Form\n{plain}");
    assert_eq!(
        definitions_for(&index, "app.py", &imported),
        ["lib/widgets.py:4"]
    );
    // A top-level function is found by its name alone when used as code.
    let called = "def view(form):\n    autocomplete(form)\n    $0\n";
    assert_eq!(
        definitions_for(&index, "app.py", called),
        ["lib/widgets.py:0"]
    );
}

#[test]
fn long_docs_are_cut_to_their_first_paragraph() {
    let doc = "\"\"\"Summary line.\n\n    Details that go on\n    and on.\n    \"\"\"";
    assert_eq!(short_doc(doc), "\"\"\"Summary line.\n    \"\"\"");
    let rust = "/// One.\n/// Two.\n///\n/// Three.";
    assert_eq!(short_doc(rust), "/// One.\n/// Two.");
    let long: String = (0..20).map(|i| format!("/// line {i}\n")).collect();
    assert_eq!(short_doc(&long).lines().count(), MAX_DOC_LINES);
    assert_eq!(short_doc("/// short"), "/// short");
}

fn context_with(
    index: &WorkspaceIndex,
    path: &str,
    fixture: &str,
    config: &RepoConfig,
) -> RepoContext {
    let (text, cursor) = edited(fixture, "$0", "");
    let lang = Language::from_path(std::path::Path::new(path));
    let req = RepoRequest {
        path,
        lang,
        text: &text,
        cursor,
        tree: None,
        open_files: &[],
        env: None,
    };
    repo_context(index, &req, &ApproxTokenCounter, config)
}

fn dropped(ctx: &RepoContext) -> Vec<String> {
    ctx.report
        .dropped
        .iter()
        .map(|d| format!("{:?} {}:{} ({})", d.kind, d.path, d.lines.start, d.reason))
        .collect()
}

#[test]
fn names_defined_near_the_cursor_get_no_definition_piece() {
    let mut index = WorkspaceIndex::new();
    index.update_file(
        "lib/util.py",
        Some(Language::Python),
        "def helper(x):\n    return x\n\n\ndef other(y):\n    return y\n",
    );
    // app.py is not indexed: the text itself says what it defines.
    let text =
        "def helper(x):\n    return x + 1\n\n\ndef main():\n    helper(1)\n    other(2)\n    $0\n";
    let config = RepoConfig {
        max_bm25: 0,
        ..RepoConfig::default()
    };
    let ctx = context_with(&index, "app.py", text, &config);
    let defs: Vec<String> = ctx
        .pieces
        .iter()
        .map(|p| format!("{}:{}", p.path, p.lines.start))
        .collect();
    assert_eq!(defs, ["lib/util.py:4"]);
    assert_eq!(
        dropped(&ctx),
        ["Definition lib/util.py:0 (defined near the cursor)"]
    );
    assert_eq!(ctx.report.included.len(), 1);

    // Defined far above the window: the prompt may not show it, so the other one is shown.
    let narrow = RepoConfig {
        window_lines_above: 3,
        ..config
    };
    let ctx = context_with(&index, "app.py", text, &narrow);
    let defs: Vec<String> = ctx
        .pieces
        .iter()
        .map(|p| format!("{}:{}", p.path, p.lines.start))
        .collect();
    assert_eq!(defs, ["lib/util.py:0", "lib/util.py:4"]);
    assert!(ctx.report.dropped.is_empty());

    // A method of the same name in the window does not hide a top-level function.
    let method =
        "class K:\n    def helper(self):\n        pass\n\n\ndef main():\n    helper(1)\n    $0\n";
    let ctx = context_with(&index, "app.py", method, &config);
    assert_eq!(ctx.pieces.len(), 1, "{:?}", dropped(&ctx));
    assert_eq!(ctx.pieces[0].lines.start, 0);
}

#[test]
fn definitions_used_nearest_the_cursor_come_first_and_are_capped() {
    let names = [
        "alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel",
    ];
    let lib: String = names
        .iter()
        .map(|n| format!("def {n}_fn():\n    pass\n\n\n"))
        .collect();
    let mut index = WorkspaceIndex::new();
    index.update_file("lib/many.py", Some(Language::Python), &lib);
    let calls: String = names.iter().map(|n| format!("    {n}_fn()\n")).collect();
    let config = RepoConfig {
        max_bm25: 0,
        ..RepoConfig::default()
    };
    let kept = |ctx: &RepoContext| -> Vec<usize> {
        ctx.pieces.iter().map(|p| p.lines.start / 4).collect()
    };

    // Cursor below the calls: the last six are nearest.
    let below = format!("def main():\n{calls}    $0\n");
    let ctx = context_with(&index, "app.py", &below, &config);
    assert_eq!(config.max_definitions, 6);
    assert_eq!(kept(&ctx), [2, 3, 4, 5, 6, 7]);
    assert_eq!(
        dropped(&ctx),
        [
            "Definition lib/many.py:4 (max_definitions)",
            "Definition lib/many.py:0 (max_definitions)"
        ]
    );

    // Cursor above them: the first six.
    let above = format!("def main():\n    $0\n{calls}");
    let ctx = context_with(&index, "app.py", &above, &config);
    assert_eq!(kept(&ctx), [0, 1, 2, 3, 4, 5]);
    assert_eq!(ctx.report.dropped.len(), 2);
}

#[test]
fn bm25_leaves_out_tests_and_examples_unless_the_current_file_is_a_test() {
    let py = Some(Language::Python);
    let body = "ledger_total = ledger_balance + ledger_fee\nledger_report(ledger_total)\n";
    let mut index = WorkspaceIndex::new();
    for p in [
        "src/books.py",
        "tests/test_books.py",
        "test_top.py",
        "pkg/books_test.py",
        "conftest.py",
        "examples/demo.py",
    ] {
        index.update_file(p, py, body);
    }
    // A Rust file whose ledger code is all in its `#[cfg(test)]` module.
    let mut rs = String::from("pub fn open() {}\n\n#[cfg(test)]\nmod tests {\n");
    for _ in 0..40 {
        rs.push_str("    fn t() { let ledger_total = ledger_balance + ledger_fee; }\n");
    }
    rs.push_str("}\n");
    index.update_file("src/lib.rs", Some(Language::Rust), &rs);
    let config = RepoConfig {
        max_bm25: 10,
        budget_tokens: 100_000,
        ..RepoConfig::default()
    };
    let text = "x = ledger_balance + ledger_fee\nledger_total = x\n$0\n";
    let bm25 = |ctx: &RepoContext| -> Vec<String> {
        let mut v: Vec<String> = ctx
            .pieces
            .iter()
            .filter(|p| p.kind == PieceKind::Bm25)
            .map(|p| format!("{}:{}", p.path, p.lines.start))
            .collect();
        v.sort();
        v.dedup();
        v
    };
    let ctx = context_with(&index, "app.py", text, &config);
    let hits = bm25(&ctx);
    assert_eq!(
        hits,
        ["src/books.py:0"],
        "a test, an example or another language"
    );

    let ctx = context_with(&index, "tests/test_app.py", text, &config);
    let hits = bm25(&ctx);
    for p in [
        "tests/test_books.py:0",
        "conftest.py:0",
        "examples/demo.py:0",
    ] {
        assert!(hits.contains(&p.to_string()), "{p} missing from {hits:?}");
    }

    // Rust: the `#[cfg(test)]` module is searched only from a test.
    let rs_text = "fn run() {
    let x = ledger_balance + ledger_fee;
    $0
}
";
    let ctx = context_with(&index, "src/main.rs", rs_text, &config);
    let hits = bm25(&ctx);
    assert!(
        hits.iter().all(|h| h == "src/lib.rs:0"),
        "test module searched: {hits:?}"
    );
    let ctx = context_with(&index, "tests/it.rs", rs_text, &config);
    let hits = bm25(&ctx);
    assert!(
        hits.iter()
            .any(|h| h.starts_with("src/lib.rs:") && h != "src/lib.rs:0"),
        "{hits:?}"
    );
}

#[test]
fn pieces_come_from_files_of_the_current_language() {
    let mut index = WorkspaceIndex::new();
    index.update_file(
        "src/settings.rs",
        Some(Language::Rust),
        "/// Context length.\npub fn context_length(tokens: u32) -> u32 {\n    tokens * 2\n}\n",
    );
    index.update_file(
        "lib/sizes.py",
        Some(Language::Python),
        "def context_length(tokens):\n    \"\"\"Context length.\"\"\"\n    return tokens * 2\n",
    );
    let config = RepoConfig {
        max_bm25: 10,
        budget_tokens: 100_000,
        ..RepoConfig::default()
    };
    let paths = |ctx: &RepoContext| -> Vec<String> {
        let mut v: Vec<String> = ctx.pieces.iter().map(|p| p.path.clone()).collect();
        v.sort();
        v.dedup();
        v
    };
    let py = context_with(
        &index,
        "app.py",
        "n = context_length(tokens)\n$0\n",
        &config,
    );
    assert_eq!(paths(&py), ["lib/sizes.py"]);
    let rs = context_with(
        &index,
        "src/main.rs",
        "fn main() {\n    let n = context_length(tokens);\n    $0\n}\n",
        &config,
    );
    assert_eq!(paths(&rs), ["src/settings.rs"]);
    // Open files of another language give no snippets either.
    let text = "n = context_length(tokens)\n";
    let open = [OpenFile {
        path: "src/settings.rs",
        text: "pub fn context_length(tokens: u32) -> u32 {\n    tokens * 2\n}\n",
    }];
    let (t, cursor) = edited(text, "\n", "\n");
    let req = RepoRequest {
        path: "app.py",
        lang: Some(Language::Python),
        text: &t,
        cursor,
        tree: None,
        open_files: &open,
        env: None,
    };
    let ctx = repo_context(&index, &req, &ApproxTokenCounter, &config);
    assert!(
        ctx.pieces.iter().all(|p| p.path != "src/settings.rs"),
        "{:?}",
        paths(&ctx)
    );
}

#[test]
fn test_and_example_paths() {
    for p in [
        "tests/a.py",
        "pkg/test/a.py",
        "test_a.py",
        "pkg/a_test.py",
        "conftest.py",
        "crates/x/tests/it.rs",
        "src/repo/tests.rs",
        "examples/demo.rs",
    ] {
        assert!(is_test_or_example(p), "{p}");
    }
    for p in [
        "src/lib.rs",
        "testing_utils.py",
        "contest.py",
        "src/attest.rs",
    ] {
        assert!(!is_test_or_example(p), "{p}");
    }
}

#[test]
fn a_module_the_cursor_line_reaches_into_comes_with_its_outline() {
    let f = fixture("pyproj");
    let config = RepoConfig {
        max_bm25: 0,
        ..RepoConfig::default()
    };
    // `m` is `import shop.models as m`: the names after `m.` are what models.py offers.
    let ctx = f.context(
        "app.py",
        "        receipts.append(charge(item, \"visa\"))",
        "        receipts.append(charge(item, \"visa\"))\n        rate = m.",
        &[],
        &config,
    );
    check(
        &ctx,
        expect![[r#"
            == Environment environment 0..0
            # Python 3.11.9
            == Definition shop/models.py 2..7
            TAX_RATE = 0.2
            class Item: ...
            == Definition shop/models.py 17..20
            def make_item(name: str, price: float = 0.0) -> Item:
                """Build an item, rounding the price to cents."""
                ...
            == Definition shop/payments/gateway.py 6..11
            def charge(item: Item, card: str) -> dict:
                """Charge a card for an item and return the provider's reply."""
                ...
        "#]],
    );
    // Not for a name that is no module, nor in a comment.
    for line in ["        rate = item.", "        # see m."] {
        let ctx = f.context(
            "app.py",
            "        receipts.append(charge(item, \"visa\"))",
            &format!("        receipts.append(charge(item, \"visa\"))\n{line}"),
            &[],
            &config,
        );
        assert!(
            !render(&ctx).contains("TAX_RATE"),
            "{line}: {}",
            render(&ctx)
        );
    }
}

#[test]
fn a_rust_path_on_the_cursor_line_brings_the_module_outline() {
    let f = fixture("rscrate");
    let config = RepoConfig {
        max_bm25: 0,
        ..RepoConfig::default()
    };
    let ctx = f.context(
        "src/lib.rs",
        "pub use store::Store;",
        "pub use crate::util::",
        &[],
        &config,
    );
    check(
        &ctx,
        expect![[r#"
            == Environment environment 0..0
            // Rust 1.82.0
            == Definition src/store/mod.rs 6..9
            /// Items by name.
            #[derive(Debug, Default)]
            pub struct Store {
                items: Vec<Item>,
            }
            == Definition src/store/mod.rs 10..24
            impl Store {
                pub fn insert(&mut self, item: Item) -> Option<Item>;
                pub fn remove(&mut self, name: &str) -> Option<Item>;
            }
            == Definition src/util.rs 4..9
            pub fn total(items: &[Item]) -> u64 { ... }
            pub fn restock(store: &mut Store, names: &[&str]) { ... }
        "#]],
    );
}

#[test]
fn an_impl_in_the_current_file_does_not_hide_the_type_defined_elsewhere() {
    let f = fixture("rscrate");
    let config = RepoConfig {
        max_bm25: 0,
        ..RepoConfig::default()
    };
    let ctx = f.context(
        "src/util.rs",
        "/// Total price",
        "impl Default for Item {\n    fn default() -> Item {\n        Item::$0\n    }\n}\n\n/// Total price",
        &[],
        &config,
    );
    let shown = render(&ctx);
    assert!(
        shown.contains("pub struct Item {") && shown.contains("pub fn new(name: &str"),
        "{shown}"
    );
    // Nor once the index has the file with the impl (its definitions are the file's own).
    let mut f = f;
    let insert = "impl Default for Item {\n    fn default() -> Item {\n        Item::$0\n    }\n}\n\n/// Total price";
    let (text, _) = edited(f.text("src/util.rs"), "/// Total price", insert);
    f.index
        .update_file("src/util.rs", Some(Language::Rust), &text);
    let narrow = RepoConfig {
        window_lines_above: 0,
        window_lines_below: 0,
        ..config
    };
    let ctx = f.context("src/util.rs", "/// Total price", insert, &[], &narrow);
    let shown = render(&ctx);
    assert!(shown.contains("pub struct Item {"), "{shown}");
}
