//! The chat path of "generate code from comment", for instruct models (the model ships a chat
//! template): the model is asked, in its chat format, to write the function whose docstring
//! or comment the cursor is on, and the body is taken out of its answer.
//!
//! The user turn shows the file before the function (within a token budget) and the function;
//! the assistant turn is opened with a code fence and the function up to the comment, so the
//! model goes on with the body instead of first repeating the signature and docstring. The
//! answer ends at the closing fence. The function is then found in the fenced code
//! (tree-sitter, by name), and its new lines (with the imports and helpers it calls that the
//! document lacks) become the code to insert. When no body can be found the caller falls back
//! to the infilling path.

use nib_context::{cursor_window, WindowConfig};
use nib_engine::{ChatFormat, ChatMessage, Role, TokenCounter};
use nib_syntax::tree_sitter::{Node, Tree};
use nib_syntax::Language;

/// The function whose body holds the comment block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Function {
    pub name: String,
    /// Byte where the function's first line starts (its indentation included).
    pub start: usize,
    /// Byte where the function ends.
    pub end: usize,
    /// The indentation of its `def` / `fn` line.
    pub indent: String,
}

/// The innermost function (Python `def`, Rust `fn`) whose body contains byte `at`.
pub(crate) fn enclosing_function(
    lang: Language,
    tree: &Tree,
    text: &str,
    at: usize,
) -> Option<Function> {
    let mut node = tree.root_node().descendant_for_byte_range(at, at)?;
    loop {
        if is_function(lang, node) {
            // After the signature's parameters: in the body (a comment before a Python body's
            // first statement is the function's child, not the body's).
            let params = node.child_by_field_name("parameters")?;
            if params.end_byte() <= at {
                let name = node.child_by_field_name("name")?;
                let start = text[..node.start_byte()].rfind('\n').map_or(0, |i| i + 1);
                let line = &text[start..];
                return Some(Function {
                    name: text.get(name.start_byte()..name.end_byte())?.to_string(),
                    start,
                    end: node.end_byte(),
                    indent: line[..line.len() - line.trim_start().len()].to_string(),
                });
            }
        }
        node = node.parent()?;
    }
}

/// The function the code inserted at `start..end` (replaced by `lead`, the code and `tail`)
/// goes into, for a comment starting at byte `comment_at` of `text`. A placeholder statement
/// stands in for the code while parsing: a Python function whose body is only a comment does
/// not parse as a function.
pub(crate) fn function_at_insertion(
    lang: Language,
    text: &str,
    (start, end): (usize, usize),
    lead: &str,
    tail: &str,
    comment_at: usize,
) -> Option<Function> {
    let placeholder = match lang {
        Language::Python => "pass",
        Language::Rust => "",
    };
    let inserted = format!("{lead}{placeholder}{tail}");
    let probe = format!("{}{inserted}{}", &text[..start], &text[end..]);
    let tree = nib_syntax::parse(lang, &probe)?;
    let mut f = enclosing_function(lang, &tree, &probe, comment_at)?;
    // Back to `text`'s offsets (the function starts before the comment, so before `start`).
    f.end = if f.end >= start + inserted.len() {
        f.end - inserted.len() + (end - start)
    } else {
        f.end.min(start)
    };
    Some(f)
}

fn is_function(lang: Language, node: Node<'_>) -> bool {
    match lang {
        Language::Python => node.kind() == "function_definition",
        Language::Rust => node.kind() == "function_item",
    }
}

/// What is sent to the model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ChatPrompt {
    /// The rendered chat, ending with the opened assistant turn and `answer_start`.
    pub prompt: String,
    /// The start of the assistant's answer written for it: a code fence and the function,
    /// dedented to column 0, up to the insertion point (ending with a line break).
    pub answer_start: String,
    /// Byte of `answer_start` after the fence line (where the fenced code starts).
    pub code_start: usize,
    /// Lines of the file before the function that the budget left out (0: all shown).
    pub dropped_context_lines: usize,
    /// The chat before the opened assistant turn (for a follow-up, see [`repair_prompt`]).
    pub messages: Vec<ChatMessage>,
}

/// The system message for a model whose chat template has no default one. A model that has
/// one gets that (the message it was tuned with; nib's instruction is in the user turn).
pub(crate) const SYSTEM: &str = "You are a coding assistant. You complete the code you are given: \
you write the implementation it asks for, in the same language and style, and answer with the \
code in one fenced code block.";

