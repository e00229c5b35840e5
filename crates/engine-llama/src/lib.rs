//! engine-llama: the local llama.cpp backend behind nib's engine traits.
//!
//! Invariants and boundary:
//! - One long-lived model and ONE long-lived context, owned by a dedicated thread; requests go
//!   in through a channel and are served one at a time. The actions' engine
//!   ([`CompletionEngine::for_actions`]) shares the model, with its own context and thread.
//! - The thread remembers which tokens its KV cache holds. A request evaluates only what
//!   follows the longest common prefix with that sequence; the rest of the cache is dropped.
//! - The cancel flag and the deadline are checked between prefill batches and between decoded
//!   tokens. Cancelled prefill work stays in the cache and helps the next request.
//! - Loading never panics: a missing, truncated or foreign file is an [`EngineError`].

mod thread;

use std::num::NonZeroU32;
use std::path::{Path, PathBuf};
use std::sync::{mpsc, Arc, OnceLock};

use llama_cpp_2::llama_backend::LlamaBackend;
use llama_cpp_2::model::params::LlamaModelParams;
use llama_cpp_2::model::LlamaModel;
use nib_engine::{
    CancelToken, ChatFormat, CompletionEngine, EngineError, GenerateRequest, Generation, ModelInfo,
    PromptFormat, PromptPlan, Slot, Throughput, TokenCounter,
};

/// How to load and run a model.
#[derive(Debug, Clone)]
pub struct LlamaConfig {
    pub model_path: PathBuf,
    /// Context length in tokens (prompt + output).
    pub context_length: u32,
    /// Worker threads; `None`: [`default_threads`].
    pub threads: Option<usize>,
    /// Threads of the actions' engine ([`CompletionEngine::for_actions`]); `None`: every
    /// physical core.
    pub action_threads: Option<usize>,
    /// Tokens evaluated per prefill batch.
    pub batch_size: u32,
    /// Tokens in the first batch of background prefill; later batches are sized to take about
    /// 60 ms each, since a request that arrives meanwhile waits for the running batch.
    pub prefill_batch: usize,
    /// Most draft tokens verified per decoding step (prompt-lookup speculative decoding: the
    /// tokens that followed the last few output tokens where they occur earlier in the
    /// prompt or output). 0 turns it off. Greedy output is the same either way. Off by
    /// default: verifying a draft computes the output layer (152k-token vocabulary) for every
    /// drafted token, which on a 2-core CPU costs more than the confirmed guesses save on
    /// typical one-line suggestions (`nib bench complete fixtures/python/task_scheduler.py
    /// --positions 3`, warm requests: 219 / 360 ms without, 305 / 546 ms with 4 draft tokens;
    /// only a long repetitive output gained, 1,730 -> 1,255 ms).
    pub draft_tokens: usize,
    /// llama.cpp's flash attention. Off by default: on CPUs it speeds up large cold-prefill
    /// batches a little (~25%) but makes the small batches of typing (a few prompt tokens, one
    /// token per decoding step) several times slower once the cache holds a few thousand
    /// tokens (measured with `examples/kv_speed.rs`: a 16-token batch at 3,072 cached tokens
    /// 2,285 ms with it, 378 ms without; a decoding step 216 ms against 70 ms).
    pub flash_attention: bool,
    /// A GGUF LoRA adapter applied (at scale 1) to every request; it must have been made for
    /// this model.
    pub lora_adapter: Option<PathBuf>,
}

impl LlamaConfig {
    pub fn new(model_path: impl Into<PathBuf>) -> LlamaConfig {
        LlamaConfig {
            model_path: model_path.into(),
            context_length: 8192,
            threads: None,
            action_threads: None,
            batch_size: 256,
            prefill_batch: 16,
            draft_tokens: DEFAULT_DRAFT_TOKENS,
            flash_attention: false,
            lora_adapter: None,
        }
    }
}

/// See [`LlamaConfig::draft_tokens`].
pub const DEFAULT_DRAFT_TOKENS: usize = 0;

static BACKEND: OnceLock<Result<LlamaBackend, String>> = OnceLock::new();

