//! Fill-in-the-middle prompt formats, one table row per model family.

/// A file shown to the model before the current one (repository context).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepoFile {
    pub path: String,
    pub text: String,
}

/// The pieces of an infilling prompt, before a family's special tokens are added.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FimParts {
    pub repo_name: Option<String>,
    /// Context files, most stable first.
    pub files: Vec<RepoFile>,
    /// The current file's path (relative), when known.
    pub path: Option<String>,
    /// Line-comment leader of the current language, to label pieces in plain prompts.
    pub comment: String,
    /// Text before the split point (the anchor).
    pub prefix: String,
    /// Text after the cursor.
    pub suffix: String,
    /// Text typed between the anchor and the cursor: placed after the middle token, as the
    /// beginning of the middle, so that typing only appends tokens.
    pub middle_start: String,
}

/// A model family's prompt format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum PromptFormat {
    /// Qwen2.5-Coder: `<|fim_prefix|>`, `<|fim_suffix|>`, `<|fim_middle|>`, `<|file_sep|>`.
    Qwen,
    /// StarCoder / StarCoder2 / SantaCoder: `<fim_prefix>` ... `<file_sep>`.
    StarCoder,
    /// DeepSeek-Coder: `<｜fim▁begin｜>`, `<｜fim▁hole｜>`, `<｜fim▁end｜>`.
    DeepSeek,
    /// CodeLlama: `<PRE>`, `<SUF>`, `<MID>`.
    CodeLlama,
    /// No infilling tokens (e.g. SmolLM2): the prompt is the prefix only.
    PrefixOnly,
}

struct Spec {
    format: PromptFormat,
    /// All of these must be single special tokens in the vocabulary for the format to apply.
    required: &'static [&'static str],
    pre: &'static str,
    suf: &'static str,
    mid: &'static str,
    /// Separator that introduces a file path line, if the family has one.
    file_sep: Option<&'static str>,
    repo_name: Option<&'static str>,
    /// Extra text the model ends a completion with (besides the vocabulary's end-of-generation).
    stops: &'static [&'static str],
    /// What ends the middle in training text (the family's end of text).
    end: &'static str,
    /// Lower-case pieces of a model's name that mark the family.
    names: &'static [&'static str],
}

/// Detection tries rows in this order; the first whose tokens all exist wins.
const SPECS: &[Spec] = &[
    Spec {
        format: PromptFormat::Qwen,
        required: &["<|fim_prefix|>", "<|fim_suffix|>", "<|fim_middle|>"],
        pre: "<|fim_prefix|>",
        suf: "<|fim_suffix|>",
        mid: "<|fim_middle|>",
        file_sep: Some("<|file_sep|>"),
        repo_name: Some("<|repo_name|>"),
        stops: &[
            "<|fim_pad|>",
            "<|endoftext|>",
            "<|file_sep|>",
            "<|fim_prefix|>",
            "<|im_end|>",
        ],
        end: "<|endoftext|>",
        names: &["qwen"],
    },
    Spec {
        format: PromptFormat::StarCoder,
        required: &["<fim_prefix>", "<fim_suffix>", "<fim_middle>"],
        pre: "<fim_prefix>",
        suf: "<fim_suffix>",
        mid: "<fim_middle>",
        file_sep: Some("<file_sep>"),
        repo_name: Some("<repo_name>"),
        stops: &["<|endoftext|>", "<file_sep>", "<fim_prefix>"],
        end: "<|endoftext|>",
        names: &["starcoder", "santacoder"],
    },
    Spec {
        format: PromptFormat::DeepSeek,
        required: &["<｜fim▁begin｜>", "<｜fim▁hole｜>", "<｜fim▁end｜>"],
        pre: "<｜fim▁begin｜>",
        suf: "<｜fim▁hole｜>",
        mid: "<｜fim▁end｜>",
        file_sep: None,
        repo_name: None,
        stops: &["<｜end▁of▁sentence｜>", "<|EOT|>"],
        end: "<｜end▁of▁sentence｜>",
        names: &["deepseek"],
    },
    Spec {
        format: PromptFormat::CodeLlama,
        required: &["<PRE>", "<SUF>", "<MID>"],
        pre: "<PRE> ",
        suf: " <SUF>",
        mid: " <MID>",
        file_sep: None,
        repo_name: None,
        stops: &["<EOT>"],
        end: "<EOT>",
        names: &["codellama", "code-llama"],
    },
];

