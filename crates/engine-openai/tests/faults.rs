//! The engine against a scripted loopback server: the happy paths and every fault the issue
//! lists. Time bounds are generous (seconds for budgets of a few hundred milliseconds): they
//! tell "ended within the budget" from "waited for the server", whatever the machine's load.

mod server;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use nib_engine::{
    CancelToken, ChatEngine, ChatMessage, ChatRequest, CompletionEngine, EngineError, Forced,
    GenerateRequest, Role, StopReason, StopRules,
};
use nib_engine_openai::{OpenAiConfig, OpenAiEngine, RequestRecord};
use server::{
    chat_answer, chat_delta, completion_answer, completion_delta, serve, sse_head, status, Step,
};

const GENEROUS: Duration = Duration::from_secs(5);

fn config(base_url: String) -> OpenAiConfig {
    OpenAiConfig {
        connect_timeout: Duration::from_secs(1),
        first_byte_timeout: Duration::from_secs(3),
        total_timeout: Duration::from_secs(4),
        backoff: Duration::from_millis(20),
        ..OpenAiConfig::new(base_url, "remote-model")
    }
}

/// An engine whose HTTP attempts are recorded.
fn engine(config: OpenAiConfig) -> (OpenAiEngine, Arc<Mutex<Vec<RequestRecord>>>) {
    let records = Arc::new(Mutex::new(Vec::new()));
    let sink = records.clone();
    let engine = OpenAiEngine::with_observer(
        config,
        Some(Arc::new(move |r: &RequestRecord| {
            sink.lock().unwrap().push(r.clone())
        })),
    )
    .unwrap();
    (engine, records)
}

fn question() -> Vec<ChatMessage> {
    vec![
        ChatMessage::new(Role::System, "You explain code."),
        ChatMessage::new(Role::User, "What does `fn f() {}` do?"),
    ]
}

/// A chat request whose streamed pieces are collected.
fn chat_request() -> (ChatRequest, Arc<Mutex<Vec<String>>>) {
    let deltas = Arc::new(Mutex::new(Vec::new()));
    let sink = deltas.clone();
    let mut req = ChatRequest::new(question(), CancelToken::new());
    req.on_delta = Some(Arc::new(move |d: &str| {
        sink.lock().unwrap().push(d.to_string())
    }));
    (req, deltas)
}

fn generate_request(prompt: &str) -> GenerateRequest {
    GenerateRequest::new(
        prompt.to_string(),
        StopRules {
            max_tokens: 32,
            ..StopRules::default()
        },
        CancelToken::new(),
    )
}

fn joined(deltas: &Arc<Mutex<Vec<String>>>) -> String {
    deltas.lock().unwrap().concat()
}

#[test]
fn chat_streams_its_answer() {
    let server = serve(vec![chat_answer(&["Hel", "lo", ", wor", "ld"])]);
    let key_var = "NIB_TEST_KEY_CHAT_OK";
    std::env::set_var(key_var, "sk-test-chat-0123456789");
    let (engine, records) = engine(OpenAiConfig {
        api_key_env: Some(key_var.into()),
        ..config(server.base_url())
    });
    let (req, deltas) = chat_request();
    let answer = engine.chat(req).unwrap();
    assert_eq!(answer.text, "Hello, world");
    assert_eq!(answer.stop_reason, StopReason::EndOfGeneration);
    assert_eq!(answer.model, "remote-model");
    assert_eq!(answer.prompt_tokens, Some(12));
    assert_eq!(answer.completion_tokens, Some(3));
    assert_eq!(*deltas.lock().unwrap(), vec!["Hel", "lo", ", wor", "ld"]);
    // Without log-probabilities from the server, confidence is unknown.
    assert!(answer.tokens.iter().all(|t| t.logprob.is_nan()));

    let requests = server.requests();
    assert_eq!(requests.len(), 1);
    let r = &requests[0];
    assert_eq!(r.path, "/v1/chat/completions");
    assert_eq!(
        r.header("authorization"),
        Some("Bearer sk-test-chat-0123456789")
    );
    let body = r.json();
    assert_eq!(body["model"], "remote-model");
    assert_eq!(body["stream"], true);
    assert_eq!(body["messages"][1]["role"], "user");
    assert_eq!(body["messages"][1]["content"], "What does `fn f() {}` do?");
    let records = records.lock().unwrap();
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].status, Some(200));
    assert_eq!(records[0].bytes_sent, r.body.len());
    assert!(records[0].bytes_received > 0 && records[0].error.is_none());
    // The key is nowhere in what the engine shows of itself.
    assert!(!format!("{engine:?} {records:?}").contains("sk-test-chat"));
}

