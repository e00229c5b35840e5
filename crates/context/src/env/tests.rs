use super::*;
use crate::test_support::fixture_files;
use expect_test::expect;

fn render(env: &Environment) -> String {
    let mut out = String::new();
    for (n, v) in [("python", &env.python), ("rust", &env.rust)] {
        if let Some(v) = v {
            out.push_str(&format!(
                "{n} {} {:?} ({})\n",
                v.version, v.precision, v.source
            ));
        }
    }
    for (n, v) in &env.packages {
        out.push_str(&format!(
            "{n} {} {:?} ({})\n",
            v.version, v.precision, v.source
        ));
    }
    out
}

fn fixture_env(name: &str) -> Environment {
    let files = fixture_files(name);
    Environment::from_manifests(
        files
            .iter()
            .filter(|(p, _)| is_manifest(p.rsplit('/').next().unwrap()))
            .map(|(p, t)| (p.as_str(), t.as_str())),
    )
}

#[test]
fn python_fixture_manifests() {
    expect![[r#"
        python 3.11.9 Exact (.python-version)
        django 4.2.16 Exact (pyproject.toml)
        pytest >=8 Requirement (pyproject.toml)
        pyyaml >=6.0 Requirement (requirements.txt)
        requests 2.32.3 Exact (requirements.txt)
    "#]]
    .assert_eq(&render(&fixture_env("pyproj")));
}

#[test]
fn rust_fixture_manifests() {
    expect![[r#"
        rust 1.82.0 Exact (rust-toolchain.toml)
        serde 1.0.210 Exact (Cargo.lock)
        serde_json 1.0.128 Exact (Cargo.lock)
    "#]]
    .assert_eq(&render(&fixture_env("rscrate")));
}

#[test]
fn other_python_manifests() {
    let env = Environment::from_manifests([
        (
            "setup.cfg",
            "[metadata]\nname = x\n\n[options]\npython_requires = >=3.9\ninstall_requires =\n    numpy>=1.26\n    attrs\n[options.extras_require]\nyaml = PyYAML==6.0.1\n",
        ),
        (
            "Pipfile",
            "[packages]\nflask = \"==3.0.3\"\nrich = {version = \"*\"}\n\n[requires]\npython_version = \"3.12\"\n",
        ),
        (
            "pyproject.toml",
            "[tool.poetry.dependencies]\npython = \"^3.10\"\nhttpx = \"^0.27\"\n",
        ),
    ]);
    expect![[r#"
        python 3.12 Exact (Pipfile)
        attrs * Requirement (setup.cfg)
        flask 3.0.3 Exact (Pipfile)
        httpx ^0.27 Requirement (pyproject.toml)
        numpy >=1.26 Requirement (setup.cfg)
        pyyaml 6.0.1 Exact (setup.cfg)
        rich * Requirement (Pipfile)
    "#]]
    .assert_eq(&render(&env));
}

#[test]
fn plain_toolchain_file_and_bad_input() {
    let m = parse_manifest("rust-toolchain", "\nstable\n");
    assert_eq!(m.language.unwrap().1.version, "stable");
    assert_eq!(
        parse_manifest("Cargo.toml", "[[[not toml"),
        Manifest::default()
    );
    assert_eq!(
        parse_manifest("README.md", "requests==1"),
        Manifest::default()
    );
}

#[test]
fn header_lists_imported_packages_only() {
    let env = fixture_env("pyproj");
    let text = "import yaml\nimport os\nfrom requests.adapters import HTTPAdapter\nfrom . import x\nimport django.db\n";
    let tree = nib_syntax::parse(Language::Python, text).unwrap();
    let imports = nib_syntax::tags::imports(Language::Python, &tree, text);
    expect![[r#"
        # Python 3.11.9
        # yaml >=6.0
        # requests 2.32.3
        # django 4.2.16
    "#]]
    .assert_eq(&env.header(Language::Python, &imports));

    let env = fixture_env("rscrate");
    let text = "use serde::Serialize;\nuse std::fmt;\nuse crate::x;\nuse regex::Regex;\n";
    let tree = nib_syntax::parse(Language::Rust, text).unwrap();
    let imports = nib_syntax::tags::imports(Language::Rust, &tree, text);
    expect![[r#"
        // Rust 1.82.0
        // serde 1.0.210
    "#]]
    .assert_eq(&env.header(Language::Rust, &imports));
}
