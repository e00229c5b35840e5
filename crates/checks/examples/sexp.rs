//! Print the tree-sitter tree of a file: `cargo run -p nib-checks --example sexp -- file.py`.
fn main() {
    let path = std::env::args().nth(1).expect("usage: sexp FILE");
    let code = std::fs::read_to_string(&path).expect("readable file");
    let lang =
        nib_syntax::Language::from_path(std::path::Path::new(&path)).expect("known language");
    let tree = nib_syntax::parse(lang, &code).expect("grammar compiled in");
    print_node(tree.root_node(), &code, 0);
}

fn print_node(n: nib_syntax::tree_sitter::Node<'_>, src: &str, depth: usize) {
    let field = "";
    let text: String = src[n.byte_range()]
        .chars()
        .take(40)
        .collect::<String>()
        .replace('\n', "\\n");
    println!(
        "{:indent$}{}{} {:?}",
        "",
        field,
        n.kind(),
        text,
        indent = depth * 2
    );
    let mut c = n.walk();
    for child in n.named_children(&mut c) {
        print_node(child, src, depth + 1);
    }
}