fn backend() -> Result<&'static LlamaBackend, EngineError> {
    BACKEND
        .get_or_init(|| {
            // llama.cpp logs a lot to stderr by default: silence it unless NIB_LLAMA_LOG is set,
            // then route it to tracing.
            let enabled = std::env::var_os("NIB_LLAMA_LOG").is_some();
            llama_cpp_2::send_logs_to_tracing(
                llama_cpp_2::LogOptions::default().with_logs_enabled(enabled),
            );
            LlamaBackend::init().map_err(|e| e.to_string())
        })
        .as_ref()
        .map_err(|e| EngineError::Backend(format!("llama.cpp backend: {e}")))
}

/// The default number of llama.cpp threads: one fewer than the physical cores, at least one.
/// llama.cpp's threads meet at a barrier after every operation: when another process (a build,
/// the editor) takes one of the cores, a thread waiting there spins through its time slice
/// while the one it waits for is descheduled, and every step gets several times slower. On a
/// 2-core machine one thread is about as fast for inline completions (which are mostly cached
/// and short) and stays fast under load; see docs/benchmarks.md.
pub fn default_threads() -> usize {
    physical_cores().saturating_sub(1).max(1)
}

/// Number of physical cores (hyper-threads share execution units and slow matmuls down).
pub fn physical_cores() -> usize {
    let logical = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut cores = std::collections::HashSet::new();
    for cpu in 0..logical {
        let base = format!("/sys/devices/system/cpu/cpu{cpu}/topology");
        let pkg = std::fs::read_to_string(format!("{base}/physical_package_id")).ok();
        let core = std::fs::read_to_string(format!("{base}/core_id")).ok();
        match (pkg, core) {
            (Some(p), Some(c)) => {
                cores.insert((p.trim().to_string(), c.trim().to_string()));
            }
            _ => return logical,
        }
    }
    cores.len().clamp(1, logical)
}

/// Check the file before handing it to llama.cpp, which reports only "null result".
fn validate_model_file(path: &Path) -> Result<(), EngineError> {
    use std::io::Read;
    let mut f = std::fs::File::open(path).map_err(|e| {
        EngineError::Unavailable(format!("cannot open model file {}: {e}", path.display()))
    })?;
    let mut magic = [0u8; 4];
    f.read_exact(&mut magic).map_err(|_| {
        EngineError::Unavailable(format!(
            "model file {} is empty or truncated",
            path.display()
        ))
    })?;
    if &magic != b"GGUF" {
        return Err(EngineError::Unavailable(format!(
            "{} is not a GGUF model file",
            path.display()
        )));
    }
    Ok(())
}

/// Counts tokens with the model's tokenizer, from any thread.
pub struct LlamaTokenCounter {
    model: Arc<LlamaModel>,
}

impl TokenCounter for LlamaTokenCounter {
    fn count(&self, text: &str) -> usize {
        self.model
            .vocab()
            .tokenize(text.as_bytes(), false, false)
            .len()
    }
}

/// The llama.cpp engine: a handle to the worker thread.
pub struct LlamaEngine {
    jobs: mpsc::Sender<thread::Job>,
    info: ModelInfo,
    counter: Arc<LlamaTokenCounter>,
    model: Arc<LlamaModel>,
    shared: thread::Shared,
    worker: Option<std::thread::JoinHandle<()>>,
    config: LlamaConfig,
    /// The actions' engine ([`CompletionEngine::for_actions`]), started at the first action.
    actions: OnceLock<Option<Arc<dyn CompletionEngine>>>,
}

impl LlamaEngine {
    /// Load the model and start the worker thread (blocking: a few seconds for a large file).
    pub fn load(config: &LlamaConfig) -> Result<LlamaEngine, EngineError> {
        validate_model_file(&config.model_path)?;
        if let Some(path) = &config.lora_adapter {
            if !path.is_file() {
                return Err(EngineError::Unavailable(format!(
                    "LoRA adapter {} does not exist",
                    path.display()
                )));
            }
        }
        let backend = backend()?;
        // Read into memory, not mapped: a model file replaced or truncated while the server
        // runs must not take it down (a mapped page past the new end of the file is SIGBUS).
        let params = LlamaModelParams::default().with_use_mmap(false);
        let mut model =
            LlamaModel::load_from_file(backend, &config.model_path, &params).map_err(|e| {
                EngineError::Unavailable(format!(
                    "llama.cpp could not load {}: {e}",
                    config.model_path.display()
                ))
            })?;
        let lora = match &config.lora_adapter {
            Some(path) => Some(model.lora_adapter_init(path).map_err(|e| {
                EngineError::Unavailable(format!(
                    "LoRA adapter {} cannot be applied to {} (not a GGUF LoRA adapter made for this model: {e})",
                    path.display(),
                    config.model_path.display()
                ))
            })?),
            None => None,
        };
        Self::start(backend, Arc::new(model), lora, config)
    }

