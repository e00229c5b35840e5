//! The workspace index: per-file definitions, imports and identifier chunks, updated one file
//! at a time, with lookups by name, by module path and by BM25 over chunks.
//!
//! Paths are workspace-relative strings with `/` separators (the caller decides the root).
//! Updating a file costs time proportional to that file: its old entries are taken out of the
//! shared maps and the new ones put in. [`analyze`] is the expensive, pure part and can run on
//! many threads; [`WorkspaceIndex::insert`] is cheap.

use std::collections::HashMap;
use std::ops::Range;
use std::sync::Arc;

use nib_syntax::tags::{self, Definition, Import, ImportKind};
use nib_syntax::tree_sitter::Tree;
use nib_syntax::Language;

/// Lines in a BM25 chunk, and the step between chunk starts (chunks overlap by half).
pub const CHUNK_LINES: usize = 20;
const CHUNK_STEP: usize = 10;
/// Identifiers shorter than this are not indexed.
const MIN_TERM_LEN: usize = 2;

/// A file analysed, ready to be inserted.
#[derive(Debug, Clone)]
pub struct FileAnalysis {
    pub path: String,
    pub lang: Option<Language>,
    pub text: Arc<str>,
    pub definitions: Vec<Definition>,
    pub imports: Vec<Import>,
    /// The file's distinct terms; chunks refer to them by index.
    vocabulary: Vec<String>,
    chunks: Vec<RawChunk>,
}

#[derive(Debug, Clone)]
struct RawChunk {
    lines: Range<usize>,
    bytes: Range<usize>,
    /// (index into the file's vocabulary, count).
    terms: Vec<(u32, u16)>,
}

/// Parse and tag `text`, and cut it into identifier chunks. Pure.
pub fn analyze(path: &str, lang: Option<Language>, text: &str) -> FileAnalysis {
    let tree = lang.and_then(|l| nib_syntax::parse(l, text));
    analyze_with_tree(path, lang, text, tree.as_ref())
}

/// [`analyze`] with the caller's up-to-date tree of `text` (e.g. an editor document's
/// incrementally reparsed tree), which saves the parse.
pub fn analyze_with_tree(
    path: &str,
    lang: Option<Language>,
    text: &str,
    tree: Option<&Tree>,
) -> FileAnalysis {
    let (definitions, imports) = match (lang, tree) {
        (Some(l), Some(tree)) => tags::definitions_and_imports(l, tree, text),
        _ => (Vec::new(), Vec::new()),
    };
    let (vocabulary, chunks) = chunk(text);
    FileAnalysis {
        path: path.to_string(),
        lang,
        text: Arc::from(text),
        definitions,
        imports,
        vocabulary,
        chunks,
    }
}

/// Byte offset of every line start.
pub(crate) fn line_starts(text: &str) -> Vec<usize> {
    std::iter::once(0)
        .chain(memchr_lines(text).map(|i| i + 1))
        .filter(|&i| i <= text.len())
        .collect()
}

fn memchr_lines(text: &str) -> impl Iterator<Item = usize> + '_ {
    text.bytes()
        .enumerate()
        .filter(|&(_, b)| b == b'\n')
        .map(|(i, _)| i)
}

fn chunk(text: &str) -> (Vec<String>, Vec<RawChunk>) {
    let starts = line_starts(text);
    let n_lines = if text.ends_with('\n') {
        starts.len() - 1
    } else {
        starts.len()
    };
    // Each line's terms as vocabulary indices, tokenized once.
    let mut vocab: HashMap<&str, u32> = HashMap::new();
    let mut words: Vec<&str> = Vec::new();
    let line_terms: Vec<Vec<u32>> = (0..n_lines)
        .map(|l| {
            let end = starts.get(l + 1).copied().unwrap_or(text.len());
            identifiers(&text[starts[l]..end])
                .filter(|t| t.len() >= MIN_TERM_LEN)
                .map(|t| {
                    *vocab.entry(t).or_insert_with(|| {
                        words.push(t);
                        (words.len() - 1) as u32
                    })
                })
                .collect()
        })
        .collect();
    let mut out = Vec::new();
    let mut counts: HashMap<u32, u16> = HashMap::new();
    let mut first = 0;
    while first < n_lines {
        let last = (first + CHUNK_LINES).min(n_lines);
        let bytes = starts[first]..starts.get(last).copied().unwrap_or(text.len());
        counts.clear();
        for &t in line_terms[first..last].iter().flatten() {
            let c = counts.entry(t).or_default();
            *c = c.saturating_add(1);
        }
        let mut terms: Vec<(u32, u16)> = counts.iter().map(|(&t, &c)| (t, c)).collect();
        terms.sort_unstable();
        out.push(RawChunk {
            lines: first..last,
            bytes,
            terms,
        });
        if last == n_lines {
            break;
        }
        first += CHUNK_STEP;
    }
    (words.into_iter().map(str::to_string).collect(), out)
}