#[test]
fn chat_stop_strings_cut_across_pieces() {
    let server = serve(vec![chat_answer(&["one", " two <", "END> three"])]);
    let (engine, _) = engine(config(server.base_url()));
    let (mut req, deltas) = chat_request();
    req.stop = vec!["<END>".into()];
    let answer = engine.chat(req).unwrap();
    assert_eq!(answer.text, "one two ");
    assert_eq!(answer.stop_reason, StopReason::StopString);
    // The start of the stop string was held back, never shown.
    assert_eq!(joined(&deltas), "one two ");
    assert_eq!(server.requests()[0].json()["stop"][0], "<END>");
}

#[test]
fn completion_streams_a_raw_prompt() {
    let prompt = "<|fim_prefix|>def add(a, b):\n    <|fim_suffix|>\n<|fim_middle|>";
    let server = serve(vec![completion_answer(&["return", " a", " + b"])]);
    let (engine, _) = engine(config(server.base_url()));
    let g = engine.generate(generate_request(prompt)).unwrap();
    assert_eq!(g.text, "return a + b");
    assert_eq!(g.stop_reason, StopReason::EndOfGeneration);
    assert_eq!(g.prompt_tokens, 12);
    let r = &server.requests()[0];
    assert_eq!(r.path, "/v1/completions");
    assert!(r.header("authorization").is_none());
    let body = r.json();
    assert_eq!(body["prompt"], prompt);
    assert_eq!(body["max_tokens"], 32);
    assert_eq!(body["stream"], true);
}

#[test]
fn completion_forced_text_and_newline_stop() {
    let server = serve(vec![completion_answer(&["t(x)", "\n    y = 2", "\n"])]);
    let (engine, _) = engine(config(server.base_url()));
    let mut req = generate_request("def f(x):\n    ");
    req.stop.stop_at_newline = true;
    req.forced = Some(Forced {
        text: "prin".into(),
        ..Forced::default()
    });
    let g = engine.generate(req).unwrap();
    assert_eq!(g.text, "print(x)");
    assert_eq!(g.stop_reason, StopReason::Newline);
    assert_eq!(server.requests()[0].json()["prompt"], "def f(x):\n    prin");
}

