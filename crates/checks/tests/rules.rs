//! Snapshot tests per rule: `check(lang, code, expect)` renders the findings one per line.
//! `UPDATE_EXPECT=1 cargo test -p nib-checks` rewrites the expectations.

use expect_test::{expect, Expect};
use nib_checks::{CheckConfig, Checker, Finding, Severity};
use nib_syntax::Language::{self, Python, Rust};

fn render(findings: &[Finding]) -> String {
    findings
        .iter()
        .map(|f| {
            format!(
                "{}:{}-{}:{} {} {} {}\n",
                f.start.0,
                f.start.1,
                f.end.0,
                f.end.1,
                f.severity.as_str(),
                f.rule_id,
                f.message
            )
        })
        .collect()
}

fn checker() -> &'static Checker {
    static CHECKER: std::sync::OnceLock<Checker> = std::sync::OnceLock::new();
    CHECKER.get_or_init(|| Checker::new(CheckConfig::standard()))
}

fn check(lang: Language, code: &str, expect: Expect) {
    expect.assert_eq(&render(&checker().check(lang, code)));
}

#[test]
fn rules_load() {
    assert_eq!(checker().rule_errors(), &[] as &[String]);
}

#[test]
fn rule_files_are_all_registered() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("rules");
    let mut on_disk = Vec::new();
    for lang in std::fs::read_dir(&dir).unwrap() {
        let lang = lang.unwrap().path();
        if !lang.is_dir() {
            continue;
        }
        for f in std::fs::read_dir(&lang).unwrap() {
            let f = f.unwrap().path();
            if f.extension().is_some_and(|e| e == "toml") {
                on_disk.push(f.strip_prefix(&dir).unwrap().display().to_string());
            }
        }
    }
    on_disk.sort();
    let registered: Vec<_> = nib_checks::RULE_FILES
        .iter()
        .map(|(p, _)| p.to_string())
        .collect();
    assert_eq!(on_disk, registered);
    // And each file's id matches its path.
    for (path, text) in nib_checks::RULE_FILES {
        let id = format!("id = \"{}\"", path.trim_end_matches(".toml"));
        assert!(text.contains(&id), "{path} should contain {id}");
    }
}