    /// Start a worker thread with its own context for `model`, loaded as `config` says.
    fn start(
        backend: &'static LlamaBackend,
        model: Arc<LlamaModel>,
        lora: Option<llama_cpp_2::model::LlamaLoraAdapter>,
        config: &LlamaConfig,
    ) -> Result<LlamaEngine, EngineError> {
        let format = detect_format(&model);
        let (chat, default_system) = detect_chat(&model);
        let threads = config.threads.unwrap_or_else(default_threads).max(1);
        let n_ctx_train = usize::try_from(model.n_ctx_train()).unwrap_or(usize::MAX);
        let context_length = (config.context_length as usize).min(n_ctx_train).max(256);
        let name = model.meta_val_str("general.name").unwrap_or_else(|_| {
            config
                .model_path
                .file_stem()
                .map_or("model".into(), |s| s.to_string_lossy().into())
        });
        let info = ModelInfo {
            name,
            format,
            chat,
            default_system,
            context_length,
            threads,
        };
        let (tx, rx) = mpsc::channel();
        let (ready_tx, ready_rx) = mpsc::channel();
        let thread_model = Arc::clone(&model);
        let params = thread::Params {
            n_ctx: NonZeroU32::new(context_length as u32).expect("context length is at least 256"),
            n_batch: config.batch_size.clamp(16, 2048),
            prefill_batch: config.prefill_batch,
            draft_tokens: config.draft_tokens.min(thread::MAX_DRAFT),
            flash_attention: config.flash_attention,
            threads: threads as i32,
            stop_strings: format.stop_strings(),
            lora,
        };
        let shared = thread::Shared::new();
        let thread_shared = shared.clone();
        let worker = std::thread::Builder::new()
            .name("nib-llama".into())
            .spawn(move || thread::run(backend, thread_model, params, thread_shared, rx, ready_tx))
            .map_err(|e| EngineError::Backend(format!("cannot start the engine thread: {e}")))?;
        ready_rx.recv().map_err(|_| EngineError::Stopped)??;
        tracing::info!(model = %info.name, ?format, ?chat, context_length, threads, "model loaded");
        Ok(LlamaEngine {
            jobs: tx,
            info,
            counter: Arc::new(LlamaTokenCounter {
                model: Arc::clone(&model),
            }),
            model,
            shared,
            worker: Some(worker),
            config: config.clone(),
            actions: OnceLock::new(),
        })
    }

    fn call<T>(
        &self,
        make: impl FnOnce(mpsc::Sender<Result<T, EngineError>>) -> thread::Job,
    ) -> Result<T, EngineError> {
        let (tx, rx) = mpsc::channel();
        self.jobs.send(make(tx)).map_err(|_| EngineError::Stopped)?;
        rx.recv().map_err(|_| EngineError::Stopped)?
    }
}

/// Dropping the engine stops its thread and waits for it: the running job stops at its next
/// batch or token, queued jobs are answered as cancelled, and the context is freed before the
/// drop returns. A thread still freeing llama.cpp state while the process exits races with
/// llama.cpp's static destructors and can crash the process (SIGSEGV) on its way out.
impl Drop for LlamaEngine {
    fn drop(&mut self) {
        self.shared
            .stopping
            .store(true, std::sync::atomic::Ordering::SeqCst);
        // Closing the queue ends the thread's loop once the jobs already sent are answered.
        drop(std::mem::replace(&mut self.jobs, mpsc::channel().0));
        if let Some(worker) = self.worker.take() {
            let _ = worker.join();
        }
    }
}

/// End the process now with `code`, after flushing stdout and stderr, without running the C
/// and C++ exit handlers. For a process whose threads may still be using llama.cpp (a server's
/// blocking pool): llama.cpp's static destructors would run under them and can crash the
/// process (SIGSEGV) instead of exiting with `code`.
pub fn exit_process(code: i32) -> ! {
    use std::io::Write;
    let _ = std::io::stdout().flush();
    let _ = std::io::stderr().flush();
    // SAFETY: `_exit` ends the process at once; nothing runs after it.
    unsafe { libc::_exit(code) }
}

