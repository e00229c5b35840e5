//! Chat prompt formats, for explicit requests to instruct models ("write this function").
//!
//! Inline completion uses fill-in-the-middle ([`crate::PromptFormat`]); an instruct model's
//! published scores are measured through its chat template, which writes whole functions
//! where infilling writes short lines. A family whose template is known is rendered exactly;
//! any other model that ships a chat template gets a plain transcript.

/// Who says a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    System,
    User,
    Assistant,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatMessage {
    pub role: Role,
    pub content: String,
}

impl ChatMessage {
    pub fn new(role: Role, content: impl Into<String>) -> ChatMessage {
        ChatMessage {
            role,
            content: content.into(),
        }
    }
}

/// A model's chat format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ChatFormat {
    /// ChatML (Qwen, SmolLM2): `<|im_start|>role\n...<|im_end|>\n`.
    ChatMl,
    /// A model with a chat template of a family not in this table: a plain transcript
    /// (`System:` / `User:` / `Assistant:` paragraphs).
    Plain,
}

const IM_START: &str = "<|im_start|>";
const IM_END: &str = "<|im_end|>";

impl ChatFormat {
    /// The chat format of a model: `template` is its embedded chat template (GGUF
    /// `tokenizer.chat_template`), `is_special_token` as for [`crate::PromptFormat::detect`].
    /// `None` when the model has no template (a base model: no chat).
    pub fn detect(
        is_special_token: &dyn Fn(&str) -> bool,
        template: Option<&str>,
    ) -> Option<ChatFormat> {
        let template = template.filter(|t| !t.trim().is_empty())?;
        let chatml =
            template.contains(IM_START) && is_special_token(IM_START) && is_special_token(IM_END);
        Some(if chatml {
            ChatFormat::ChatMl
        } else {
            ChatFormat::Plain
        })
    }

    /// Strings that end the assistant's turn (besides the vocabulary's end-of-generation).
    pub fn stop_strings(self) -> Vec<String> {
        match self {
            ChatFormat::ChatMl => vec![IM_END.into(), IM_START.into(), "<|endoftext|>".into()],
            ChatFormat::Plain => vec!["\nUser:".into(), "\nSystem:".into()],
        }
    }

    /// Render `messages` and open the assistant's turn: the model's output is its answer.
    pub fn render(self, messages: &[ChatMessage]) -> String {
        let mut out = String::with_capacity(messages.iter().map(|m| m.content.len() + 32).sum());
        match self {
            ChatFormat::ChatMl => {
                for m in messages {
                    out.push_str(IM_START);
                    out.push_str(role_name(m.role));
                    out.push('\n');
                    out.push_str(&m.content);
                    out.push_str(IM_END);
                    out.push('\n');
                }
                out.push_str(IM_START);
                out.push_str("assistant\n");
            }
            ChatFormat::Plain => {
                for m in messages {
                    out.push_str(match m.role {
                        Role::System => "System: ",
                        Role::User => "User: ",
                        Role::Assistant => "Assistant: ",
                    });
                    out.push_str(m.content.trim_end());
                    out.push_str("\n\n");
                }
                out.push_str("Assistant:");
            }
        }
        out
    }
}

/// The system message a chat template writes when the chat has none: the one the model was
/// tuned with (Qwen2.5: "You are Qwen, created by Alibaba Cloud. You are a helpful
/// assistant."). Found as a ChatML system turn spelled out whole in one string literal of
/// the template; `None` when there is no such turn.
pub fn default_system_message(template: &str) -> Option<String> {
    let open = format!("{IM_START}system");
    let mut rest = template;
    while let Some(i) = rest.find(&open) {
        rest = &rest[i + open.len()..];
        let Some(body) = rest.strip_prefix("\\n").or_else(|| rest.strip_prefix('\n')) else {
            continue;
        };
        let Some(end) = body.find(IM_END) else {
            break;
        };
        let text = &body[..end];
        // Template code (a message's content spliced in) is not a fixed message.
        if !text.trim().is_empty() && !text.contains(['\'', '"', '{', '}', '+', '\n', '\\']) {
            return Some(text.to_string());
        }
    }
    None
}