#[test]
fn sql_injection() {
    check(
        Python,
        r#"
def a(cur, name):
    cur.execute("SELECT * FROM t WHERE n = '%s'" % name)
    cur.execute("SELECT * FROM t WHERE n = ?", (name,))
def b(cur):
    n = get_name()
    cur.execute(f"SELECT * FROM t WHERE n = '{n}'")
    cur.execute(f"SELECT * FROM t LIMIT {10}")
"#,
        expect![[r#"
            2:4-2:56 high python/sql-injection SQL query built by string formatting or concatenation is passed to the database (data from parameter `name`)
            6:4-6:51 medium python/sql-injection SQL query built by string formatting or concatenation is passed to the database
        "#]],
    );
}

#[test]
fn command_injection() {
    check(
        Python,
        r#"
import os, subprocess, sys
def a(host):
    os.system("ping " + host)
    subprocess.call(["ping", host])
subprocess.run(sys.argv[1], shell=True)
subprocess.run("make clean", shell=True)
"#,
        expect![[r#"
            3:4-3:29 medium python/command-injection Shell command built from non-constant data (data from parameter `host`)
            5:0-5:39 high python/command-injection Shell command built from non-constant data (data from `sys.argv`)
            6:0-6:40 low python/command-injection Shell command built from non-constant data
        "#]],
    );
}

#[test]
fn code_injection() {
    check(
        Python,
        r#"
def a(src):
    eval(src)
    eval("1 + 2")
    exec(compile_it())
"#,
        expect![[r#"
            2:4-2:13 medium python/code-injection eval/exec of non-literal code (data from parameter `src`)
            4:4-4:22 medium python/code-injection eval/exec of non-literal code
        "#]],
    );
}

#[test]
fn deserialization_and_yaml() {
    check(
        Python,
        r#"
import pickle, yaml
def a(data):
    pickle.loads(data)
    yaml.load(data)
    yaml.load(data, Loader=yaml.SafeLoader)
    yaml.safe_load(data)
"#,
        expect![[r#"
            3:4-3:22 medium python/unsafe-deserialization Deserialising with pickle/marshal/shelve can execute arbitrary code (data from parameter `data`)
            4:4-4:19 medium python/yaml-load yaml.load without a safe Loader can construct arbitrary Python objects (data from parameter `data`)
        "#]],
    );
}

#[test]
fn secrets() {
    check(
        Python,
        r#"
password = "Xk2#pL9!qR"
password_prompt = "Password:"
token = os.environ["TOKEN"]
aws = "AKIAIOSFODNN7EXAMPLE"
"#,
        expect![[r#"
            1:0-1:23 high python/hardcoded-secret Hard-coded credential
            4:0-4:28 high python/hardcoded-secret Hard-coded credential
        "#]],
    );
    check(
        Rust,
        r#"
const API_TOKEN: &str = "c0ffee-4b1d-9a7e-31f2";
const TOKEN_ENV: &str = "API_TOKEN";
"#,
        expect![[r#"
            1:0-1:48 high rust/hardcoded-secret Hard-coded credential
        "#]],
    );
}

#[test]
fn weak_hash_random_tempfile_tls() {
    check(
        Python,
        r#"
import hashlib, random, tempfile, requests
def store(password):
    return hashlib.md5(password.encode()).hexdigest()
def checksum(data):
    return hashlib.md5(data).hexdigest()
def make_api_key():
    return "%032x" % random.getrandbits(128)
def jitter():
    return random.random()
tmp = tempfile.mktemp()
requests.get("https://x", verify=False)
"#,
        expect![[r#"
            3:11-3:41 medium python/weak-password-hash Fast, broken hash (MD5/SHA-1) used for a password
            7:21-7:44 medium python/insecure-random The random module is predictable and must not generate secrets, tokens or passwords
            10:6-10:23 medium python/insecure-tempfile tempfile.mktemp returns a name another process can claim before the file is created
            11:26-11:38 high python/tls-verify-disabled TLS certificate verification is disabled
        "#]],
    );
}

#[test]
fn path_flask_jinja_xxe() {
    check(
        Python,
        r#"
import os, jinja2
from flask import request
from lxml import etree
def get(name):
    return open(os.path.join("/data", name)).read()
def get_checked(name):
    p = os.path.realpath(os.path.join("/data", name))
    if not p.startswith("/data/"):
        raise ValueError(name)
    return open(p).read()
env = jinja2.Environment(loader=jinja2.BaseLoader())
parser = etree.XMLParser(resolve_entities=True)
app.run(debug=True)
"#,
        expect![[r#"
            5:16-5:43 medium python/path-traversal File path built from outside data without checking it stays inside the base directory (data from parameter `name`)
            11:6-11:52 medium python/jinja-autoescape Jinja2 environment without HTML autoescaping renders user data as markup (XSS)
            12:9-12:47 high python/xxe XML parser resolves external entities
            13:0-13:19 high python/flask-debug Flask debug mode exposes the Werkzeug debugger, which runs arbitrary code
        "#]],
    );
}

#[test]
fn rust_rules() {
    check(
        Rust,
        r#"
use std::process::Command;
fn run(user: &str, conn: &Connection) {
    Command::new("sh").arg("-c").arg(format!("echo {user}")).status().unwrap();
    conn.execute(&format!("DELETE FROM t WHERE n = '{}'", user), []).unwrap();
    conn.execute("DELETE FROM t WHERE n = ?1", [user]).unwrap();
    let c = reqwest::Client::builder().danger_accept_invalid_certs(true).build();
    let x = unsafe { *std::ptr::null::<u8>() };
}
"#,
        expect![[r#"
            3:36-3:60 medium rust/command-injection Process started from non-constant data (the program name, or the command line of sh -c) (data from parameter `user`)
            4:16-4:68 high rust/sql-injection SQL query built with format! or concatenation is passed to the database (data from parameter `user`)
            6:39-6:66 high rust/tls-verify-disabled TLS certificate or hostname verification is disabled
            7:12-7:46 medium rust/unsafe-block Generated code contains an unsafe block
        "#]],
    );
}

/// Fragments that do not parse cleanly are still checked.
#[test]
fn fragments_are_still_flagged() {
    check(
        Python,
        r#"    cursor.execute(f"SELECT * FROM users WHERE name = '{request.args['u']}'")
        if x:
    os.system("rm -rf " + sys.argv[1]
"#,
        expect![[r#"
            0:4-0:77 high python/sql-injection SQL query built by string formatting or concatenation is passed to the database (data from `request.args`)
            2:4-2:37 high python/command-injection Shell command built from non-constant data (data from `sys.argv`)
        "#]],
    );
    check(
        Python,
        r#"def handler(req, cmd):
    data = yaml.load(req.body
    subprocess.run(cmd, shell=True)
"#,
        expect![[r#"
            1:11-1:29 medium python/yaml-load yaml.load without a safe Loader can construct arbitrary Python objects (data from parameter `req`)
            2:4-2:35 medium python/command-injection Shell command built from non-constant data (data from parameter `cmd`)
        "#]],
    );
    check(
        Rust,
        r#"    let q = format!("SELECT * FROM t WHERE id = {}", id);
    conn.query_row(&q, [], |r| r.get(0)
    }}
"#,
        expect![[r#"
            1:18-1:39 medium rust/sql-injection SQL query built with format! or concatenation is passed to the database
        "#]],
    );
}

/// Constants never produce more than a Low finding.
#[test]
fn constants_stay_quiet() {
    let code = r#"
import os, subprocess, pickle, yaml, sqlite3
QUERY = "SELECT * FROM users"
CMD = "ls -la"
def f(cur):
    cur.execute(QUERY)
    cur.execute("SELECT * FROM t WHERE id = " + "42")
    cur.execute(f"SELECT {'a'} FROM t")
    os.system(CMD)
    os.popen("uptime").read()
    subprocess.run("make build", shell=True)
    eval("2 + 2")
    exec("x = 1")
    pickle.loads(b"\x80\x04]\x94.")
    yaml.load("a: 1")
"#;
    let findings = checker().check(Python, code);
    assert!(
        findings.iter().all(|f| f.severity <= Severity::Low),
        "{}",
        render(&findings)
    );
    let rust = r#"
const Q: &str = "SELECT 1";
fn f(conn: &Connection) {
    conn.execute(&format!("SELECT {}", Q), []).unwrap();
    Command::new("sh").arg("-c").arg(format!("echo {}", "hi")).status().unwrap();
}
"#;
    let findings = checker().check(Rust, rust);
    assert!(
        findings.iter().all(|f| f.severity <= Severity::Low),
        "{}",
        render(&findings)
    );
}

/// The same sink is High for program input, Medium for a parameter or an unknown value.
#[test]
fn taint_grades_severity() {
    let code = r#"
import os, sys
def f(arg):
    os.system(arg)
def g():
    os.system(os.environ["CMD"])
def h():
    c = load_command()
    os.system(c)
def i():
    c = sys.argv[1]
    c = c.strip()
    os.system(c)
"#;
    let sev: Vec<_> = checker()
        .check(Python, code)
        .iter()
        .map(|f| (f.start.0, f.severity))
        .collect();
    assert_eq!(
        sev,
        vec![
            (3, Severity::Medium),
            (5, Severity::High),
            (8, Severity::Medium),
            (12, Severity::High)
        ]
    );
}

/// Path traversal is High only for request data: whoever runs the program may name files.
#[test]
fn path_traversal_grades_by_source() {
    check(
        Python,
        r#"
import os, sys
from flask import request
BASE = "/srv"
def a():
    return open(os.path.join(BASE, request.args["f"]))
def b(name):
    return os.path.join(BASE, name)
def c():
    return os.path.join(BASE, sys.argv[1])
def d():
    return os.path.join(BASE, os.path.basename(request.args["f"]))
def e(name):
    return os.path.join(BASE, safe_join(BASE, name))
"#,
        expect![[r#"
            5:11-5:54 high python/path-traversal File path built from outside data without checking it stays inside the base directory (data from `request.args`)
            7:11-7:35 medium python/path-traversal File path built from outside data without checking it stays inside the base directory (data from parameter `name`)
            9:11-9:42 medium python/path-traversal File path built from outside data without checking it stays inside the base directory (data from `sys.argv`)
        "#]],
    );
}

/// exec of a file the program opens is running a script (Medium); `compile` passes on its
/// source argument only.
#[test]
fn exec_of_file_content_is_medium() {
    check(
        Python,
        r#"
import os
def load(filename):
    with open(filename, "rb") as f:
        exec(compile(f.read(), filename, "exec"), {})
def startup():
    path = os.environ.get("PYTHONSTARTUP")
    exec(open(path).read())
def run(src):
    exec(compile(src, "<input>", "exec"))
def remote():
    exec(request.form["code"])
"#,
        expect![[r#"
            4:8-4:53 medium python/code-injection eval/exec of non-literal code (data from a file named by parameter `filename`)
            7:4-7:27 medium python/code-injection eval/exec of non-literal code (data from a file named by `os.environ`)
            7:9-7:19 medium python/path-traversal File path built from outside data without checking it stays inside the base directory (data from `os.environ`)
            9:4-9:41 medium python/code-injection eval/exec of non-literal code (data from parameter `src`)
            11:4-11:30 high python/code-injection eval/exec of non-literal code (data from `request.form`)
        "#]],
    );
}

/// Quoting sanitises a shell command; a parameter alone is Medium, program input High.
#[test]
fn command_injection_sanitisers() {
    check(
        Python,
        r#"
import os, shlex, subprocess, sys
def a(args):
    os.system("git " + shlex.join(args))
def b(path):
    subprocess.run(f"ls {shlex.quote(path)}", shell=True)
def c(pager):
    subprocess.Popen(pager, shell=True)
def d():
    os.system("ls " + sys.argv[1])
"#,
        expect![[r#"
            3:4-3:40 low python/command-injection Shell command built from non-constant data
            5:4-5:57 low python/command-injection Shell command built from non-constant data
            7:4-7:39 medium python/command-injection Shell command built from non-constant data (data from parameter `pager`)
            9:4-9:34 high python/command-injection Shell command built from non-constant data (data from `sys.argv`)
        "#]],
    );
}

/// Secrets, disabled TLS verification and Flask debug are Low in test code, recognised
/// from the code or from the path.
#[test]
fn test_code_is_low() {
    let code = r#"
import requests, pytest
SECRET_KEY = "s3cr3t-Value-9f8a7b"
def test_login(client):
    client.post("/login", data={"password": "hunter2-Xq9"})
    requests.get("https://localhost:8443", verify=False)
@pytest.fixture
def app():
    app = make_app()
    app.run(debug=True)
class TestApi:
    def setup_method(self):
        self.s = requests.Session()
        self.s.get("https://x", verify=False)
def fetch(url):
    return requests.get(url, verify=False)
"#;
    expect![[r#"
        2:0-2:34 high python/hardcoded-secret Hard-coded credential
        4:32-4:57 low python/hardcoded-secret Hard-coded credential (in test code)
        5:43-5:55 low python/tls-verify-disabled TLS certificate verification is disabled (in test code)
        9:4-9:23 low python/flask-debug Flask debug mode exposes the Werkzeug debugger, which runs arbitrary code (in test code)
        13:32-13:44 low python/tls-verify-disabled TLS certificate verification is disabled (in test code)
        15:29-15:41 high python/tls-verify-disabled TLS certificate verification is disabled
    "#]]
    .assert_eq(&render(&checker().check(Python, code)));
    let in_tests =
        checker().check_with_path(Python, code, std::path::Path::new("tests/test_app.py"));
    assert!(
        in_tests.iter().all(|f| f.severity <= Severity::Low),
        "{}",
        render(&in_tests)
    );
    let in_lib = checker().check_with_path(Python, code, std::path::Path::new("src/app.py"));
    assert_eq!(render(&in_lib), render(&checker().check(Python, code)));
    let rust = r#"
const TOKEN: &str = "ghp_0123456789abcdefghijABCDEFGHIJ012345";
#[cfg(test)]
mod tests {
    #[test]
    fn client() {
        let c = reqwest::Client::builder().danger_accept_invalid_certs(true).build();
        let key = "ghp_0123456789abcdefghijABCDEFGHIJ012345";
    }
}
"#;
    let sev: Vec<_> = checker()
        .check(Rust, rust)
        .iter()
        .map(|f| (f.start.0, f.severity))
        .collect();
    assert_eq!(
        sev,
        vec![(1, Severity::High), (6, Severity::Low), (7, Severity::Low)]
    );
}

/// Rust taint sources: stdin read into a buffer, strings grown with push_str / write!, the
/// environment (a program name from it is the user's choice: low), request extractors.
#[test]
fn rust_taint_sources() {
    check(
        Rust,
        r#"
use std::fmt::Write;
use std::process::Command;
fn a() {
    let mut line = String::new();
    std::io::stdin().read_line(&mut line).unwrap();
    Command::new("sh").arg("-c").arg(&line).status().unwrap();
}
fn b(conn: &Connection, name: &str) {
    let mut sql = String::from("SELECT * FROM t WHERE n = '");
    sql.push_str(name);
    conn.execute(&sql, []).unwrap();
    let mut q = String::from("DELETE FROM t WHERE 1 = 1");
    write!(q, " AND n = '{}'", name).unwrap();
    conn.execute_batch(&q).unwrap();
    let mut fixed = String::from("SELECT * FROM t");
    fixed.push_str(" LIMIT 1");
    conn.execute(&fixed, []).unwrap();
}
fn c() {
    Command::new(std::env::var("EDITOR").unwrap()).status().unwrap();
    Command::new(std::env::args().nth(1).unwrap()).status().unwrap();
}
async fn d(Query(p): Query<Params>) {
    Command::new(&p.tool).status().unwrap();
}
"#,
        expect![[r#"
            6:36-6:43 high rust/command-injection Process started from non-constant data (the program name, or the command line of sh -c) (data from stdin)
            11:16-11:26 high rust/sql-injection SQL query built with format! or concatenation is passed to the database (data from parameter `name`)
            14:22-14:26 high rust/sql-injection SQL query built with format! or concatenation is passed to the database (data from parameter `name`)
            20:16-20:50 low rust/command-injection Process started from non-constant data (the program name, or the command line of sh -c) (data from the environment)
            21:16-21:50 high rust/command-injection Process started from non-constant data (the program name, or the command line of sh -c) (data from `std::env::args`)
            24:16-24:25 high rust/command-injection Process started from non-constant data (the program name, or the command line of sh -c) (data from the request (`Query`))
        "#]],
    );
}

/// Weak hashes, temporary files and accept-all verifiers.
#[test]
fn rust_hash_tempfile_tls() {
    check(
        Rust,
        r#"
fn store(password: &str) -> String { format!("{:x}", md5::compute(password)) }
fn etag(body: &[u8]) -> String { format!("{:x}", md5::compute(body)) }
fn lock() { std::fs::File::create("/tmp/app.lock").unwrap(); }
fn scratch() { tempfile::NamedTempFile::new().unwrap(); }
fn tls(c: Builder) { c.dangerous().set_certificate_verifier(Arc::new(NoCertificateVerification)); }
"#,
        expect![[r#"
            1:37-1:76 medium rust/weak-hash Fast, broken hash (MD5/SHA-1) used for a password, signature or token
            3:33-3:50 medium rust/insecure-tempfile File created at a predictable path in the shared temporary directory: another user can create it first or plant a symlink there
            5:35-5:59 high rust/tls-verify-disabled TLS certificate or hostname verification is disabled
        "#]],
    );
}