/// A special token is one token when specials are parsed, and several when they are not.
fn is_special(model: &LlamaModel, text: &str) -> bool {
    let vocab = model.vocab();
    vocab.tokenize(text.as_bytes(), false, true).len() == 1
        && vocab.tokenize(text.as_bytes(), false, false).len() > 1
}

fn detect_format(model: &LlamaModel) -> PromptFormat {
    PromptFormat::detect(&|t| is_special(model, t))
}

/// From the GGUF's embedded chat template (`tokenizer.chat_template`): the chat format and
/// the template's default system message.
fn detect_chat(model: &LlamaModel) -> (Option<ChatFormat>, Option<String>) {
    let template = model
        .chat_template(None)
        .ok()
        .and_then(|t| t.to_string().ok());
    let chat = ChatFormat::detect(&|t| is_special(model, t), template.as_deref());
    let system = chat
        .and(template.as_deref())
        .and_then(nib_engine::default_system_message);
    (chat, system)
}

impl CompletionEngine for LlamaEngine {
    fn info(&self) -> ModelInfo {
        self.info.clone()
    }

    fn token_counter(&self) -> Arc<dyn TokenCounter> {
        self.counter.clone()
    }

    fn generate(&self, req: GenerateRequest) -> Result<Generation, EngineError> {
        // Counted before it is queued: a running background prefill yields at its next batch.
        self.shared
            .waiting_generates
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let queued = std::time::Instant::now();
        let result = self.call(|reply| thread::Job::Generate {
            req: Box::new(req),
            reply,
            queued,
        });
        if matches!(result, Err(EngineError::Stopped)) {
            // Never started: undo the count (the engine thread is gone anyway).
            self.shared
                .waiting_generates
                .fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
        }
        result
    }

    fn prefill(&self, slot: Slot, prompt: &str, cancel: CancelToken) -> Result<usize, EngineError> {
        self.call(|reply| thread::Job::Prefill {
            slot,
            prompt: prompt.to_string(),
            cancel,
            reply,
        })
    }

    fn plan(&self, slot: Slot, prompt: &str) -> PromptPlan {
        let tokens = self.model.vocab().tokenize(prompt.as_bytes(), true, true);
        let (cached, slot) = self.shared.cached[thread::seq(slot)]
            .lock()
            .map_or((0, 0), |c| {
                (
                    c.iter().zip(&tokens).take_while(|(a, b)| a == b).count(),
                    c.len(),
                )
            });
        PromptPlan {
            prompt_tokens: tokens.len(),
            cached_tokens: cached,
            slot_tokens: slot,
        }
    }

    /// When the actions' thread count ([`LlamaConfig::action_threads`], by default every
    /// physical core) differs from this engine's (by default one fewer): the same model in a
    /// context of its own on that many threads, started at the first action. The editor's
    /// completions keep their cache; an action, which the user waits for, runs on every core
    /// (docs/evaluation.md). Not with a LoRA adapter (it is applied to one context only).
    fn for_actions(&self) -> Option<Arc<dyn CompletionEngine>> {
        let threads = self
            .config
            .action_threads
            .unwrap_or_else(physical_cores)
            .max(1);
        if self.config.lora_adapter.is_some() || threads == self.info.threads {
            return None;
        }
        self.actions
            .get_or_init(|| {
                let config = LlamaConfig {
                    threads: Some(threads),
                    action_threads: Some(threads),
                    ..self.config.clone()
                };
                let started = backend()
                    .and_then(|b| Self::start(b, Arc::clone(&self.model), None, &config));
                match started {
                    Ok(engine) => Some(Arc::new(engine) as Arc<dyn CompletionEngine>),
                    Err(e) => {
                        tracing::warn!(error = %e, "no separate engine for actions: they share the completion engine");
                        None
                    }
                }
            })
            .clone()
    }

    fn throughput(&self) -> Throughput {
        self.shared.throughput.lock().map_or(
            Throughput {
                prefill_tokens_per_s: 300.0,
                decode_tokens_per_s: 60.0,
            },
            |t| *t,
        )
    }
}