/// The chat asking for the body of `func` at byte `insert_at` of `text` (the end of the comment
/// block), with up to `context_tokens` of the file before the function. `system`: the model's
/// default system message, if its template has one ([`SYSTEM`] otherwise).
#[allow(clippy::too_many_arguments)]
pub(crate) fn chat_prompt(
    chat: ChatFormat,
    system: Option<&str>,
    lang: Language,
    text: &str,
    func: &Function,
    insert_at: usize,
    counter: &dyn TokenCounter,
    context_tokens: usize,
) -> ChatPrompt {
    let before = cursor_window(
        &text[..func.start],
        "",
        counter,
        WindowConfig {
            prefix_tokens: context_tokens,
            suffix_tokens: 0,
        },
    );
    let head = with_newline(&text[func.start..insert_at]);
    let rest = text[insert_at.min(func.end)..func.end].trim_matches(['\n', '\r']);
    let rest = if rest.trim().is_empty() {
        String::new()
    } else {
        format!("{rest}\n")
    };
    let fence = format!("```{}\n", lang.name());
    let described = match lang {
        Language::Python => "its docstring and comments describe",
        Language::Rust => "its comments describe",
    };
    let user = format!(
        "Complete the {} function `{}` in this code: write its body, implementing what {described}.\n\n{fence}{}{head}{}```\n\nAnswer with the complete function `{}` in one code block.",
        capitalized(lang.name()),
        func.name,
        before.prefix,
        rest,
        func.name,
    );
    let answer_start = format!("{fence}{}", dedent_by(&head, &func.indent));
    let messages = [
        ChatMessage::new(Role::System, system.unwrap_or(SYSTEM)),
        ChatMessage::new(Role::User, user),
    ];
    ChatPrompt {
        prompt: format!("{}{answer_start}", chat.render(&messages)),
        code_start: fence.len(),
        answer_start,
        dropped_context_lines: before.report.dropped_prefix_lines,
        messages: messages.to_vec(),
    }
}

/// The chat of `first` continued: the model's `answer` to it (what followed
/// `first.answer_start`), then `feedback` from the user, and the assistant turn opened again
/// the same way. The model sees what it wrote and what is wrong with it, and writes the
/// function again.
pub(crate) fn repair_prompt(
    chat: ChatFormat,
    first: &ChatPrompt,
    answer: &str,
    feedback: &str,
) -> ChatPrompt {
    let mut said = format!("{}{}", first.answer_start, answer.trim_end());
    if !said.trim_end().ends_with("```") {
        said.push_str("\n```");
    }
    let mut messages = first.messages.clone();
    messages.push(ChatMessage::new(Role::Assistant, said));
    messages.push(ChatMessage::new(Role::User, feedback));
    ChatPrompt {
        prompt: format!("{}{}", chat.render(&messages), first.answer_start),
        answer_start: first.answer_start.clone(),
        code_start: first.code_start,
        dropped_context_lines: first.dropped_context_lines,
        messages,
    }
}

/// What the user says about an answer whose body calls `names`, which nothing defines.
pub(crate) fn undefined_feedback(lang: Language, function: &str, names: &[String]) -> String {
    let list = names
        .iter()
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ");
    let verb = if names.len() == 1 { "is" } else { "are" };
    format!(
        "{list} {verb} not defined or imported anywhere in the file. Write the complete {} function `{function}` again so that it defines or imports everything it uses.",
        capitalized(lang.name()),
    )
}

fn with_newline(s: &str) -> String {
    if s.is_empty() || s.ends_with('\n') {
        s.to_string()
    } else {
        format!("{s}\n")
    }
}

fn capitalized(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map_or_else(String::new, |f| f.to_uppercase().chain(c).collect())
}

/// Remove `indent` from the start of every line that has it.
fn dedent_by(text: &str, indent: &str) -> String {
    if indent.is_empty() {
        return text.to_string();
    }
    text.split_inclusive('\n')
        .map(|l| l.strip_prefix(indent).unwrap_or(l))
        .collect()
}

