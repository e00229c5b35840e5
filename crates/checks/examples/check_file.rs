//! Check one file and print the findings: `cargo run -p nib-checks --example check_file -- FILE`.
use nib_checks::{to_text, CheckConfig, Checker};

fn main() {
    let path = std::env::args().nth(1).expect("usage: check_file FILE");
    let code = std::fs::read_to_string(&path).expect("readable file");
    let lang =
        nib_syntax::Language::from_path(std::path::Path::new(&path)).expect("known language");
    let checker = Checker::new(CheckConfig::standard());
    let findings = checker.check(lang, &code);
    print!("{}", to_text(&[(path, findings)]));
}