fn role_name(role: Role) -> &'static str {
    match role {
        Role::System => "system",
        Role::User => "user",
        Role::Assistant => "assistant",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use expect_test::expect;

    const QWEN_TEMPLATE: &str = "{%- for message in messages %}{{- '<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>' + '\\n' }}{%- endfor %}";

    fn messages() -> Vec<ChatMessage> {
        vec![
            ChatMessage::new(Role::System, "You complete code."),
            ChatMessage::new(Role::User, "```python\ndef f():\n```\nWrite f."),
        ]
    }

    #[test]
    fn detection_needs_a_template_and_the_tokens() {
        let chatml = |t: &str| t == IM_START || t == IM_END;
        let none = |_: &str| false;
        assert_eq!(
            ChatFormat::detect(&chatml, Some(QWEN_TEMPLATE)),
            Some(ChatFormat::ChatMl)
        );
        // A base model: the tokens exist, but no template.
        assert_eq!(ChatFormat::detect(&chatml, None), None);
        assert_eq!(ChatFormat::detect(&chatml, Some("  ")), None);
        // A template of another family, or ChatML text without the special tokens.
        assert_eq!(
            ChatFormat::detect(&chatml, Some("[INST] {{ message }} [/INST]")),
            Some(ChatFormat::Plain)
        );
        assert_eq!(
            ChatFormat::detect(&none, Some(QWEN_TEMPLATE)),
            Some(ChatFormat::Plain)
        );
    }

    #[test]
    fn the_default_system_message_is_read_from_the_template() {
        // As the Qwen2.5 GGUFs ship it: with tools, the same text without the turn around it.
        let qwen = "{%- if tools %}\n    {{- '<|im_start|>system\\n' }}\n    {%- if messages[0]['role'] == 'system' %}\n        {{- messages[0]['content'] }}\n    {%- else %}\n        {{- 'You are Qwen, created by Alibaba Cloud. You are a helpful assistant.' }}\n    {%- endif %}\n{%- else %}\n    {%- if messages[0]['role'] == 'system' %}\n        {{- '<|im_start|>system\\n' + messages[0]['content'] + '<|im_end|>\\n' }}\n    {%- else %}\n        {{- '<|im_start|>system\\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\\n' }}\n    {%- endif %}\n{%- endif %}";
        assert_eq!(
            default_system_message(qwen).as_deref(),
            Some("You are Qwen, created by Alibaba Cloud. You are a helpful assistant.")
        );
        // A template that only splices the caller's messages has none.
        assert_eq!(default_system_message(QWEN_TEMPLATE), None);
        assert_eq!(default_system_message("[INST] {{ message }} [/INST]"), None);
    }

    #[test]
    fn renders_chatml_and_plain() {
        expect![[r#"
            <|im_start|>system
            You complete code.<|im_end|>
            <|im_start|>user
            ```python
            def f():
            ```
            Write f.<|im_end|>
            <|im_start|>assistant
        "#]]
        .assert_eq(&ChatFormat::ChatMl.render(&messages()));
        expect![[r#"
            System: You complete code.

            User: ```python
            def f():
            ```
            Write f.

            Assistant:"#]]
        .assert_eq(&ChatFormat::Plain.render(&messages()));
    }

    #[test]
    fn stops_end_the_assistant_turn() {
        let ml = ChatFormat::ChatMl.stop_strings();
        assert!(ml.iter().any(|s| s == IM_END));
        // The rendered turn never contains its own stop before the assistant's answer begins
        // (the system and user turns are closed, the assistant's is open).
        let p = ChatFormat::ChatMl.render(&messages());
        assert!(!p[p.rfind(IM_START).unwrap()..].contains(IM_END));
        let plain = ChatFormat::Plain.render(&messages());
        assert!(plain.ends_with("Assistant:"));
        assert!(ChatFormat::Plain
            .stop_strings()
            .iter()
            .all(|s| !"```python\ndef f():\n    return 1\n```".contains(s.as_str())));
    }
}
