//! How the cost of one llama.cpp decode call grows with the tokens already in the KV cache:
//! a 16-token batch (background prefill) and a 1-token step (decoding) at several context
//! sizes. `cargo run --release -p nib-engine-llama --example kv_speed -- MODEL.gguf [auto|fa|nofa] [N_CTX]`
//! (flash attention: llama.cpp's auto choice, on, or off; the context size defaults to 8192).
use std::num::NonZeroU32;
use std::time::Instant;

use llama_cpp_2::context::params::LlamaContextParams;
use llama_cpp_2::llama_backend::LlamaBackend;
use llama_cpp_2::llama_batch::LlamaBatch;
use llama_cpp_2::model::params::LlamaModelParams;
use llama_cpp_2::model::LlamaModel;
use llama_cpp_2::token::LlamaToken;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let path = args
        .get(1)
        .expect("usage: kv_speed MODEL.gguf [fa|nofa] [n_ctx]");
    let fa = args.get(2).map(String::as_str).unwrap_or("auto");
    let n_ctx: u32 = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(8192);
    let backend = LlamaBackend::init().unwrap();
    let model = LlamaModel::load_from_file(&backend, path, &LlamaModelParams::default()).unwrap();
    let mut params = LlamaContextParams::default()
        .with_n_ctx(NonZeroU32::new(n_ctx))
        .with_n_batch(256)
        .with_n_ubatch(256)
        .with_n_seq_max(2)
        .with_kv_unified(true)
        .with_n_threads(2)
        .with_n_threads_batch(2);
    match fa {
        "fa" => params = params.with_flash_attention_policy(1),
        "nofa" => params = params.with_flash_attention_policy(0),
        _ => {}
    }
    let mut ctx = model.new_context(&backend, params).unwrap();
    let mut batch = LlamaBatch::new(256, 1);
    let tok = |i: usize| LlamaToken(1000 + (i * 7919 % 20000) as i32);
    let mut pos = 0usize;
    for target in [256usize, 1024, 2048, 3072, 4096] {
        let started = Instant::now();
        let from = pos;
        while pos < target {
            batch.clear();
            let end = (pos + 256).min(target);
            for p in pos..end {
                batch.add(tok(p), p as i32, &[0], p + 1 == end).unwrap();
            }
            ctx.decode(&mut batch).unwrap();
            pos = end;
        }
        let prefill = started.elapsed().as_secs_f64();
        // A 16-token batch and 4 one-token steps, then removed again.
        let t = Instant::now();
        batch.clear();
        for p in pos..pos + 16 {
            batch
                .add(tok(p), p as i32, &[0], p + 1 == pos + 16)
                .unwrap();
        }
        ctx.decode(&mut batch).unwrap();
        let b16 = t.elapsed().as_secs_f64();
        let t = Instant::now();
        for p in pos + 16..pos + 20 {
            batch.clear();
            batch.add(tok(p), p as i32, &[0], true).unwrap();
            ctx.decode(&mut batch).unwrap();
        }
        let step = t.elapsed().as_secs_f64() / 4.0;
        ctx.clear_kv_cache_seq(Some(0), Some(pos as u32), None)
            .unwrap();
        println!(
            "ctx {target:5}: prefill {:6.1} tok/s | 16-token batch {:7.1} ms | 1-token step {:6.1} ms",
            (target - from) as f64 / prefill,
            b16 * 1e3,
            step * 1e3
        );
    }
}