/// The code to insert after the insertion's indentation `lead_indent`, from the model's
/// `answer` (what followed `prompt.answer_start`). `None` when the answer has no body for
/// the function.
pub(crate) fn code_from_answer(
    lang: Language,
    prompt: &ChatPrompt,
    answer: &str,
    func: &Function,
    document: &str,
    lead_indent: &str,
) -> Option<String> {
    let full = format!("{}{answer}", prompt.answer_start);
    let code = nib_postprocess::answer_code(&full);
    // The fenced code starts right after the fence line of `answer_start`.
    if !std::ptr::eq(code.as_ptr(), full[prompt.code_start..].as_ptr()) {
        return None;
    }
    let keep_from = prompt.answer_start.len() - prompt.code_start;
    let e = nib_postprocess::function_body(lang, code, &func.name, document, keep_from)?;
    let text = e.indented(&func.indent);
    Some(match text.strip_prefix(lead_indent) {
        Some(rest) => rest.to_string(),
        None => text.trim_start().to_string(),
    })
}

/// Byte of `code` (a whole function written again) where the lines the document already
/// has end: from the line defining `name`, the lines (trimmed) that are also lines of `head`
/// (the function's signature, docstring and comments in the document), and blank ones. 0 when
/// `code` does not define `name`.
pub(crate) fn after_known_lines(code: &str, name: &str, head: &str) -> usize {
    let known: std::collections::HashSet<&str> = head.lines().map(str::trim).collect();
    let mut at = 0;
    let mut found = false;
    for line in code.split_inclusive('\n') {
        let t = line.trim();
        if !found {
            found = [format!("def {name}("), format!("fn {name}(")]
                .iter()
                .any(|d| t.contains(d.as_str()));
            if !found {
                at += line.len();
                continue;
            }
        } else if !(t.is_empty() || known.contains(t)) {
            return at;
        }
        at += line.len();
    }
    if found {
        at
    } else {
        0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use expect_test::expect;
    use nib_engine::ApproxTokenCounter;

    const DOC: &str = "import math\n\n\nclass Shapes:\n    def area(self, r):\n        \"\"\"Area of a circle of radius r.\"\"\"\n        # use math.pi\n\n    def other(self):\n        return 1\n";

    fn func_at(text: &str, needle: &str) -> Option<Function> {
        let tree = nib_syntax::parse(Language::Python, text).unwrap();
        enclosing_function(Language::Python, &tree, text, text.find(needle).unwrap())
    }

    #[test]
    fn the_function_around_a_docstring_or_comment() {
        let f = func_at(DOC, "# use").unwrap();
        assert_eq!(
            (
                f.name.as_str(),
                &DOC[f.start..f.start + 11],
                f.indent.as_str()
            ),
            ("area", "    def are", "    ")
        );
        assert_eq!(func_at(DOC, "\"\"\"Area").unwrap().name, "area");
        // Not in a body: the signature, a class body, module level.
        assert_eq!(func_at(DOC, "area(self"), None);
        assert_eq!(func_at(DOC, "import"), None);
        assert_eq!(func_at("class A:\n    # x\n    pass\n", "# x"), None);
        let rs = "/// Adds.\nfn add(a: i32) -> i32 {\n    // one more\n}\n";
        let tree = nib_syntax::parse(Language::Rust, rs).unwrap();
        let f = enclosing_function(Language::Rust, &tree, rs, rs.find("// one").unwrap());
        assert_eq!(f.map(|f| f.name), Some("add".to_string()));
        assert_eq!(
            enclosing_function(Language::Rust, &tree, rs, 0).map(|f| f.name),
            None,
            "a doc comment above the function"
        );
    }

    #[test]
    fn a_body_of_only_a_comment_is_found_with_a_placeholder() {
        let text = "import os\n\ndef main():\n    # delete the tree\n\nmain()\n";
        let comment_at = text.find('#').unwrap();
        let start = text.find("\n\nmain()").unwrap() + 1;
        let f = function_at_insertion(
            Language::Python,
            text,
            (start, start),
            "    ",
            "",
            comment_at,
        )
        .unwrap();
        assert_eq!(f.name, "main");
        assert_eq!(
            &text[f.start..f.end],
            "def main():\n    # delete the tree\n"
        );
        // At the end of the file, on a new line.
        let text = "def main():\n    # delete the tree";
        let f = function_at_insertion(
            Language::Python,
            text,
            (text.len(), text.len()),
            "\n    ",
            "",
            text.find('#').unwrap(),
        )
        .unwrap();
        assert_eq!((f.start, f.end), (0, text.len()));
    }

    fn prompt() -> (Function, ChatPrompt, usize) {
        let f = func_at(DOC, "# use").unwrap();
        let insert_at = DOC.find("math.pi\n").unwrap() + "math.pi\n".len();
        let p = chat_prompt(
            ChatFormat::ChatMl,
            None,
            Language::Python,
            DOC,
            &f,
            insert_at,
            &ApproxTokenCounter,
            100,
        );
        (f, p, insert_at)
    }

    #[test]
    fn the_chat_shows_the_file_and_starts_the_answer_with_the_function() {
        let (_, p, _) = prompt();
        expect![[r#"
            <|im_start|>system
            You are a coding assistant. You complete the code you are given: you write the implementation it asks for, in the same language and style, and answer with the code in one fenced code block.<|im_end|>
            <|im_start|>user
            Complete the Python function `area` in this code: write its body, implementing what its docstring and comments describe.

            ```python
            import math


            class Shapes:
                def area(self, r):
                    """Area of a circle of radius r."""
                    # use math.pi
            ```

            Answer with the complete function `area` in one code block.<|im_end|>
            <|im_start|>assistant
            ```python
            def area(self, r):
                """Area of a circle of radius r."""
                # use math.pi
        "#]]
        .assert_eq(&p.prompt);
        assert_eq!(p.dropped_context_lines, 0);
        // A small budget keeps the lines nearest the function.
        let f = func_at(DOC, "# use").unwrap();
        let small = chat_prompt(
            ChatFormat::ChatMl,
            None,
            Language::Python,
            DOC,
            &f,
            DOC.find("math.pi\n").unwrap() + 8,
            &ApproxTokenCounter,
            4,
        );
        assert!(small.dropped_context_lines > 0);
        assert!(!small.prompt.contains("import math"));
    }

    #[test]
    fn the_model_s_own_default_system_message_replaces_nib_s() {
        let f = func_at(DOC, "# use").unwrap();
        let own = "You are Qwen, created by Alibaba Cloud. You are a helpful assistant.";
        let p = chat_prompt(
            ChatFormat::ChatMl,
            Some(own),
            Language::Python,
            DOC,
            &f,
            DOC.find("math.pi\n").unwrap() + 8,
            &ApproxTokenCounter,
            100,
        );
        assert!(p.prompt.starts_with(&format!("<|im_start|>system\n{own}<|im_end|>\n<|im_start|>user\nComplete the Python function `area`")), "{}", p.prompt);
        assert!(!p.prompt.contains(SYSTEM));
    }

    #[test]
    fn a_whole_function_answer_is_kept_from_its_first_new_line() {
        let head = "    def area(self, r):\n        \"\"\"Area of a circle of radius r.\"\"\"\n        # use math.pi\n";
        let code = "import math\n\ndef area(self, r):\n    \"\"\"Area of a circle of radius r.\"\"\"\n    # use math.pi\n    return math.pi * r ** 2\n";
        let at = after_known_lines(code, "area", head);
        assert_eq!(&code[at..], "    return math.pi * r ** 2\n");
        assert_eq!(after_known_lines("x = 1\n", "area", head), 0);
    }

    #[test]
    fn the_answer_becomes_the_new_lines_of_the_body_at_the_document_indentation() {
        let (f, p, _) = prompt();
        let answer = "    return math.pi * r ** 2\n```";
        assert_eq!(
            code_from_answer(Language::Python, &p, answer, &f, DOC, "        ").as_deref(),
            Some("return math.pi * r ** 2")
        );
        let answer = "    if r < 0:\n        raise ValueError(r)\n    return math.pi * r * r\n\ndef other(self):\n    return 2\n```";
        assert_eq!(
            code_from_answer(Language::Python, &p, answer, &f, DOC, "        ").as_deref(),
            Some("if r < 0:\n            raise ValueError(r)\n        return math.pi * r * r")
        );
        // Nothing but the end of the block, or prose: no body.
        assert_eq!(
            code_from_answer(Language::Python, &p, "```\nDone.", &f, DOC, "        "),
            None
        );
    }
}
