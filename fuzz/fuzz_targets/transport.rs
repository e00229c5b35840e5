//! The validating transport (crates/lsp/src/transport.rs, compiled here as it is): any byte
//! stream is split into frames without panicking or stalling; every body is either passed on as
//! a JSON-RPC 2.0 message or answered with a well-formed -32700/-32600 error; a body framed by
//! `frame` reads back unchanged.

#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::Value;

#[path = "../../crates/lsp/src/transport.rs"]
#[allow(dead_code)]
mod transport;

use transport::{check_message, filter_input, frame, read_frame, Frame};

fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: std::sync::OnceLock<tokio::runtime::Runtime> = std::sync::OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
    })
}

fn check_body(body: &[u8]) {
    match check_message(body) {
        Ok(()) => {
            let v: Value = serde_json::from_slice(body).expect("a passed message is JSON");
            assert_eq!(v["jsonrpc"], "2.0");
            assert!(
                v["method"].is_string() || v.get("result").is_some() || v.get("error").is_some()
            );
        }
        Err(reply) => {
            assert_eq!(reply["jsonrpc"], "2.0");
            let code = reply["error"]["code"].as_i64().unwrap();
            assert!(code == -32700 || code == -32600, "{reply}");
            assert!(reply["error"]["message"].is_string());
            assert!(matches!(
                reply["id"],
                Value::Null | Value::Number(_) | Value::String(_)
            ));
            // The answer itself is a message a client can read.
            let bytes = reply.to_string();
            let back: Value = serde_json::from_str(&bytes).unwrap();
            assert_eq!(back, reply);
        }
    }
}

fuzz_target!(|data: &[u8]| {
    runtime().block_on(async {
        // Framing of arbitrary input.
        let mut r = tokio::io::BufReader::new(data);
        let mut frames = 0;
        while let Some(f) = read_frame(&mut r)
            .await
            .expect("reading a slice cannot fail")
        {
            frames += 1;
            assert!(frames <= data.len(), "every frame consumes input");
            if let Frame::Body(body) = f {
                check_body(&body);
            }
        }
        // The body alone, as a client would frame it.
        check_body(data);
        let framed = frame(data);
        let mut r = tokio::io::BufReader::new(&framed[..]);
        assert_eq!(
            read_frame(&mut r).await.unwrap(),
            Some(Frame::Body(data.to_vec()))
        );
        assert_eq!(read_frame(&mut r).await.unwrap(), None);
        // The whole filter: only valid messages pass, each whole and framed.
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let mut passed = Vec::new();
        filter_input(tokio::io::BufReader::new(data), &mut passed, tx).await;
        let mut r = tokio::io::BufReader::new(&passed[..]);
        while let Some(f) = read_frame(&mut r).await.unwrap() {
            let Frame::Body(body) = f else {
                panic!("the filter passed a bad frame: {f:?}")
            };
            assert!(check_message(&body).is_ok());
        }
        while let Ok(reply) = rx.try_recv() {
            let mut r = tokio::io::BufReader::new(&reply[..]);
            assert!(matches!(
                read_frame(&mut r).await.unwrap(),
                Some(Frame::Body(_))
            ));
        }
    });
});
