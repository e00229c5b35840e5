use super::*;
use crate::parse;
use expect_test::{expect, Expect};

fn render_defs(lang: Language, text: &str) -> String {
    let tree = parse(lang, text).unwrap();
    let mut out = String::new();
    for d in definitions(lang, &tree, text) {
        let parent = d.parent.map_or(String::new(), |p| format!(" parent={p}"));
        out.push_str(&format!(
            "{}:{} {} {:?}{}\n",
            d.line,
            d.kind.name(),
            d.name,
            d.signature,
            parent
        ));
        if let Some(doc) = &d.doc {
            let inside = if d.doc_inside { "(in)" } else { "" };
            out.push_str(&format!("    doc{inside}: {doc:?}\n"));
        }
    }
    out
}

fn render_imports(lang: Language, text: &str) -> String {
    let tree = parse(lang, text).unwrap();
    imports(lang, &tree, text)
        .iter()
        .map(|i| {
            format!(
                "{}:{:?} level={} module={} name={:?} alias={:?} glob={} local={:?}\n",
                i.line,
                i.kind,
                i.level,
                i.module.join("."),
                i.name,
                i.alias,
                i.glob,
                i.local_name()
            )
        })
        .collect()
}

fn check(actual: String, expect: Expect) {
    expect.assert_eq(&actual);
}

const PY: &str = r#"import os.path as osp
import json, re
from . import util
from ..core.models import Item, Order as O
from pkg import *

MAX_ITEMS = 10

# Computes the total.
def total(items: list[Item], tax: float = 0.0) -> float:
    """Return the sum of prices."""
    return sum(i.price for i in items) * (1 + tax)

@dataclass
class Cart(Base):
    """A shopping cart."""

    def add(self, item: Item) -> None:
        self.items.append(item)

    def __len__(self):
        # Comments before the first statement are not part of the signature.
        return len(self.items)
"#;