/// The identifiers (`[A-Za-z_][A-Za-z0-9_]*`, any Unicode letters too) in `text`, in order.
pub fn identifiers(text: &str) -> impl Iterator<Item = &str> {
    text.split(|c: char| !(c.is_alphanumeric() || c == '_'))
        .filter(|t| t.chars().next().is_some_and(|c| !c.is_ascii_digit()))
}

type FileId = u32;

/// One indexed file.
#[derive(Debug)]
pub struct IndexedFile {
    pub path: String,
    pub lang: Option<Language>,
    pub text: Arc<str>,
    pub definitions: Vec<Definition>,
    pub imports: Vec<Import>,
    chunks: Vec<Chunk>,
    /// Dotted module keys registered for this file (Python).
    module_keys: Vec<String>,
    /// Generation of this insertion: postings of older generations are dead.
    generation: u32,
}

#[derive(Debug)]
struct Chunk {
    lines: Range<usize>,
    bytes: Range<usize>,
    /// (term id, count), sorted by term id.
    terms: Vec<(u32, u16)>,
    len: u32,
}

#[derive(Debug, Clone, Copy)]
struct Posting {
    file: FileId,
    generation: u32,
    chunk: u32,
    tf: u16,
}

/// Compaction runs when dead postings outnumber live ones and this many.
const MIN_DEAD_FOR_COMPACTION: usize = 1 << 16;

/// A BM25 hit.
#[derive(Debug, Clone, PartialEq)]
pub struct ChunkHit<'a> {
    pub path: &'a str,
    /// 0-based line range of the chunk.
    pub lines: Range<usize>,
    pub bytes: Range<usize>,
    pub text: &'a str,
    pub score: f32,
}

/// A definition found by a lookup.
#[derive(Debug, Clone, Copy)]
pub struct DefRef<'a> {
    pub file: &'a IndexedFile,
    pub index: usize,
    pub def: &'a Definition,
}

/// Where an import points.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved<'a> {
    pub path: &'a str,
    /// A name inside that file, or `None` for the module itself.
    pub item: Option<String>,
}

/// The index over a workspace. Cheap to update per file; see the module docs.
#[derive(Debug, Default)]
pub struct WorkspaceIndex {
    files: Vec<Option<IndexedFile>>,
    free: Vec<FileId>,
    by_path: HashMap<String, FileId>,
    by_name: HashMap<String, Vec<FileId>>,
    py_modules: HashMap<String, Vec<FileId>>,
    /// Rust crate name (with `_`) -> its source directory, for `use other_crate::x` between
    /// the crates of one workspace.
    rust_crates: HashMap<String, String>,
    terms: HashMap<Box<str>, u32>,
    /// Document frequency (chunks) per term id.
    df: Vec<u32>,
    /// Postings per term id; entries of removed files stay until the next compaction.
    postings: Vec<Vec<Posting>>,
    live_postings: usize,
    dead_postings: usize,
    next_generation: u32,
    n_chunks: u64,
    total_len: u64,
}

impl WorkspaceIndex {
    pub fn new() -> WorkspaceIndex {
        WorkspaceIndex::default()
    }

    /// Add or replace a file.
    pub fn update_file(&mut self, path: &str, lang: Option<Language>, text: &str) {
        self.insert(analyze(path, lang, text));
    }

    /// Declare a Rust crate of the workspace: `name` as written in Cargo.toml (`-` is read as
    /// `_`), `src_dir` its workspace-relative source directory (e.g. `crates/text/src`).
    pub fn set_rust_crate(&mut self, name: &str, src_dir: &str) {
        self.rust_crates.insert(
            name.replace('-', "_"),
            src_dir.trim_end_matches('/').to_string(),
        );
    }