#[test]
fn a_500_is_retried() {
    let server = serve(vec![
        status(500, &[], r#"{"error":{"message":"boom"}}"#),
        chat_answer(&["fine"]),
    ]);
    let (engine, records) = engine(config(server.base_url()));
    let answer = engine.chat(chat_request().0).unwrap();
    assert_eq!(answer.text, "fine");
    assert_eq!(server.requests().len(), 2);
    let records = records.lock().unwrap();
    let statuses: Vec<_> = records.iter().map(|r| r.status).collect();
    assert_eq!(statuses, vec![Some(500), Some(200)]);
    assert!(records[0].error.as_deref().unwrap().contains("boom"));
    assert_eq!(records[1].attempt, 2);
}

#[test]
fn server_errors_are_retried_a_bounded_number_of_times() {
    let server = serve(vec![
        status(503, &[], "overloaded"),
        status(502, &[], "bad gateway"),
        status(503, &[], "still overloaded"),
        chat_answer(&["too late"]),
    ]);
    let (engine, _) = engine(config(server.base_url()));
    let err = engine.chat(chat_request().0).unwrap_err();
    assert_eq!(
        err,
        EngineError::Status {
            status: 503,
            message: "still overloaded".into()
        }
    );
    assert!(err.is_remote_failure());
    // One attempt and the two configured retries.
    assert_eq!(server.requests().len(), 3);
}

#[test]
fn a_429_waits_for_retry_after() {
    let server = serve(vec![
        status(429, &[("Retry-After", "1")], "slow down"),
        chat_answer(&["after the wait"]),
    ]);
    let (engine, _) = engine(OpenAiConfig {
        total_timeout: Duration::from_secs(20),
        ..config(server.base_url())
    });
    let start = Instant::now();
    let answer = engine.chat(chat_request().0).unwrap();
    let elapsed = start.elapsed();
    assert_eq!(answer.text, "after the wait");
    assert!(elapsed >= Duration::from_millis(950), "{elapsed:?}");
    assert!(elapsed < GENEROUS, "{elapsed:?}");
    assert_eq!(server.requests().len(), 2);
}

#[test]
fn a_retry_after_beyond_the_budget_ends_at_once() {
    let server = serve(vec![
        status(429, &[("Retry-After", "60")], "slow down"),
        chat_answer(&["never asked"]),
    ]);
    let (engine, _) = engine(OpenAiConfig {
        total_timeout: Duration::from_secs(20),
        ..config(server.base_url())
    });
    let start = Instant::now();
    let err = engine.chat(chat_request().0).unwrap_err();
    assert!(start.elapsed() < GENEROUS, "{:?}", start.elapsed());
    match &err {
        EngineError::Status {
            status: 429,
            message,
        } => {
            assert!(message.contains("60 s"), "{message}")
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(server.requests().len(), 1);
}

#[test]
fn a_slow_first_byte_times_out_and_the_engine_keeps_answering() {
    let server = serve(vec![
        vec![Step::Sleep(Duration::from_secs(10)), sse_head()],
        chat_answer(&["next one"]),
    ]);
    let (engine, _) = engine(OpenAiConfig {
        first_byte_timeout: Duration::from_millis(300),
        ..config(server.base_url())
    });
    let start = Instant::now();
    let err = engine.chat(chat_request().0).unwrap_err();
    assert!(start.elapsed() < GENEROUS, "{:?}", start.elapsed());
    assert!(matches!(err, EngineError::Timeout(_)), "{err:?}");
    // Not retried: the next request gets the next reply.
    let answer = engine.chat(chat_request().0).unwrap();
    assert_eq!(answer.text, "next one");
    assert_eq!(server.requests().len(), 2);
}

#[test]
fn a_slow_first_event_times_out_too() {
    // Headers at once, then nothing.
    let server = serve(vec![vec![sse_head(), Step::Sleep(Duration::from_secs(10))]]);
    let (engine, _) = engine(OpenAiConfig {
        first_byte_timeout: Duration::from_millis(300),
        ..config(server.base_url())
    });
    let start = Instant::now();
    let err = engine.generate(generate_request("x")).unwrap_err();
    assert!(start.elapsed() < GENEROUS, "{:?}", start.elapsed());
    assert!(matches!(err, EngineError::Timeout(_)), "{err:?}");
}

#[test]
fn the_request_deadline_keeps_what_arrived() {
    let server = serve(vec![
        vec![
            sse_head(),
            completion_delta("par"),
            completion_delta("tial"),
            Step::Sleep(Duration::from_secs(10)),
        ],
        vec![sse_head(), Step::Sleep(Duration::from_secs(10))],
    ]);
    let (engine, _) = engine(config(server.base_url()));
    let mut req = generate_request("x");
    req.deadline = Some(Instant::now() + Duration::from_millis(500));
    let start = Instant::now();
    let g = engine.generate(req).unwrap();
    assert!(start.elapsed() < GENEROUS, "{:?}", start.elapsed());
    assert_eq!(g.text, "partial");
    assert_eq!(g.stop_reason, StopReason::Deadline);
    // Nothing by the deadline: a timeout the caller can fall back on.
    let mut req = generate_request("x");
    req.deadline = Some(Instant::now() + Duration::from_millis(300));
    let err = engine.generate(req).unwrap_err();
    assert!(matches!(err, EngineError::Timeout(_)), "{err:?}");
}

#[test]
fn a_stream_cut_halfway_is_an_error_after_the_partial_text() {
    // The connection drops in the middle of the chunked body.
    let server = serve(vec![vec![
        sse_head(),
        chat_delta("Hal"),
        chat_delta("f an"),
        Step::Raw(b"40\r\ndata: {\"choi".to_vec()),
    ]]);
    let (engine, _) = engine(config(server.base_url()));
    let (req, deltas) = chat_request();
    let err = engine.chat(req).unwrap_err();
    match &err {
        EngineError::BadResponse(m) => assert!(m.contains("broke after 7 bytes"), "{m}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(joined(&deltas), "Half an");
}

#[test]
fn a_stream_that_ends_without_its_end_marker_is_an_error() {
    // A well-formed body that stops before `[DONE]` or a finish reason.
    let server = serve(vec![vec![sse_head(), completion_delta("Half"), Step::End]]);
    let (engine, _) = engine(config(server.base_url()));
    let err = engine.generate(generate_request("x")).unwrap_err();
    match &err {
        EngineError::BadResponse(m) => assert!(m.contains("ended before"), "{m}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_malformed_chunk_is_a_bad_response() {
    let server = serve(vec![vec![
        sse_head(),
        chat_delta("ok so far"),
        Step::Chunk(b"data: {\"choices\": [{\"delta\": \n\n".to_vec()),
        Step::Sleep(Duration::from_secs(10)),
    ]]);
    let (engine, _) = engine(config(server.base_url()));
    let start = Instant::now();
    let err = engine.chat(chat_request().0).unwrap_err();
    assert!(start.elapsed() < GENEROUS, "{:?}", start.elapsed());
    match &err {
        EngineError::BadResponse(m) => assert!(m.contains("malformed JSON"), "{m}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn json_instead_of_a_stream_is_a_bad_response() {
    let server = serve(vec![status(200, &[], r#"{"choices":[]}"#)]);
    let (engine, _) = engine(config(server.base_url()));
    let err = engine.chat(chat_request().0).unwrap_err();
    assert!(matches!(err, EngineError::BadResponse(_)), "{err:?}");
}

#[test]
fn an_oversized_body_is_cut_off() {
    // Many valid events, well past the bound, as fast as the socket takes them.
    let piece = "x".repeat(1000);
    let mut endless = vec![sse_head()];
    endless.extend((0..2000).map(|_| completion_delta(&piece)));
    // One event that never ends (no blank line).
    let giant = vec![
        sse_head(),
        Step::Chunk(format!("data: {}", "y".repeat(200_000)).into_bytes()),
        Step::Sleep(Duration::from_secs(10)),
    ];
    let server = serve(vec![endless, giant]);
    let (engine, records) = engine(OpenAiConfig {
        max_response_bytes: 64 << 10,
        ..config(server.base_url())
    });
    for _ in 0..2 {
        let start = Instant::now();
        let err = engine.generate(generate_request("x")).unwrap_err();
        assert!(start.elapsed() < GENEROUS, "{:?}", start.elapsed());
        match &err {
            EngineError::BadResponse(m) => assert!(m.contains("65536 bytes"), "{m}"),
            other => panic!("{other:?}"),
        }
    }
    // The engine stopped reading near the bound, not at the end of what was sent.
    for r in records.lock().unwrap().iter() {
        assert!(r.bytes_received < 200 << 10, "{r:?}");
    }
}

#[test]
fn a_refused_connection_is_retried_then_reported() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let (engine, records) = engine(config(format!("http://127.0.0.1:{port}/v1")));
    let start = Instant::now();
    let err = engine.chat(chat_request().0).unwrap_err();
    assert!(start.elapsed() < GENEROUS, "{:?}", start.elapsed());
    assert!(matches!(err, EngineError::Unreachable(_)), "{err:?}");
    assert!(err.to_string().contains(&port.to_string()), "{err}");
    assert_eq!(records.lock().unwrap().len(), 3);
    assert!(records.lock().unwrap().iter().all(|r| r.status.is_none()));
}

#[test]
fn a_refused_key_is_not_retried_and_names_the_variable() {
    let key_var = "NIB_TEST_KEY_REFUSED";
    let key = "sk-wrong-key-abcdefghijklmnop";
    std::env::set_var(key_var, key);
    let server = serve(vec![
        status(
            401,
            &[],
            r#"{"error":{"message":"Incorrect API key provided: sk-wrong***mnop"}}"#,
        ),
        chat_answer(&["must not be asked"]),
    ]);
    let (engine, records) = engine(OpenAiConfig {
        api_key_env: Some(key_var.into()),
        ..config(server.base_url())
    });
    let err = engine.chat(chat_request().0).unwrap_err();
    let message = err.to_string();
    assert!(matches!(err, EngineError::Unauthorized(_)), "{err:?}");
    assert!(message.contains(key_var), "{message}");
    assert!(!message.contains("sk-wrong"), "{message}");
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(server.requests().len(), 1);
    assert_eq!(records.lock().unwrap().len(), 1);
}

#[test]
fn a_missing_key_sends_nothing() {
    let server = serve(vec![chat_answer(&["must not be asked"])]);
    let (engine, _) = engine(OpenAiConfig {
        api_key_env: Some("NIB_TEST_KEY_NEVER_SET".into()),
        ..config(server.base_url())
    });
    let err = engine.chat(chat_request().0).unwrap_err();
    assert!(matches!(err, EngineError::Unauthorized(_)), "{err:?}");
    assert!(err.to_string().contains("NIB_TEST_KEY_NEVER_SET"), "{err}");
    std::thread::sleep(Duration::from_millis(200));
    assert!(server.requests().is_empty());
}

#[test]
fn cancelling_mid_stream_closes_the_connection() {
    let server = serve(vec![vec![
        sse_head(),
        chat_delta("first"),
        chat_delta(" second"),
        Step::AwaitClose,
    ]]);
    let (engine, _) = engine(config(server.base_url()));
    let (mut req, deltas) = chat_request();
    let cancel = req.cancel.clone();
    let seen = deltas.clone();
    req.on_delta = Some(Arc::new(move |d: &str| {
        seen.lock().unwrap().push(d.to_string());
        if d == " second" {
            cancel.cancel();
        }
    }));
    let start = Instant::now();
    let answer = engine.chat(req).unwrap();
    assert!(start.elapsed() < GENEROUS, "{:?}", start.elapsed());
    assert_eq!(answer.stop_reason, StopReason::Cancelled);
    assert_eq!(answer.text, "first second");
    let closed_after = server
        .closed
        .recv_timeout(GENEROUS)
        .expect("the server saw the connection closed");
    assert!(closed_after < GENEROUS);
}

#[test]
fn cancelling_during_a_retry_wait_returns_at_once() {
    let server = serve(vec![status(429, &[("Retry-After", "10")], "wait")]);
    let (engine, _) = engine(OpenAiConfig {
        total_timeout: Duration::from_secs(20),
        ..config(server.base_url())
    });
    let req = generate_request("x");
    let cancel = req.cancel.clone();
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(300));
        cancel.cancel();
    });
    let start = Instant::now();
    let g = engine.generate(req).unwrap();
    assert!(start.elapsed() < GENEROUS, "{:?}", start.elapsed());
    assert_eq!(g.stop_reason, StopReason::Cancelled);
    assert_eq!(g.text, "");
}

#[test]
fn the_engine_can_be_dropped_inside_an_async_runtime() {
    let server = serve(vec![chat_answer(&["ok"])]);
    let (engine, _) = engine(config(server.base_url()));
    assert_eq!(engine.chat(chat_request().0).unwrap().text, "ok");
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    rt.block_on(async move { drop(engine) });
}
