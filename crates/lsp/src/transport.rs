//! The stdio transport: a validating layer in front of tower-lsp-server, so that no frame a
//! client sends can leave the server deaf.
//!
//! tower-lsp-server stops reading its input after a body that is not a JSON-RPC message (`{`,
//! `[]`, `null`, a truncated object). Here every frame is read first: a body that is not JSON
//! is answered with a parse error (-32700), one that is JSON but not a JSON-RPC 2.0 request,
//! notification or response with an invalid-request error (-32600), a frame whose header cannot
//! be read is skipped up to the next header, and only well-formed messages reach the server.
//! The server's own frames and these error answers are written to stdout whole, one at a time.

use serde_json::{json, Value};
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;

/// Larger bodies are discarded (answered with an invalid-request error).
pub const MAX_BODY_BYTES: usize = 256 << 20;
/// A header line longer than this is not a header.
const MAX_HEADER_LINE: usize = 4096;

/// What reading one frame gave.
#[derive(Debug, PartialEq)]
pub enum Frame {
    Body(Vec<u8>),
    /// The header was not `Content-Length: N` (the bad line, for the log); reading goes on
    /// with the next line.
    BadHeader(String),
    /// A body over [`MAX_BODY_BYTES`], skipped.
    TooLarge(usize),
}

/// Read one frame; `None` at the end of the input.
pub async fn read_frame<R: AsyncBufRead + Unpin>(r: &mut R) -> std::io::Result<Option<Frame>> {
    let mut len: Option<usize> = None;
    let mut saw_header = false;
    loop {
        let mut line = Vec::new();
        let n = (&mut *r)
            .take(MAX_HEADER_LINE as u64)
            .read_until(b'\n', &mut line)
            .await?;
        if n == 0 {
            return Ok(None);
        }
        if line == b"\r\n" || line == b"\n" {
            if !saw_header {
                // Blank lines between frames are tolerated.
                continue;
            }
            break;
        }
        let mut text = String::from_utf8_lossy(&line).trim_end().to_string();
        // A header glued to the end of a skipped body (bodies end without a newline).
        if !saw_header {
            if let Some(at) = text.to_ascii_lowercase().find("content-length:") {
                if at > 0 {
                    text = text[at..].to_string();
                }
            }
        }
        let Some((name, value)) = text.split_once(':') else {
            return Ok(Some(Frame::BadHeader(text)));
        };
        saw_header = true;
        if name.trim().eq_ignore_ascii_case("Content-Length") {
            match value.trim().parse::<usize>() {
                Ok(n) => len = Some(n),
                Err(_) => return Ok(Some(Frame::BadHeader(text))),
            }
        } else if !name.trim().eq_ignore_ascii_case("Content-Type") {
            return Ok(Some(Frame::BadHeader(text)));
        }
    }
    let Some(len) = len else {
        return Ok(Some(Frame::BadHeader(
            "a header without Content-Length".into(),
        )));
    };
    if len > MAX_BODY_BYTES {
        let skipped =
            tokio::io::copy(&mut (&mut *r).take(len as u64), &mut tokio::io::sink()).await?;
        if (skipped as usize) < len {
            return Ok(None);
        }
        return Ok(Some(Frame::TooLarge(len)));
    }
    let mut body = vec![0; len];
    match r.read_exact(&mut body).await {
        Ok(_) => Ok(Some(Frame::Body(body))),
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => Ok(None),
        Err(e) => Err(e),
    }
}