    /// Forget a Rust crate declared with [`WorkspaceIndex::set_rust_crate`].
    pub fn remove_rust_crate(&mut self, name: &str) {
        self.rust_crates.remove(&name.replace('-', "_"));
    }

    /// Add or replace an open document whose tree the caller keeps up to date.
    pub fn update_file_with_tree(
        &mut self,
        path: &str,
        lang: Option<Language>,
        text: &str,
        tree: Option<&Tree>,
    ) {
        self.insert(analyze_with_tree(path, lang, text, tree));
    }

    /// Add or replace a file from its analysis.
    pub fn insert(&mut self, a: FileAnalysis) {
        self.remove_file(&a.path);
        let id = match self.free.pop() {
            Some(id) => id,
            None => {
                self.files.push(None);
                (self.files.len() - 1) as FileId
            }
        };
        let mut names: Vec<&str> = a.definitions.iter().map(|d| d.name.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        for n in names {
            self.by_name.entry(n.to_string()).or_default().push(id);
        }
        let module_keys = if a.lang == Some(Language::Python) {
            python_module_keys(&a.path)
        } else {
            Vec::new()
        };
        for k in &module_keys {
            self.py_modules.entry(k.clone()).or_default().push(id);
        }
        let generation = self.next_generation;
        self.next_generation = self.next_generation.wrapping_add(1);
        let global: Vec<u32> = a.vocabulary.into_iter().map(|t| self.intern(t)).collect();
        let chunks = a
            .chunks
            .into_iter()
            .enumerate()
            .map(|(ci, c)| {
                let mut terms: Vec<(u32, u16)> = c
                    .terms
                    .into_iter()
                    .map(|(t, n)| (global[t as usize], n))
                    .collect();
                terms.sort_unstable();
                let len = terms.iter().map(|&(_, n)| u32::from(n)).sum::<u32>();
                for &(t, tf) in &terms {
                    self.df[t as usize] += 1;
                    self.postings[t as usize].push(Posting {
                        file: id,
                        generation,
                        chunk: ci as u32,
                        tf,
                    });
                }
                self.live_postings += terms.len();
                self.n_chunks += 1;
                self.total_len += u64::from(len);
                Chunk {
                    lines: c.lines,
                    bytes: c.bytes,
                    terms,
                    len,
                }
            })
            .collect();
        self.by_path.insert(a.path.clone(), id);
        self.files[id as usize] = Some(IndexedFile {
            path: a.path,
            lang: a.lang,
            text: a.text,
            definitions: a.definitions,
            imports: a.imports,
            chunks,
            module_keys,
            generation,
        });
    }

    fn intern(&mut self, t: String) -> u32 {
        if let Some(&id) = self.terms.get(t.as_str()) {
            return id;
        }
        let id = self.df.len() as u32;
        self.df.push(0);
        self.postings.push(Vec::new());
        self.terms.insert(t.into_boxed_str(), id);
        id
    }

    /// Remove a file; `false` when it was not indexed.
    pub fn remove_file(&mut self, path: &str) -> bool {
        let Some(id) = self.by_path.remove(path) else {
            return false;
        };
        let Some(f) = self.files[id as usize].take() else {
            return false;
        };
        for d in &f.definitions {
            if let Some(v) = self.by_name.get_mut(&d.name) {
                v.retain(|&x| x != id);
                if v.is_empty() {
                    self.by_name.remove(&d.name);
                }
            }
        }
        for k in &f.module_keys {
            if let Some(v) = self.py_modules.get_mut(k) {
                v.retain(|&x| x != id);
                if v.is_empty() {
                    self.py_modules.remove(k);
                }
            }
        }
        for c in &f.chunks {
            for &(t, _) in &c.terms {
                self.df[t as usize] -= 1;
            }
            self.n_chunks -= 1;
            self.total_len -= u64::from(c.len);
            self.live_postings -= c.terms.len();
            self.dead_postings += c.terms.len();
        }
        self.free.push(id);
        if self.dead_postings > self.live_postings.max(MIN_DEAD_FOR_COMPACTION) {
            self.compact();
        }
        true
    }

    fn is_live(&self, p: &Posting) -> bool {
        self.files[p.file as usize]
            .as_ref()
            .is_some_and(|f| f.generation == p.generation)
    }

    /// Drop the postings of removed or replaced files.
    fn compact(&mut self) {
        let mut postings = std::mem::take(&mut self.postings);
        for list in &mut postings {
            list.retain(|p| self.is_live(p));
        }
        self.postings = postings;
        self.dead_postings = 0;
    }

    pub fn len(&self) -> usize {
        self.by_path.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_path.is_empty()
    }

    /// Definitions over all indexed files.
    pub fn definition_count(&self) -> usize {
        self.files
            .iter()
            .flatten()
            .map(|f| f.definitions.len())
            .sum()
    }

    pub fn file(&self, path: &str) -> Option<&IndexedFile> {
        self.files[*self.by_path.get(path)? as usize].as_ref()
    }

    /// Indexed paths, sorted.
    pub fn paths(&self) -> Vec<&str> {
        let mut v: Vec<&str> = self.by_path.keys().map(String::as_str).collect();
        v.sort_unstable();
        v
    }

    /// Definitions named `name`, in path then position order.
    pub fn definitions_named(&self, name: &str) -> Vec<DefRef<'_>> {
        let mut out = Vec::new();
        for &id in self.by_name.get(name).map_or(&[][..], Vec::as_slice) {
            let Some(file) = self.files[id as usize].as_ref() else {
                continue;
            };
            for (index, def) in file.definitions.iter().enumerate() {
                if def.name == name {
                    out.push(DefRef { file, index, def });
                }
            }
        }
        out.sort_by(|a, b| {
            (a.file.path.as_str(), a.def.range.start)
                .cmp(&(b.file.path.as_str(), b.def.range.start))
        });
        out
    }

