//! Running a handler's work so that nothing it does can stop the server: blocking work goes to
//! tokio's blocking pool inside the request's tracing span, with a [`CancelToken`] that fires
//! when the request is cancelled (its future dropped), and a panic anywhere in it becomes a
//! JSON-RPC error response (internal error) and a log line, never a dead server.

use std::any::Any;
use std::panic::{catch_unwind, AssertUnwindSafe};

use nib_engine::CancelToken;
use nib_ide::IdeError;
use tower_lsp_server::jsonrpc::{Error, ErrorCode};

/// Run `work` on the blocking pool. Dropping the returned future (`$/cancelRequest`, or a newer
/// request) cancels the token; a panic in `work` becomes an internal error.
pub async fn run<T, F>(what: &'static str, span: tracing::Span, work: F) -> Result<T, Error>
where
    T: Send + 'static,
    F: FnOnce(&CancelToken) -> Result<T, IdeError> + Send + 'static,
{
    let cancel = CancelToken::new();
    let guard = cancel.drop_guard();
    let task = tokio::task::spawn_blocking(move || {
        let _e = span.enter();
        catch_unwind(AssertUnwindSafe(|| work(&cancel)))
    });
    let joined = task.await;
    guard.disarm();
    match joined {
        Ok(Ok(Ok(v))) => Ok(v),
        Ok(Ok(Err(e))) => Err(ide_error(e)),
        Ok(Err(panic)) => Err(panicked(what, panic)),
        Err(join) => {
            tracing::error!("{what} task failed: {join}");
            Err(internal(format!("{what} failed: {join}")))
        }
    }
}

/// Run a handler's synchronous part (one that must happen before the handler first yields,
/// such as applying an edit) and turn a panic into an error.
pub fn guard<T>(what: &'static str, work: impl FnOnce() -> T) -> Result<T, Error> {
    catch_unwind(AssertUnwindSafe(work)).map_err(|p| panicked(what, p))
}

fn panicked(what: &str, panic: Box<dyn Any + Send>) -> Error {
    let msg = panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into());
    tracing::error!(panic = %msg, "{what} panicked; the server goes on");
    internal(format!("nib: {what} failed: internal error ({msg})"))
}

pub fn internal(message: String) -> Error {
    Error {
        code: ErrorCode::InternalError,
        message: message.into(),
        data: None,
    }
}

/// An ide error as a JSON-RPC error: bad input is `InvalidParams`, cancellation
/// `RequestCancelled`, the rest internal.
pub fn ide_error(e: IdeError) -> Error {
    let code = match e {
        IdeError::UnknownDocument(_) | IdeError::Position(_) | IdeError::NotApplicable(_) => {
            ErrorCode::InvalidParams
        }
        IdeError::Cancelled => return Error::request_cancelled(),
        _ => ErrorCode::InternalError,
    };
    let message = match &e {
        IdeError::Position(p) => format!("invalid position: {p}"),
        other => other.to_string(),
    };
    Error {
        code,
        message: message.into(),
        data: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_panic_becomes_an_internal_error() {
        let r: Result<(), Error> = run("test work", tracing::Span::none(), |_| {
            panic!("boom at line 3")
        })
        .await;
        let e = r.unwrap_err();
        assert_eq!(e.code, ErrorCode::InternalError);
        assert!(e.message.contains("boom at line 3"), "{}", e.message);
        // The pool is still usable.
        let ok = run("test work", tracing::Span::none(), |_| Ok(7)).await;
        assert_eq!(ok.unwrap(), 7);
        let g = guard("sync part", || -> u8 {
            panic!("{}", String::from("owned"))
        });
        assert!(g.unwrap_err().message.contains("owned"));
    }

    #[tokio::test]
    async fn dropping_the_future_cancels_the_work() {
        let (tx, rx) = std::sync::mpsc::channel();
        let fut = run("slow work", tracing::Span::none(), move |cancel| {
            let token = cancel.clone();
            tx.send(token).unwrap();
            while !cancel.is_cancelled() {
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
            Err::<(), _>(IdeError::Cancelled)
        });
        let handle = tokio::spawn(fut);
        let token = tokio::task::spawn_blocking(move || rx.recv().unwrap())
            .await
            .unwrap();
        handle.abort();
        let _ = handle.await;
        for _ in 0..400 {
            if token.is_cancelled() {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        panic!("the token was not cancelled");
    }
}