#[test]
fn python_definitions() {
    check(
        render_defs(Language::Python, PY),
        expect![[r#"
        6:const MAX_ITEMS "MAX_ITEMS = 10"
        9:function total "def total(items: list[Item], tax: float = 0.0) -> float:"
            doc(in): "\"\"\"Return the sum of prices.\"\"\""
        14:class Cart "class Cart(Base):"
            doc(in): "\"\"\"A shopping cart.\"\"\""
        17:method add "def add(self, item: Item) -> None:" parent=2
        20:method __len__ "def __len__(self):" parent=2
    "#]],
    );
}

#[test]
fn python_imports() {
    check(
        render_imports(Language::Python, PY),
        expect![[r#"
        0:Import level=0 module=os.path name=None alias=Some("osp") glob=false local=Some("osp")
        1:Import level=0 module=json name=None alias=None glob=false local=Some("json")
        1:Import level=0 module=re name=None alias=None glob=false local=Some("re")
        2:From level=1 module= name=Some("util") alias=None glob=false local=Some("util")
        3:From level=2 module=core.models name=Some("Item") alias=None glob=false local=Some("Item")
        3:From level=2 module=core.models name=Some("Order") alias=Some("O") glob=false local=Some("O")
        4:From level=0 module=pkg name=None alias=None glob=true local=None
    "#]],
    );
}

const RS: &str = r#"use std::collections::{HashMap, hash_map::Entry as E};
use crate::store::{self, Store};
use super::*;
mod store;
pub mod util {
    pub fn helper() {}
}

/// Maximum items.
pub const MAX: usize = 10;

/// An item in the store.
#[derive(Debug, Clone)]
pub struct Item<T> {
    pub price: u32,
    pub tag: T,
}

pub enum Kind { A, B(u8) }

pub type Map = HashMap<String, Item<()>>;

pub trait Priced {
    /// The price.
    fn price(&self) -> u32;
}

impl<T: Clone> Priced for Item<T> {
    fn price(&self) -> u32 {
        self.price
    }
}

/// Adds up.
pub fn total<T>(items: &[Item<T>],
                tax: f32) -> Option<u32>
where
    T: Clone,
{
    None
}
"#;

#[test]
fn rust_definitions() {
    check(
        render_defs(Language::Rust, RS),
        expect![[r#"
        4:module util "pub mod util"
        5:function helper "pub fn helper()" parent=0
        9:const MAX "pub const MAX: usize = 10;"
            doc: "/// Maximum items."
        13:struct Item "pub struct Item<T>"
            doc: "/// An item in the store."
        18:enum Kind "pub enum Kind"
        20:type Map "pub type Map = HashMap<String, Item<()>>;"
        22:trait Priced "pub trait Priced"
        24:method price "fn price(&self) -> u32;" parent=6
            doc: "/// The price."
        27:impl Item "impl<T: Clone> Priced for Item<T>"
        28:method price "fn price(&self) -> u32" parent=8
        34:function total "pub fn total<T>(items: &[Item<T>],\n                tax: f32) -> Option<u32>\nwhere\n    T: Clone,"
            doc: "/// Adds up."
    "#]],
    );
}

#[test]
fn rust_imports() {
    check(
        render_imports(Language::Rust, RS),
        expect![[r#"
        0:Import level=0 module=std.collections name=Some("HashMap") alias=None glob=false local=Some("HashMap")
        0:Import level=0 module=std.collections.hash_map name=Some("Entry") alias=Some("E") glob=false local=Some("E")
        1:Import level=0 module=crate name=Some("store") alias=None glob=false local=Some("store")
        1:Import level=0 module=crate.store name=Some("Store") alias=None glob=false local=Some("Store")
        2:Import level=0 module=super name=None alias=None glob=true local=None
        3:Mod level=0 module=store name=None alias=None glob=false local=Some("store")
    "#]],
    );
}

#[test]
fn enclosing_scopes_outermost_first() {
    let lang = Language::Python;
    let cursor = PY.find("self.items.append").unwrap();
    let tree = parse(lang, PY).unwrap();
    let scopes: Vec<String> = enclosing_scopes(lang, &tree, PY, cursor)
        .into_iter()
        .map(|s| format!("{} {}", s.kind.name(), s.signature))
        .collect();
    assert_eq!(
        scopes,
        [
            "class class Cart(Base):",
            "method def add(self, item: Item) -> None:"
        ]
    );
    // On the signature line itself no body encloses the cursor.
    let on_header = PY.find("total(items").unwrap();
    assert!(enclosing_scopes(lang, &tree, PY, on_header).is_empty());

    let lang = Language::Rust;
    let tree = parse(lang, RS).unwrap();
    let cursor = RS.find("self.price\n").unwrap();
    let scopes: Vec<String> = enclosing_scopes(lang, &tree, RS, cursor)
        .into_iter()
        .map(|s| format!("{} {}", s.kind.name(), s.signature))
        .collect();
    assert_eq!(
        scopes,
        [
            "impl impl<T: Clone> Priced for Item<T>",
            "method fn price(&self) -> u32"
        ]
    );
}

#[test]
fn use_tree_expansion() {
    let got: Vec<String> = expand_use_tree("a::{b, c::{d as e, *}, self}")
        .into_iter()
        .map(|(s, a, g)| {
            let alias = a.map_or(String::new(), |a| format!(" as {a}"));
            format!("{}{alias}{}", s.join("::"), if g { "::*" } else { "" })
        })
        .collect();
    assert_eq!(got, ["a::b", "a::c::d as e", "a::c::*", "a"]);
}

#[test]
fn broken_code_does_not_panic() {
    for text in [
        "def f(:\n  \"\"\"x",
        "class",
        "from . import",
        "use a::{b,",
        "impl<T> for {",
    ] {
        for lang in [Language::Python, Language::Rust] {
            let tree = parse(lang, text).unwrap();
            let _ = definitions(lang, &tree, text);
            let _ = imports(lang, &tree, text);
            for b in 0..=text.len() {
                let _ = enclosing_scopes(lang, &tree, text, b);
            }
        }
    }
}
