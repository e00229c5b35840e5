use super::*;
use crate::test_support::load_fixture;
use expect_test::expect;

fn render_resolutions(index: &WorkspaceIndex) -> String {
    let mut out = String::new();
    for path in index.paths() {
        let f = index.file(path).unwrap();
        for imp in &f.imports {
            let what = match index.resolve_import(path, imp) {
                Some(r) => format!(
                    "{}{}",
                    r.path,
                    r.item.map_or(String::new(), |i| format!(" :: {i}"))
                ),
                None => "(external)".to_string(),
            };
            let dots = ".".repeat(imp.level);
            let name = imp
                .name
                .as_deref()
                .map_or(String::new(), |n| format!(" [{n}]"));
            out.push_str(&format!(
                "{path}:{} {dots}{}{name} -> {what}\n",
                imp.line,
                imp.module.join(".")
            ));
        }
    }
    out
}

#[test]
fn python_imports_resolve() {
    let index = load_fixture("pyproj");
    expect![[r#"
        app.py:0 shop.models -> shop/models.py
        app.py:1 shop.payments.gateway [charge] -> shop/payments/gateway.py :: charge
        shop/models.py:0 dataclasses [dataclass] -> (external)
        shop/payments/__init__.py:0 .gateway [charge] -> shop/payments/gateway.py :: charge
        shop/payments/gateway.py:0 requests -> (external)
        shop/payments/gateway.py:2 ..models [Item] -> shop/models.py :: Item
        shop/payments/gateway.py:2 ..models [make_item] -> shop/models.py :: make_item
        shop/payments/gateway.py:3 . [fees] -> shop/payments/fees.py
    "#]]
    .assert_eq(&render_resolutions(&index));
}

#[test]
fn rust_imports_resolve() {
    let index = load_fixture("rscrate");
    expect![[r#"
        src/lib.rs:2 store -> src/store/mod.rs
        src/lib.rs:3 util -> src/util.rs
        src/lib.rs:5 store [Store] -> src/store/mod.rs :: Store
        src/store/item.rs:0 serde [Serialize] -> (external)
        src/store/mod.rs:0 item -> src/store/item.rs
        src/store/mod.rs:2 item [Item] -> src/store/item.rs :: Item
        src/util.rs:0 super [store] -> src/store/mod.rs
        src/util.rs:0 super.store [Store] -> src/store/mod.rs :: Store
        src/util.rs:1 crate.store [Item] -> src/store/mod.rs :: Item
    "#]]
    .assert_eq(&render_resolutions(&index));
}

#[test]
fn module_paths() {
    assert_eq!(
        python_module_keys("src/pkg/sub/__init__.py"),
        ["src.pkg.sub", "pkg.sub", "sub"]
    );
    assert_eq!(
        rust_module_of("crates/a/src/lib.rs"),
        ("crates/a/src".to_string(), vec![])
    );
    assert_eq!(
        rust_module_of("src/a/mod.rs"),
        ("src".to_string(), vec!["a".to_string()])
    );
    assert_eq!(
        rust_module_of("src/a/b.rs"),
        ("src".to_string(), vec!["a".to_string(), "b".to_string()])
    );
}

#[test]
fn update_and_remove_keep_lookups_consistent() {
    let mut index = WorkspaceIndex::new();
    index.update_file(
        "a.py",
        Some(Language::Python),
        "def alpha():\n    return beta_value\n",
    );
    index.update_file("b.py", Some(Language::Python), "def beta():\n    pass\n");
    assert_eq!(index.definitions_named("alpha").len(), 1);
    let before = index.bm25(&["beta_value"], 5, &|_| false);
    assert_eq!(before.len(), 1);
    assert_eq!(before[0].path, "a.py");

    // Renaming the function in a.py drops the old name and the old terms.
    index.update_file(
        "a.py",
        Some(Language::Python),
        "def gamma():\n    return 1\n",
    );
    assert!(index.definitions_named("alpha").is_empty());
    assert_eq!(index.definitions_named("gamma").len(), 1);
    assert!(index.bm25(&["beta_value"], 5, &|_| false).is_empty());

    assert!(index.remove_file("b.py"));
    assert!(!index.remove_file("b.py"));
    assert!(index.definitions_named("beta").is_empty());
    assert_eq!(index.len(), 1);
    assert_eq!(index.python_module("b"), None);
    assert_eq!(index.python_module("a"), Some("a.py"));
    // Statistics return to those of a fresh index with the same files.
    let mut fresh = WorkspaceIndex::new();
    fresh.update_file(
        "a.py",
        Some(Language::Python),
        "def gamma():\n    return 1\n",
    );
    assert_eq!(index.n_chunks, fresh.n_chunks);
    assert_eq!(index.total_len, fresh.total_len);
}

#[test]
fn bm25_prefers_rare_matching_terms() {
    let mut index = WorkspaceIndex::new();
    for i in 0..20 {
        index.update_file(
            &format!("f{i}.py"),
            Some(Language::Python),
            "def common(x):\n    return x\n",
        );
    }
    index.update_file(
        "target.py",
        Some(Language::Python),
        "def common(x):\n    return frobnicate_widget(x)\n",
    );
    let hits = index.bm25(&["common", "frobnicate_widget"], 3, &|_| false);
    assert_eq!(hits[0].path, "target.py");
    let skipped = index.bm25(&["frobnicate_widget"], 3, &|p| p == "target.py");
    assert!(skipped.is_empty());
}

#[test]
fn replaced_files_postings_are_compacted_and_never_returned() {
    let mut index = WorkspaceIndex::new();
    let text: String = (0..2000).map(|i| format!("v{i} = w{i}\n")).collect();
    index.update_file("other.py", Some(Language::Python), "v7 = 1\n");
    for round in 0..40 {
        let t = format!("{text}marker_{round} = 1\n");
        index.update_file("big.py", Some(Language::Python), &t);
        let hits = index.bm25(&["v5", &format!("marker_{round}")], 50, &|_| false);
        // Only chunks of the current version: the marker's chunk ranks first, once.
        assert_eq!(hits[0].path, "big.py");
        assert!(hits[0].text.contains(&format!("marker_{round}")));
        assert_eq!(
            hits.iter().filter(|h| h.text.contains("marker_")).count(),
            1
        );
    }
    assert!(index.dead_postings < MIN_DEAD_FOR_COMPACTION);
    let live: usize = index.postings.iter().map(Vec::len).sum::<usize>() - index.dead_postings;
    assert_eq!(live, index.live_postings);
    let v7 = index.bm25(&["v7"], 50, &|_| false);
    assert_eq!(v7.iter().filter(|h| h.path == "other.py").count(), 1);
}

#[test]
fn rust_paths_into_other_workspace_crates() {
    let mut index = WorkspaceIndex::new();
    let lang = Some(Language::Rust);
    index.update_file("crates/text/src/lib.rs", lang, "pub mod line_index;\n");
    index.update_file(
        "crates/text/src/line_index.rs",
        lang,
        "pub struct LineIndex;\n",
    );
    let user = "use nib_text::line_index::LineIndex;\nuse serde::Serialize;\n";
    index.update_file("crates/ide/src/lib.rs", lang, user);
    let imports = index.file("crates/ide/src/lib.rs").unwrap().imports.clone();
    assert_eq!(
        index.resolve_import("crates/ide/src/lib.rs", &imports[0]),
        None
    );
    index.set_rust_crate("nib-text", "crates/text/src");
    let r = index
        .resolve_import("crates/ide/src/lib.rs", &imports[0])
        .unwrap();
    assert_eq!(
        (r.path, r.item.as_deref()),
        ("crates/text/src/line_index.rs", Some("LineIndex"))
    );
    assert_eq!(
        index.resolve_import("crates/ide/src/lib.rs", &imports[1]),
        None
    );
}