/// `Ok` for a message the server can take; otherwise the error response to send back.
pub fn check_message(body: &[u8]) -> Result<(), Value> {
    let value: Value = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(e) => {
            return Err(error_response(
                Value::Null,
                -32700,
                &format!("parse error: {e}"),
            ))
        }
    };
    let Value::Object(obj) = &value else {
        return Err(error_response(
            Value::Null,
            -32600,
            "invalid request: a message must be a JSON object (batches are not supported)",
        ));
    };
    let id = obj.get("id").cloned();
    let id_ok = match &id {
        None => true,
        Some(Value::Number(_) | Value::String(_)) => true,
        Some(Value::Null) => obj.contains_key("error"),
        Some(_) => false,
    };
    let reply_id = match &id {
        Some(v @ (Value::Number(_) | Value::String(_))) => v.clone(),
        _ => Value::Null,
    };
    if obj.get("jsonrpc") != Some(&json!("2.0")) {
        return Err(error_response(
            reply_id,
            -32600,
            "invalid request: jsonrpc must be \"2.0\"",
        ));
    }
    if !id_ok {
        return Err(error_response(
            Value::Null,
            -32600,
            "invalid request: bad id",
        ));
    }
    let params_ok = obj
        .get("params")
        .is_none_or(|p| p.is_object() || p.is_array() || p.is_null());
    match obj.get("method") {
        Some(Value::String(_)) if params_ok => Ok(()),
        Some(Value::String(_)) => Err(error_response(
            reply_id,
            -32600,
            "invalid request: params must be an object or an array",
        )),
        Some(_) => Err(error_response(
            reply_id,
            -32600,
            "invalid request: method must be a string",
        )),
        // A response to a request of the server's.
        None if id.is_some() && (obj.contains_key("result") || obj.contains_key("error")) => Ok(()),
        None => Err(error_response(
            reply_id,
            -32600,
            "invalid request: neither a method nor a result",
        )),
    }
}

fn error_response(id: Value, code: i64, message: &str) -> Value {
    json!({ "jsonrpc": "2.0", "id": id, "error": { "code": code, "message": message } })
}

pub fn frame(body: &[u8]) -> Vec<u8> {
    let mut out = format!("Content-Length: {}\r\n\r\n", body.len()).into_bytes();
    out.extend_from_slice(body);
    out
}

/// Read the client's frames from `input`; pass good ones to `to_server`, answer bad ones
/// through `replies`. Returns at the end of the input.
pub async fn filter_input<R, W>(
    mut input: R,
    mut to_server: W,
    replies: mpsc::UnboundedSender<Vec<u8>>,
) where
    R: AsyncBufRead + Unpin,
    W: AsyncWrite + Unpin,
{
    loop {
        let frame_read = match read_frame(&mut input).await {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(e) => {
                tracing::error!("reading stdin failed: {e}");
                break;
            }
        };
        match frame_read {
            Frame::Body(body) => match check_message(&body) {
                Ok(()) => {
                    if to_server.write_all(&frame(&body)).await.is_err() {
                        break;
                    }
                    let _ = to_server.flush().await;
                }
                Err(reply) => {
                    tracing::warn!(
                        "malformed message answered with an error: {}",
                        reply["error"]["message"]
                    );
                    let _ = replies.send(frame(reply.to_string().as_bytes()));
                }
            },
            Frame::BadHeader(line) => {
                tracing::warn!("skipped a line that is not a frame header: {line:?}");
            }
            Frame::TooLarge(n) => {
                tracing::warn!("skipped a message of {n} bytes");
                let reply = error_response(
                    Value::Null,
                    -32600,
                    &format!("message of {n} bytes is too large"),
                );
                let _ = replies.send(frame(reply.to_string().as_bytes()));
            }
        }
    }
    let _ = to_server.shutdown().await;
}

/// Copy the server's frames from `from_server` into `out_frames`, one whole frame at a time.
pub async fn collect_output<R: AsyncBufRead + Unpin>(
    mut from_server: R,
    out: mpsc::UnboundedSender<Vec<u8>>,
) {
    while let Ok(Some(f)) = read_frame(&mut from_server).await {
        if let Frame::Body(body) = f {
            if out.send(frame(&body)).is_err() {
                break;
            }
        }
    }
}