    /// The file of a Python module given as dotted path (`pkg.sub.mod`): `pkg/sub/mod.py` or
    /// `pkg/sub/mod/__init__.py` under any directory; the shortest path wins.
    pub fn python_module(&self, dotted: &str) -> Option<&str> {
        self.py_modules
            .get(dotted)?
            .iter()
            .filter_map(|&id| self.files[id as usize].as_ref())
            .map(|f| f.path.as_str())
            .min_by_key(|p| (p.len(), *p))
    }

    fn has(&self, path: &str) -> Option<&str> {
        self.file(path).map(|f| f.path.as_str())
    }

    /// Resolve an import written in `from_path` to a file of the workspace (and an item in it).
    pub fn resolve_import<'a>(
        &'a self,
        from_path: &str,
        import: &'a Import,
    ) -> Option<Resolved<'a>> {
        let lang = self
            .file(from_path)
            .and_then(|f| f.lang)
            .or_else(|| nib_syntax::Language::from_path(std::path::Path::new(from_path)))?;
        match lang {
            Language::Python => self.resolve_python(from_path, import),
            Language::Rust => self.resolve_rust(from_path, import),
        }
    }

    fn resolve_python<'a>(&'a self, from: &str, imp: &'a Import) -> Option<Resolved<'a>> {
        let name = imp.name.as_deref();
        if imp.level == 0 {
            let module = imp.module.join(".");
            if let Some(n) = name {
                // `from a import b`: b is a submodule or a name in a.
                if let Some(p) = self.python_module(&format!("{module}.{n}")) {
                    return Some(Resolved {
                        path: p,
                        item: None,
                    });
                }
                return self.python_module(&module).map(|p| Resolved {
                    path: p,
                    item: Some(n.to_string()),
                });
            }
            return self.python_module(&module).map(|p| Resolved {
                path: p,
                item: None,
            });
        }
        // Relative: level 1 is the importing file's package directory.
        let mut dir: Vec<&str> = from.split('/').collect();
        dir.pop();
        for _ in 1..imp.level {
            dir.pop()?;
        }
        let mut base: Vec<&str> = dir;
        base.extend(imp.module.iter().map(String::as_str));
        let base = base.join("/");
        let file_of = |m: &str| {
            let prefix = if m.is_empty() {
                String::new()
            } else {
                format!("{m}/")
            };
            self.has(&format!("{m}.py"))
                .or_else(|| self.has(&format!("{prefix}__init__.py")))
        };
        if let Some(n) = name {
            let sub = if base.is_empty() {
                n.to_string()
            } else {
                format!("{base}/{n}")
            };
            if let Some(p) = file_of(&sub) {
                return Some(Resolved {
                    path: p,
                    item: None,
                });
            }
            return file_of(&base).map(|p| Resolved {
                path: p,
                item: Some(n.to_string()),
            });
        }
        file_of(&base).map(|p| Resolved {
            path: p,
            item: None,
        })
    }

    fn resolve_rust<'a>(&'a self, from: &str, imp: &'a Import) -> Option<Resolved<'a>> {
        let (src, mut module) = rust_module_of(from);
        let mut segs: Vec<&str> = imp.module.iter().map(String::as_str).collect();
        if imp.kind == ImportKind::Mod {
            // `mod m;` in `from`: a child of the current module.
            module.extend(segs.iter().map(|s| s.to_string()));
            return self.rust_module_file(&src, &module).map(|p| Resolved {
                path: p,
                item: None,
            });
        }
        let mut item = imp.name.as_deref();
        if item == Some("self") {
            item = segs.pop();
        }
        let path: Vec<String> = match segs.first().copied() {
            Some("crate") => segs[1..].iter().map(|s| s.to_string()).collect(),
            Some("self") => module
                .iter()
                .cloned()
                .chain(segs[1..].iter().map(|s| s.to_string()))
                .collect(),
            Some("super") => {
                let ups = segs.iter().take_while(|s| **s == "super").count();
                let keep = module.len().checked_sub(ups)?;
                module[..keep]
                    .iter()
                    .cloned()
                    .chain(segs[ups..].iter().map(|s| s.to_string()))
                    .collect()
            }
            // A path from the current module (2018 edition uniform paths), else an external crate.
            _ => {
                let first = segs.first()?.to_string();
                let mut child = module.clone();
                child.push(first.clone());
                if self.rust_module_file(&src, &child).is_none() {
                    // Another crate of the workspace, else an external crate.
                    let other = self.rust_crates.get(&first)?;
                    let rest: Vec<String> = segs[1..].iter().map(|s| s.to_string()).collect();
                    return self.rust_longest(other, &rest, item);
                }
                let mut local = module.clone();
                local.extend(segs.iter().map(|s| s.to_string()));
                return self.rust_longest(&src, &local, item);
            }
        };
        self.rust_longest(&src, &path, item)
    }

    /// The longest prefix of `path` (+ `item`) that is a module file; the rest names an item.
    fn rust_longest(&self, src: &str, path: &[String], item: Option<&str>) -> Option<Resolved<'_>> {
        let mut full: Vec<String> = path.to_vec();
        full.extend(item.map(str::to_string));
        (0..=full.len()).rev().find_map(|n| {
            let p = self.rust_module_file(src, &full[..n])?;
            Some(Resolved {
                path: p,
                item: full.get(n).cloned(),
            })
        })
    }

    fn rust_module_file(&self, src: &str, module: &[String]) -> Option<&str> {
        let prefix = if src.is_empty() {
            String::new()
        } else {
            format!("{src}/")
        };
        if module.is_empty() {
            return self
                .has(&format!("{prefix}lib.rs"))
                .or_else(|| self.has(&format!("{prefix}main.rs")));
        }
        let m = module.join("/");
        self.has(&format!("{prefix}{m}.rs"))
            .or_else(|| self.has(&format!("{prefix}{m}/mod.rs")))
    }

    /// BM25 over the workspace's chunks: the best `k` chunks for `query` (identifier terms),
    /// skipping files for which `skip(path)` is true. Skipped files are also left out of the
    /// statistics, so that editing them (the current and open files) does not move the
    /// scores of the others. Ties break by path then line.
    pub fn bm25(&self, query: &[&str], k: usize, skip: &dyn Fn(&str) -> bool) -> Vec<ChunkHit<'_>> {
        const K1: f32 = 1.2;
        const B: f32 = 0.75;
        if self.n_chunks == 0 || k == 0 {
            return Vec::new();
        }
        let mut q: Vec<(u32, f32)> = query
            .iter()
            .filter_map(|t| self.terms.get(*t))
            .map(|&id| (id, self.df[id as usize] as f32))
            .collect();
        q.sort_unstable_by_key(|&(id, _)| id);
        q.dedup_by_key(|&mut (id, _)| id);
        let skipped: Vec<FileId> = self
            .by_path
            .iter()
            .filter(|(p, _)| skip(p))
            .map(|(_, &id)| id)
            .collect();
        let (mut n_chunks, mut total_len) = (self.n_chunks, self.total_len);
        for &id in &skipped {
            let Some(f) = self.files[id as usize].as_ref() else {
                continue;
            };
            for c in &f.chunks {
                n_chunks -= 1;
                total_len -= u64::from(c.len);
                for (qid, df) in q.iter_mut() {
                    if c.terms.binary_search_by_key(qid, |&(t, _)| t).is_ok() {
                        *df -= 1.0;
                    }
                }
            }
        }
        if n_chunks == 0 {
            return Vec::new();
        }
        let n = n_chunks as f32;
        let avg = (total_len as f32 / n).max(1.0);
        let q: Vec<(u32, f32, f32)> = q
            .into_iter()
            .filter(|&(_, df)| df > 0.0)
            .map(|(id, df)| (id, df, ((n - df + 0.5) / (df + 0.5) + 1.0).ln()))
            .collect();
        if q.is_empty() {
            return Vec::new();
        }
        // Accumulate over postings; terms in more than half the chunks add little and cost
        // the most, so they only count when nothing rarer matched.
        let mut acc: HashMap<(FileId, u32), f32> = HashMap::new();
        let rare_exists = q.iter().any(|&(_, df, _)| df <= n / 2.0);
        for &(id, df, idf) in &q {
            if rare_exists && df > n / 2.0 {
                continue;
            }
            for p in &self.postings[id as usize] {
                if !self.is_live(p) {
                    continue;
                }
                let Some(f) = self.files[p.file as usize].as_ref() else {
                    continue;
                };
                if skipped.contains(&p.file) {
                    continue;
                }
                let c = &f.chunks[p.chunk as usize];
                let tf = f32::from(p.tf);
                let norm = K1 * (1.0 - B + B * c.len as f32 / avg);
                *acc.entry((p.file, p.chunk)).or_default() += idf * tf * (K1 + 1.0) / (tf + norm);
            }
        }
        let mut hits: Vec<ChunkHit<'_>> = acc
            .into_iter()
            .filter_map(|((file, chunk), score)| {
                let f = self.files[file as usize].as_ref()?;
                let c = &f.chunks[chunk as usize];
                Some(ChunkHit {
                    path: &f.path,
                    lines: c.lines.clone(),
                    bytes: c.bytes.clone(),
                    text: &f.text[c.bytes.clone()],
                    score,
                })
            })
            .collect();
        hits.sort_by(|a, b| {
            b.score
                .total_cmp(&a.score)
                .then_with(|| a.path.cmp(b.path))
                .then_with(|| a.lines.start.cmp(&b.lines.start))
        });
        // One chunk per overlapping run: drop chunks overlapping a better one of the same file.
        let mut out: Vec<ChunkHit<'_>> = Vec::new();
        for h in hits {
            if out.len() == k {
                break;
            }
            if out.iter().any(|o| {
                o.path == h.path && o.lines.start < h.lines.end && h.lines.start < o.lines.end
            }) {
                continue;
            }
            out.push(h);
        }
        out
    }
}

