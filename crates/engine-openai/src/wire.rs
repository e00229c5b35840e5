//! The JSON of the OpenAI-compatible API: request bodies, and the pieces of a streamed answer.

use nib_engine::{ChatRequest, GeneratedToken, Role, StopReason, StopRules};
use serde_json::{json, Value};

use crate::stream::Endpoint;
use crate::OpenAiConfig;

/// The most stop strings the API accepts; the rest are applied on this side only.
const MAX_STOP: usize = 4;

pub fn chat_body(config: &OpenAiConfig, req: &ChatRequest) -> Value {
    let messages: Vec<Value> = req
        .messages
        .iter()
        .map(|m| {
            let role = match m.role {
                Role::System => "system",
                Role::User => "user",
                Role::Assistant => "assistant",
            };
            json!({ "role": role, "content": m.content })
        })
        .collect();
    let mut body = json!({
        "model": config.model,
        "messages": messages,
        "stream": true,
        "temperature": req.temperature,
    });
    if req.max_tokens > 0 {
        body["max_tokens"] = json!(req.max_tokens);
    }
    if !req.stop.is_empty() {
        body["stop"] = json!(req.stop.iter().take(MAX_STOP).collect::<Vec<_>>());
    }
    if config.logprobs {
        body["logprobs"] = json!(true);
    }
    body
}

pub fn completion_body(config: &OpenAiConfig, prompt: &str, stop: &StopRules) -> Value {
    let mut body = json!({
        "model": config.model,
        "prompt": prompt,
        "stream": true,
        "temperature": 0.0,
    });
    if stop.max_tokens > 0 {
        body["max_tokens"] = json!(stop.max_tokens);
    }
    if !stop.stop_strings.is_empty() {
        body["stop"] = json!(stop.stop_strings.iter().take(MAX_STOP).collect::<Vec<_>>());
    }
    if config.logprobs {
        body["logprobs"] = json!(1);
    }
    body
}

/// What one event of a streamed answer carries.
#[derive(Debug, Default, PartialEq)]
pub struct Chunk {
    /// New text (may be empty: role-only or usage-only chunks).
    pub text: String,
    /// The text's tokens with their log-probabilities, when the server sent them.
    pub tokens: Vec<GeneratedToken>,
    pub finish: Option<StopReason>,
    pub model: Option<String>,
    pub prompt_tokens: Option<usize>,
    pub completion_tokens: Option<usize>,
}

/// Parse one event's data. `Err` carries a description for [`nib_engine::EngineError::BadResponse`].
pub fn parse_chunk(endpoint: Endpoint, data: &str) -> Result<Chunk, String> {
    let v: Value = serde_json::from_str(data).map_err(|e| {
        format!(
            "malformed JSON in a streamed chunk ({e}): {}",
            excerpt(data, 120)
        )
    })?;
    if let Some(err) = v.get("error") {
        let message = err
            .get("message")
            .and_then(Value::as_str)
            .map(str::to_string)
            .unwrap_or_else(|| err.to_string());
        return Err(format!(
            "the server reported an error mid-stream: {}",
            excerpt(&message, 200)
        ));
    }
    let mut chunk = Chunk {
        model: v.get("model").and_then(Value::as_str).map(str::to_string),
        ..Chunk::default()
    };
    if let Some(usage) = v.get("usage").filter(|u| !u.is_null()) {
        let n = |k: &str| usage.get(k).and_then(Value::as_u64).map(|n| n as usize);
        chunk.prompt_tokens = n("prompt_tokens");
        chunk.completion_tokens = n("completion_tokens");
    }
    let choices = match v.get("choices") {
        Some(Value::Array(c)) => c,
        // A usage-only chunk (`stream_options.include_usage`) has no choices.
        None if chunk.prompt_tokens.is_some() => return Ok(chunk),
        _ => {
            return Err(format!(
                "a streamed chunk without choices: {}",
                excerpt(data, 120)
            ))
        }
    };
    let Some(choice) = choices.first() else {
        return Ok(chunk);
    };
    let text = match endpoint {
        Endpoint::Chat => choice.get("delta").and_then(|d| d.get("content")),
        Endpoint::Completion => choice.get("text"),
    };
    match text {
        Some(Value::String(s)) => chunk.text = s.clone(),
        None | Some(Value::Null) => {}
        Some(other) => {
            return Err(format!(
                "text of unexpected type: {}",
                excerpt(&other.to_string(), 80)
            ))
        }
    }
    chunk.finish = match choice.get("finish_reason").and_then(Value::as_str) {
        None => None,
        Some("length") => Some(StopReason::MaxTokens),
        Some(_) => Some(StopReason::EndOfGeneration),
    };
    chunk.tokens = logprobs(endpoint, choice.get("logprobs"));
    Ok(chunk)
}