impl PromptFormat {
    /// Choose the format from the model's vocabulary: `is_special_token(text)` says whether
    /// `text` is a single special token of the model.
    pub fn detect(is_special_token: &dyn Fn(&str) -> bool) -> PromptFormat {
        SPECS
            .iter()
            .find(|s| s.required.iter().all(|t| is_special_token(t)))
            .map_or(PromptFormat::PrefixOnly, |s| s.format)
    }

    /// Every token text that detection looks for (for backends that must probe them).
    pub fn probe_tokens() -> impl Iterator<Item = &'static str> {
        SPECS.iter().flat_map(|s| s.required.iter().copied())
    }

    /// The family a model's name says it belongs to (`qwen2.5-coder-0.5b` -> Qwen), for
    /// text recorded without the model's vocabulary at hand.
    pub fn from_model_name(name: &str) -> Option<PromptFormat> {
        let name = name.to_ascii_lowercase();
        SPECS
            .iter()
            .find(|s| s.names.iter().any(|n| name.contains(n)))
            .map(|s| s.format)
    }

    /// A training example in this format: `PRE prefix SUF suffix MID`, and the same followed
    /// by `middle` and the family's end of text. `None` without infilling tokens.
    pub fn training_text(
        self,
        prefix: &str,
        suffix: &str,
        middle: &str,
    ) -> Option<(String, String)> {
        let s = self.spec()?;
        let prompt = format!("{}{prefix}{}{suffix}{}", s.pre, s.suf, s.mid);
        let full = format!("{prompt}{middle}{}", s.end);
        Some((prompt, full))
    }

    /// The family's end of text, which closes a middle in training text.
    pub fn end_of_text(self) -> Option<&'static str> {
        self.spec().map(|s| s.end)
    }

    pub fn supports_fim(self) -> bool {
        self != PromptFormat::PrefixOnly
    }

    fn spec(self) -> Option<&'static Spec> {
        SPECS.iter().find(|s| s.format == self)
    }

    /// Strings that end a completion in this format (cut there if the model emits them).
    pub fn stop_strings(self) -> Vec<String> {
        self.spec().map_or_else(Vec::new, |s| {
            s.stops.iter().map(|t| t.to_string()).collect()
        })
    }

    /// Render the prompt. Layout: repository context (stable), then
    /// `PRE prefix SUF suffix MID middle_start` (prefix-suffix-middle, which small models
    /// handle best), so that typing at the cursor only appends to `middle_start`.
    pub fn render(self, parts: &FimParts) -> String {
        let mut out = String::with_capacity(
            parts.prefix.len()
                + parts.suffix.len()
                + parts.files.iter().map(|f| f.text.len() + 64).sum::<usize>()
                + 64,
        );
        let spec = self.spec();
        match spec.and_then(|s| s.file_sep.map(|sep| (s, sep))) {
            Some((s, sep)) => {
                if let (Some(tok), Some(name)) = (s.repo_name, &parts.repo_name) {
                    out.push_str(tok);
                    out.push_str(name);
                    out.push('\n');
                }
                for f in &parts.files {
                    out.push_str(sep);
                    out.push_str(&f.path);
                    out.push('\n');
                    out.push_str(&f.text);
                    if !f.text.ends_with('\n') {
                        out.push('\n');
                    }
                }
                if !parts.files.is_empty() {
                    out.push_str(sep);
                    out.push_str(parts.path.as_deref().unwrap_or("current"));
                    out.push('\n');
                }
            }
            None => {
                for f in &parts.files {
                    let c = if parts.comment.is_empty() {
                        "#"
                    } else {
                        &parts.comment
                    };
                    out.push_str(&format!("{c} file: {}\n", f.path));
                    out.push_str(&f.text);
                    if !f.text.ends_with('\n') {
                        out.push('\n');
                    }
                    out.push('\n');
                }
            }
        }
        match spec {
            Some(s) => {
                out.push_str(s.pre);
                out.push_str(&parts.prefix);
                out.push_str(s.suf);
                out.push_str(&parts.suffix);
                out.push_str(s.mid);
                out.push_str(&parts.middle_start);
            }
            None => {
                out.push_str(&parts.prefix);
                out.push_str(&parts.middle_start);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use expect_test::{expect, Expect};

    fn vocab(tokens: &'static [&'static str]) -> impl Fn(&str) -> bool {
        move |t| tokens.contains(&t)
    }

    #[test]
    fn detection_table() {
        let cases: &[(&[&str], PromptFormat)] = &[
            (
                &[
                    "<|fim_prefix|>",
                    "<|fim_suffix|>",
                    "<|fim_middle|>",
                    "<|file_sep|>",
                ],
                PromptFormat::Qwen,
            ),
            (
                &["<fim_prefix>", "<fim_suffix>", "<fim_middle>"],
                PromptFormat::StarCoder,
            ),
            (
                &["<｜fim▁begin｜>", "<｜fim▁hole｜>", "<｜fim▁end｜>"],
                PromptFormat::DeepSeek,
            ),
            (
                &["<PRE>", "<SUF>", "<MID>", "<EOT>"],
                PromptFormat::CodeLlama,
            ),
            (&["<|im_start|>", "<|im_end|>"], PromptFormat::PrefixOnly),
            (
                &["<|fim_prefix|>", "<|fim_middle|>"],
                PromptFormat::PrefixOnly,
            ),
            (&[], PromptFormat::PrefixOnly),
        ];
        for (tokens, want) in cases {
            let tokens: &'static [&'static str] = Box::leak(tokens.to_vec().into_boxed_slice());
            assert_eq!(PromptFormat::detect(&vocab(tokens)), *want, "{tokens:?}");
        }
    }

    fn check(format: PromptFormat, parts: &FimParts, expect: Expect) {
        expect.assert_eq(&format.render(parts));
    }

    fn parts(files: bool) -> FimParts {
        FimParts {
            repo_name: Some("demo".into()),
            files: if files {
                vec![RepoFile {
                    path: "util.py".into(),
                    text: "def helper(): ...".into(),
                }]
            } else {
                vec![]
            },
            path: Some("main.py".into()),
            comment: "#".into(),
            prefix: "def add(a, b):\n".into(),
            suffix: "\n\nprint(add(1, 2))\n".into(),
            middle_start: "    ret".into(),
        }
    }

    #[test]
    fn renders_each_family() {
        check(
            PromptFormat::Qwen,
            &parts(false),
            expect![[r#"
            <|repo_name|>demo
            <|fim_prefix|>def add(a, b):
            <|fim_suffix|>

            print(add(1, 2))
            <|fim_middle|>    ret"#]],
        );
        check(
            PromptFormat::Qwen,
            &parts(true),
            expect![[r#"
            <|repo_name|>demo
            <|file_sep|>util.py
            def helper(): ...
            <|file_sep|>main.py
            <|fim_prefix|>def add(a, b):
            <|fim_suffix|>

            print(add(1, 2))
            <|fim_middle|>    ret"#]],
        );
        check(
            PromptFormat::StarCoder,
            &parts(false),
            expect![[r#"
            <repo_name>demo
            <fim_prefix>def add(a, b):
            <fim_suffix>

            print(add(1, 2))
            <fim_middle>    ret"#]],
        );
        check(
            PromptFormat::DeepSeek,
            &parts(true),
            expect![[r#"
            # file: util.py
            def helper(): ...

            <｜fim▁begin｜>def add(a, b):
            <｜fim▁hole｜>

            print(add(1, 2))
            <｜fim▁end｜>    ret"#]],
        );
        check(
            PromptFormat::CodeLlama,
            &parts(false),
            expect![[r#"
            <PRE> def add(a, b):
             <SUF>

            print(add(1, 2))
             <MID>    ret"#]],
        );
        check(
            PromptFormat::PrefixOnly,
            &parts(true),
            expect![[r#"
            # file: util.py
            def helper(): ...

            def add(a, b):
                ret"#]],
        );
    }

    #[test]
    fn training_text_uses_the_family_tokens() {
        let (prompt, full) = PromptFormat::Qwen
            .training_text("def f():\n    ", "\n", "return 1")
            .unwrap();
        assert_eq!(
            prompt,
            "<|fim_prefix|>def f():\n    <|fim_suffix|>\n<|fim_middle|>"
        );
        assert_eq!(full, format!("{prompt}return 1<|endoftext|>"));
        let (_, full) = PromptFormat::CodeLlama
            .training_text("a", "b", "c")
            .unwrap();
        assert_eq!(full, "<PRE> a <SUF>b <MID>c<EOT>");
        assert_eq!(PromptFormat::PrefixOnly.training_text("a", "b", "c"), None);
    }

    #[test]
    fn model_names_give_the_family() {
        assert_eq!(
            PromptFormat::from_model_name("qwen2.5-coder-0.5b"),
            Some(PromptFormat::Qwen)
        );
        assert_eq!(
            PromptFormat::from_model_name("/m/StarCoder2-3B.Q4.gguf"),
            Some(PromptFormat::StarCoder)
        );
        assert_eq!(
            PromptFormat::from_model_name("deepseek-coder-1.3b-base"),
            Some(PromptFormat::DeepSeek)
        );
        assert_eq!(PromptFormat::from_model_name("smollm2-360m"), None);
    }
}