/// Dotted module names a Python file can be imported as (every suffix of its path).
fn python_module_keys(path: &str) -> Vec<String> {
    let Some(stem) = path
        .strip_suffix(".py")
        .or_else(|| path.strip_suffix(".pyi"))
    else {
        return Vec::new();
    };
    let mut parts: Vec<&str> = stem.split('/').filter(|s| !s.is_empty()).collect();
    if parts.last() == Some(&"__init__") {
        parts.pop();
    }
    (0..parts.len()).map(|i| parts[i..].join(".")).collect()
}

/// The crate source directory and the module path of a Rust file (`src/a/b.rs` -> `("src",
/// ["a", "b"])`; `src/a/mod.rs` -> `("src", ["a"])`; `src/lib.rs` -> `("src", [])`).
fn rust_module_of(path: &str) -> (String, Vec<String>) {
    let parts: Vec<&str> = path.split('/').collect();
    let src_at = parts.iter().rposition(|p| *p == "src");
    let (src, rest) = match src_at {
        Some(i) => (parts[..=i].join("/"), &parts[i + 1..]),
        None => (
            parts[..parts.len().saturating_sub(1)].join("/"),
            &parts[parts.len().saturating_sub(1)..],
        ),
    };
    let mut module: Vec<String> = rest.iter().map(|s| s.to_string()).collect();
    if let Some(last) = module.pop() {
        let stem = last.strip_suffix(".rs").unwrap_or(&last);
        let crate_root = module.is_empty() && matches!(stem, "lib" | "main");
        if stem != "mod" && !crate_root {
            module.push(stem.to_string());
        }
    }
    (src, module)
}

#[cfg(test)]
mod tests;