/// Tokens and their log-probabilities: `logprobs.content[{token, logprob}]` (chat) or
/// `logprobs.tokens[]` with `logprobs.token_logprobs[]` (completions).
fn logprobs(endpoint: Endpoint, lp: Option<&Value>) -> Vec<GeneratedToken> {
    let Some(lp) = lp.filter(|v| !v.is_null()) else {
        return Vec::new();
    };
    let token = |text: Option<&str>, logprob: Option<f64>| GeneratedToken {
        text: text.unwrap_or_default().to_string(),
        logprob: logprob.map_or(f32::NAN, |p| p as f32),
    };
    match endpoint {
        Endpoint::Chat => lp
            .get("content")
            .and_then(Value::as_array)
            .map(|items| {
                items
                    .iter()
                    .map(|t| {
                        token(
                            t.get("token").and_then(Value::as_str),
                            t.get("logprob").and_then(Value::as_f64),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default(),
        Endpoint::Completion => {
            let texts = lp.get("tokens").and_then(Value::as_array);
            let probs = lp.get("token_logprobs").and_then(Value::as_array);
            match (texts, probs) {
                (Some(t), Some(p)) => t
                    .iter()
                    .zip(p)
                    .map(|(t, p)| token(t.as_str(), p.as_f64()))
                    .collect(),
                _ => Vec::new(),
            }
        }
    }
}

/// The first `max` characters of `s`, for error messages.
pub fn excerpt(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((i, _)) => format!("{}...", &s[..i]),
        None => s.to_string(),
    }
}

/// The message of an error body (`{"error": {"message": ...}}` or plain text), shortened.
pub fn error_message(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let message = serde_json::from_str::<Value>(&text)
        .ok()
        .and_then(|v| {
            let e = v.get("error")?;
            e.get("message")
                .and_then(Value::as_str)
                .or_else(|| e.as_str())
                .map(str::to_string)
        })
        .unwrap_or_else(|| text.trim().to_string());
    excerpt(&message, 200)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chat_and_completion_chunks() {
        let c = parse_chunk(
            Endpoint::Chat,
            r#"{"model":"m","choices":[{"index":0,"delta":{"content":"he"},"finish_reason":null}]}"#,
        )
        .unwrap();
        assert_eq!(
            (c.text.as_str(), c.finish, c.model.as_deref()),
            ("he", None, Some("m"))
        );
        let c = parse_chunk(
            Endpoint::Chat,
            r#"{"choices":[{"delta":{},"finish_reason":"length"}],"usage":{"prompt_tokens":7,"completion_tokens":3}}"#,
        )
        .unwrap();
        assert_eq!(c.finish, Some(StopReason::MaxTokens));
        assert_eq!((c.prompt_tokens, c.completion_tokens), (Some(7), Some(3)));
        let c = parse_chunk(
            Endpoint::Completion,
            r#"{"choices":[{"text":" x","logprobs":{"tokens":[" x"],"token_logprobs":[-0.5]},"finish_reason":"stop"}]}"#,
        )
        .unwrap();
        assert_eq!(c.text, " x");
        assert_eq!(c.finish, Some(StopReason::EndOfGeneration));
        assert_eq!(
            c.tokens,
            vec![GeneratedToken {
                text: " x".into(),
                logprob: -0.5
            }]
        );
        let c = parse_chunk(
            Endpoint::Chat,
            r#"{"choices":[{"delta":{"content":"a"},"logprobs":{"content":[{"token":"a","logprob":-0.25}]}}]}"#,
        )
        .unwrap();
        assert_eq!(
            c.tokens,
            vec![GeneratedToken {
                text: "a".into(),
                logprob: -0.25
            }]
        );
        // A usage-only chunk.
        let c = parse_chunk(
            Endpoint::Chat,
            r#"{"choices":[],"usage":{"prompt_tokens":1}}"#,
        )
        .unwrap();
        assert_eq!(c.prompt_tokens, Some(1));
    }

    #[test]
    fn bad_chunks_are_described() {
        let e = parse_chunk(Endpoint::Chat, r#"{"choices":[{"delta""#).unwrap_err();
        assert!(e.starts_with("malformed JSON"), "{e}");
        let e = parse_chunk(Endpoint::Chat, r#"{"error":{"message":"overloaded"}}"#).unwrap_err();
        assert!(e.contains("overloaded"), "{e}");
        let e = parse_chunk(Endpoint::Completion, r#"{"object":"x"}"#).unwrap_err();
        assert!(e.contains("without choices"), "{e}");
        assert!(parse_chunk(Endpoint::Completion, r#"{"choices":[{"text":5}]}"#).is_err());
    }

    #[test]
    fn error_bodies() {
        assert_eq!(
            error_message(br#"{"error":{"message":"no such model"}}"#),
            "no such model"
        );
        assert_eq!(error_message(b"  upstream down \n"), "upstream down");
        assert_eq!(error_message(&[b'x'; 500]).len(), 203);
    }

    #[test]
    fn bodies_carry_the_request() {
        let config = OpenAiConfig::new("http://h/v1", "m");
        let stop = StopRules {
            max_tokens: 16,
            stop_strings: (0..6).map(|i| format!("s{i}")).collect(),
            ..StopRules::default()
        };
        let b = completion_body(&config, "<pre>x", &stop);
        assert_eq!(b["prompt"], "<pre>x");
        assert_eq!(b["stream"], true);
        assert_eq!(b["max_tokens"], 16);
        assert_eq!(b["stop"].as_array().unwrap().len(), MAX_STOP);
        assert!(b.get("logprobs").is_none());
        let req = ChatRequest::new(
            vec![nib_engine::ChatMessage::new(Role::User, "hi")],
            nib_engine::CancelToken::new(),
        );
        let b = chat_body(&config, &req);
        assert_eq!(b["messages"][0]["role"], "user");
        assert_eq!(b["messages"][0]["content"], "hi");
        assert_eq!(b["model"], "m");
        assert!(b.get("stop").is_none());
    }
}