/// Write frames to `out` in the order they come, until every sender is gone.
pub async fn write_output<W: AsyncWrite + Unpin>(
    mut out: W,
    mut frames: mpsc::UnboundedReceiver<Vec<u8>>,
) {
    while let Some(f) = frames.recv().await {
        if out.write_all(&f).await.is_err() || out.flush().await.is_err() {
            break;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn frames_of(input: &[u8]) -> Vec<Frame> {
        let mut r = tokio::io::BufReader::new(input);
        let mut out = Vec::new();
        while let Some(f) = read_frame(&mut r).await.unwrap() {
            out.push(f);
        }
        out
    }

    #[tokio::test]
    async fn frames_and_bad_headers() {
        let mut input = frame(b"{\"a\":1}");
        input.extend_from_slice(b"garbage line\r\n");
        input.extend_from_slice(&frame(b"[]"));
        input.extend_from_slice(b"Content-Length: x\r\n\r\n{\"lost\": 1}");
        input.extend_from_slice(&frame(b"{}"));
        input.extend_from_slice(b"Content-Length: 10\r\n\r\n{\"cut");
        let got = frames_of(&input).await;
        assert_eq!(got[0], Frame::Body(b"{\"a\":1}".to_vec()));
        assert!(matches!(got[1], Frame::BadHeader(_)));
        assert_eq!(got[2], Frame::Body(b"[]".to_vec()));
        assert!(matches!(got[3], Frame::BadHeader(_)));
        // The body of the bad frame is skipped; the next header, glued to it, is found.
        assert_eq!(got[4], Frame::Body(b"{}".to_vec()));
        assert_eq!(got.len(), 5, "a body cut by the end of input is dropped");
    }

    #[test]
    fn malformed_messages_get_their_error() {
        let code = |b: &str| check_message(b.as_bytes()).unwrap_err()["error"]["code"].clone();
        assert_eq!(code("{"), -32700);
        assert_eq!(code("{\"jsonrpc\":\"2.0\",\"id\":1,\"meth"), -32700);
        assert_eq!(code("[]"), -32600);
        assert_eq!(code("null"), -32600);
        assert_eq!(code("42"), -32600);
        assert_eq!(code("{}"), -32600);
        assert_eq!(
            code("{\"jsonrpc\":\"1.0\",\"id\":1,\"method\":\"x\"}"),
            -32600
        );
        assert_eq!(code("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":7}"), -32600);
        assert_eq!(
            code("{\"jsonrpc\":\"2.0\",\"id\":{},\"method\":\"x\"}"),
            -32600
        );
        assert_eq!(code("{\"jsonrpc\":\"2.0\",\"id\":3}"), -32600);
        assert_eq!(
            code("{\"jsonrpc\":\"2.0\",\"method\":\"x\",\"params\":5}"),
            -32600
        );
        let e = check_message(b"{\"jsonrpc\":\"2.0\",\"id\":9,\"method\":7}").unwrap_err();
        assert_eq!(e["id"], 9, "the id is kept where it can be read");
        for ok in [
            "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"initialize\",\"params\":{}}",
            "{\"jsonrpc\":\"2.0\",\"method\":\"initialized\"}",
            "{\"jsonrpc\":\"2.0\",\"id\":\"a\",\"result\":null}",
            "{\"jsonrpc\":\"2.0\",\"id\":null,\"error\":{\"code\":1,\"message\":\"x\"}}",
        ] {
            assert!(check_message(ok.as_bytes()).is_ok(), "{ok}");
        }
    }

    #[tokio::test]
    async fn good_frames_pass_and_bad_ones_are_answered() {
        let mut input = frame(b"{");
        input.extend_from_slice(&frame(b"{\"jsonrpc\":\"2.0\",\"method\":\"initialized\"}"));
        input.extend_from_slice(&frame(b"null"));
        let (tx, mut rx) = mpsc::unbounded_channel();
        let mut passed = Vec::new();
        filter_input(tokio::io::BufReader::new(&input[..]), &mut passed, tx).await;
        assert_eq!(
            passed,
            frame(b"{\"jsonrpc\":\"2.0\",\"method\":\"initialized\"}")
        );
        let mut codes = Vec::new();
        while let Ok(f) = rx.try_recv() {
            let body = &f[f.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4..];
            let v: Value = serde_json::from_slice(body).unwrap();
            codes.push(v["error"]["code"].as_i64().unwrap());
        }
        assert_eq!(codes, vec![-32700, -32600]);
    }
}
