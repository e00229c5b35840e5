//! Run the undefined-name check over whole Python files (each file as the "suggestion") and
//! print what it finds: `cargo run --release -p nib-checks --example undefined -- FILE...`.
//! On code that runs, every line printed is a false alarm.

fn main() {
    let mut files = 0;
    let mut found = 0;
    for path in std::env::args().skip(1) {
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue;
        };
        files += 1;
        for f in nib_checks::undefined_calls(nib_syntax::Language::Python, "", &text, "") {
            found += 1;
            println!("{path}:{}: {}", f.start.0 + 1, f.message);
        }
    }
    eprintln!("{found} findings in {files} files");
}
