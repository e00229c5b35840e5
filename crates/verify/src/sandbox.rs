//! Runs untrusted Python programs (model completions plus tests), one `python3` process each:
//! a wall-clock timeout (the whole process group is killed on expiry), address-space, CPU-time,
//! file-size and core rlimits set before the program runs, a fresh scratch directory as cwd
//! (deleted afterwards), and no network when the OS allows a private network namespace
//! (`unshare -rn`, else `unshare -n`); without one, programs run with the host network and
//! [`Sandbox::network_isolated`] says so.

use std::io::Write;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SandboxConfig {
    pub timeout: Duration,
    /// Address-space limit (RLIMIT_AS), bytes.
    pub memory_bytes: u64,
    /// CPU-time limit (RLIMIT_CPU), seconds.
    pub cpu_secs: u64,
    /// Largest file the program may write (RLIMIT_FSIZE), bytes.
    pub file_bytes: u64,
    pub python: String,
}

impl Default for SandboxConfig {
    fn default() -> SandboxConfig {
        SandboxConfig {
            timeout: Duration::from_secs(10),
            memory_bytes: 2 << 30,
            cpu_secs: 10,
            file_bytes: 16 << 20,
            python: "python3".to_string(),
        }
    }
}

/// How a program ended.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Passed,
    /// An `AssertionError`: the tests ran and failed.
    AssertionFailed,
    /// `SyntaxError` / `IndentationError`: the program does not compile.
    SyntaxError,
    /// `MemoryError`, or killed by the memory limit.
    MemoryExceeded,
    /// Wall-clock timeout (killed) or CPU limit (SIGXCPU).
    Timeout,
    /// Another uncaught exception, by name (e.g. `NameError`).
    Exception(String),
    /// Killed by a signal, or a non-zero exit without a Python traceback.
    Crashed(String),
}

impl Outcome {
    pub fn passed(&self) -> bool {
        *self == Outcome::Passed
    }

    /// Short name for tables and JSON.
    pub fn kind(&self) -> String {
        match self {
            Outcome::Passed => "passed".into(),
            Outcome::AssertionFailed => "assertion".into(),
            Outcome::SyntaxError => "syntax".into(),
            Outcome::MemoryExceeded => "memory".into(),
            Outcome::Timeout => "timeout".into(),
            Outcome::Exception(e) => e.clone(),
            Outcome::Crashed(s) => format!("crashed: {s}"),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NetIsolation {
    /// `unshare -rn` (an unprivileged user namespace with its own network namespace).
    UserNamespace,
    /// `unshare -n` (needs privileges).
    NetNamespace,
    None,
}

/// How a program ended and the tails of what it printed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Run {
    pub outcome: Outcome,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// The JSON records nib's helper programs print on stdout, each on a line after
    /// `@@nib ` (what the program under test prints around them is skipped, as are lines
    /// that do not parse).
    pub fn records(&self) -> impl Iterator<Item = serde_json::Value> + '_ {
        self.stdout
            .lines()
            .filter_map(|line| line.split_once("@@nib ").map(|(_, j)| j))
            .filter_map(|j| serde_json::from_str(j).ok())
    }
}

/// Bytes of stdout and stderr [`Sandbox::run_files`] keeps (the end of each).
pub const OUTPUT_TAIL: usize = 256 << 10;

pub struct Sandbox {
    config: SandboxConfig,
    net: NetIsolation,
    root: PathBuf,
}

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// Sets the limits, then runs `argv[1]` as `__main__`.
const PREAMBLE: &str = r#"import resource, runpy, sys
def _lim(r, v):
    try:
        resource.setrlimit(r, (v, v))
    except (ValueError, OSError):
        pass
_lim(resource.RLIMIT_AS, int(sys.argv[1]))
_lim(resource.RLIMIT_CPU, int(sys.argv[2]))
_lim(resource.RLIMIT_FSIZE, int(sys.argv[3]))
_lim(resource.RLIMIT_CORE, 0)
path = sys.argv[4]
sys.argv = sys.argv[4:]
sys.path.insert(0, '.')
runpy.run_path(path, run_name='__main__')
"#;

impl Sandbox {
    /// Probe the network isolation this machine allows.
    pub fn new(config: SandboxConfig) -> Sandbox {
        let net = [NetIsolation::UserNamespace, NetIsolation::NetNamespace]
            .into_iter()
            .find(|&n| {
                let mut c = Command::new("unshare");
                c.args(unshare_args(n)).arg(&config.python).args([
                    "-c",
                    "import socket\ntry:\n    socket.create_connection(('1.1.1.1', 53), timeout=1)\nexcept OSError:\n    raise SystemExit(0)\nraise SystemExit(3)",
                ]);
                c.stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .status()
                    .is_ok_and(|s| s.success())
            })
            .unwrap_or(NetIsolation::None);
        Sandbox {
            config,
            net,
            root: std::env::temp_dir(),
        }
    }

    /// The same sandbox with another wall-clock timeout (CPU limit too, rounded up to seconds).
    pub fn with_timeout(&self, timeout: Duration) -> Sandbox {
        Sandbox {
            config: SandboxConfig {
                timeout,
                cpu_secs: timeout.as_secs_f64().ceil() as u64,
                ..self.config.clone()
            },
            net: self.net,
            root: self.root.clone(),
        }
    }

    /// The same sandbox with another wall-clock timeout, the CPU limit of each process
    /// unchanged (for runs of several processes, like a compiler and what it built).
    pub fn with_wall_clock(&self, timeout: Duration) -> Sandbox {
        Sandbox {
            config: SandboxConfig {
                timeout,
                ..self.config.clone()
            },
            net: self.net,
            root: self.root.clone(),
        }
    }

    pub fn network_isolated(&self) -> NetIsolation {
        self.net
    }

    pub fn config(&self) -> &SandboxConfig {
        &self.config
    }

    /// Run `program` (Python source) in a fresh scratch directory.
    pub fn run(&self, program: &str) -> Outcome {
        self.run_files(&[], program).outcome
    }

    /// Run `program` in a fresh scratch directory that also holds `files` (paths relative to
    /// it, `/`-separated, parent directories created): the program can import them. Keeps the
    /// last [`OUTPUT_TAIL`] bytes of stdout and stderr.
    pub fn run_files(&self, files: &[(&str, &str)], program: &str) -> Run {
        let dir = self.root.join(format!(
            "nib-sandbox-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        let run = self.run_in(&dir, files, program);
        let _ = std::fs::remove_dir_all(&dir);
        run.unwrap_or_else(|e| Run {
            outcome: Outcome::Crashed(format!("sandbox: {e}")),
            stdout: String::new(),
            stderr: String::new(),
        })
    }

    fn run_in(&self, dir: &Path, files: &[(&str, &str)], program: &str) -> std::io::Result<Run> {
        std::fs::create_dir_all(dir)?;
        for (path, text) in files {
            let rel = Path::new(path);
            let plain = rel
                .components()
                .all(|c| matches!(c, std::path::Component::Normal(_)));
            if !plain || matches!(*path, "prog.py" | "stdout.txt" | "stderr.txt") {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::InvalidInput,
                    format!("file path {path:?} is not a plain relative path of its own"),
                ));
            }
            let full = dir.join(rel);
            if let Some(parent) = full.parent() {
                std::fs::create_dir_all(parent)?;
            }
            std::fs::write(full, text)?;
        }
        std::fs::File::create(dir.join("prog.py"))?.write_all(program.as_bytes())?;
        let stdout = std::fs::File::create(dir.join("stdout.txt"))?;
        let stderr = std::fs::File::create(dir.join("stderr.txt"))?;
        let c = &self.config;
        let mut cmd = match self.net {
            NetIsolation::None => Command::new(&c.python),
            n => {
                let mut cmd = Command::new("unshare");
                cmd.args(unshare_args(n)).arg(&c.python);
                cmd
            }
        };
        cmd.args(["-I", "-B", "-c", PREAMBLE])
            .arg(c.memory_bytes.to_string())
            .arg(c.cpu_secs.to_string())
            .arg(c.file_bytes.to_string())
            .arg("prog.py")
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr)
            .process_group(0);
        let mut child = cmd.spawn()?;
        let pgid = child.id() as i32;
        let start = Instant::now();
        let status = loop {
            if let Some(s) = child.try_wait()? {
                break Some(s);
            }
            if start.elapsed() >= c.timeout {
                // SAFETY: kill(2) on the process group we created; no memory is involved.
                unsafe {
                    libc::kill(-pgid, libc::SIGKILL);
                }
                let _ = child.wait();
                break None;
            }
            std::thread::sleep(Duration::from_millis(5));
        };
        let tail = |name: &str| {
            let bytes = std::fs::read(dir.join(name)).unwrap_or_default();
            String::from_utf8_lossy(&bytes[bytes.len().saturating_sub(OUTPUT_TAIL)..]).into_owned()
        };
        let Some(status) = status else {
            return Ok(Run {
                outcome: Outcome::Timeout,
                stdout: tail("stdout.txt"),
                stderr: tail("stderr.txt"),
            });
        };
        // Descendants left behind by the program go too.
        // SAFETY: as above.
        unsafe {
            libc::kill(-pgid, libc::SIGKILL);
        }
        let (stdout, stderr) = (tail("stdout.txt"), tail("stderr.txt"));
        let outcome = if status.success() {
            Outcome::Passed
        } else {
            let err = &stderr[floor_boundary(&stderr, stderr.len().saturating_sub(4096))..];
            classify(status.signal(), status.code(), err)
        };
        Ok(Run {
            outcome,
            stdout,
            stderr,
        })
    }
}

fn floor_boundary(s: &str, mut i: usize) -> usize {
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

fn unshare_args(n: NetIsolation) -> &'static [&'static str] {
    match n {
        NetIsolation::UserNamespace => &["-rn"],
        NetIsolation::NetNamespace => &["-n"],
        NetIsolation::None => &[],
    }
}

/// The outcome from the exit status and the tail of stderr (a Python traceback ends with
/// `Name: message`).
fn classify(signal: Option<i32>, code: Option<i32>, stderr: &str) -> Outcome {
    match signal {
        Some(libc::SIGXCPU) => return Outcome::Timeout,
        Some(libc::SIGKILL) => return Outcome::MemoryExceeded,
        Some(s) => return Outcome::Crashed(format!("signal {s}")),
        None => {}
    }
    let last = stderr
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("");
    let name = last.split(':').next().unwrap_or("").trim();
    let name = name.rsplit('.').next().unwrap_or(name);
    let is_ident = !name.is_empty() && name.chars().all(|c| c.is_alphanumeric() || c == '_');
    if !is_ident || !stderr.contains("Traceback") && !name.ends_with("Error") {
        return Outcome::Crashed(format!("exit code {}", code.unwrap_or(-1)));
    }
    match name {
        "AssertionError" => Outcome::AssertionFailed,
        "SyntaxError" | "IndentationError" | "TabError" => Outcome::SyntaxError,
        "MemoryError" => Outcome::MemoryExceeded,
        _ => Outcome::Exception(name.to_string()),
    }
}

/// Run `items` through `f` on `jobs` threads; results in input order.
pub fn parallel_map<T: Sync, R: Send>(
    items: &[T],
    jobs: usize,
    f: impl Fn(&T) -> R + Sync,
) -> Vec<R> {
    let next = std::sync::atomic::AtomicUsize::new(0);
    let results = std::sync::Mutex::new(Vec::with_capacity(items.len()));
    std::thread::scope(|s| {
        for _ in 0..jobs.max(1).min(items.len().max(1)) {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(item) = items.get(i) else { break };
                let r = f(item);
                results
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push((i, r));
            });
        }
    });
    let mut results = results.into_inner().unwrap_or_else(|e| e.into_inner());
    results.sort_by_key(|(i, _)| *i);
    results.into_iter().map(|(_, r)| r).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sandbox(timeout_ms: u64) -> Sandbox {
        Sandbox::new(SandboxConfig {
            timeout: Duration::from_millis(timeout_ms),
            memory_bytes: 512 << 20,
            ..SandboxConfig::default()
        })
    }

    #[test]
    fn passing_code_passes() {
        let sb = sandbox(10_000);
        assert_eq!(
            sb.run("def f(x):\n    return x + 1\nassert f(1) == 2\n"),
            Outcome::Passed
        );
    }

    #[test]
    fn failing_assertion_fails() {
        let sb = sandbox(10_000);
        assert_eq!(sb.run("assert 1 + 1 == 3\n"), Outcome::AssertionFailed);
    }

    #[test]
    fn exceptions_and_syntax_errors_are_named() {
        let sb = sandbox(10_000);
        assert_eq!(
            sb.run("undefined_name + 1\n"),
            Outcome::Exception("NameError".into())
        );
        assert_eq!(sb.run("def f(:\n"), Outcome::SyntaxError);
        assert_eq!(sb.run("if True:\nx = 1\n"), Outcome::SyntaxError);
        assert_eq!(
            sb.run("import sys\nsys.exit(4)\n"),
            Outcome::Crashed("exit code 4".into())
        );
    }

    #[test]
    fn endless_loop_is_killed_at_the_timeout() {
        let sb = sandbox(700);
        let start = Instant::now();
        assert_eq!(sb.run("while True:\n    pass\n"), Outcome::Timeout);
        assert!(start.elapsed() < Duration::from_secs(5));
        // Sleeping does not use CPU: only the wall clock stops it.
        let start = Instant::now();
        assert_eq!(sb.run("import time\ntime.sleep(60)\n"), Outcome::Timeout);
        assert!(start.elapsed() < Duration::from_secs(5));
    }

    #[test]
    fn child_processes_die_with_the_program() {
        let sb = sandbox(700);
        let marker =
            std::env::temp_dir().join(format!("nib-sandbox-orphan-{}", std::process::id()));
        let prog = format!(
            "import subprocess, sys\nsubprocess.Popen([sys.executable, '-c', 'import time; time.sleep(2); open({:?}, \"w\").write(\"x\")'])\nwhile True:\n    pass\n",
            marker.display().to_string()
        );
        assert_eq!(sb.run(&prog), Outcome::Timeout);
        std::thread::sleep(Duration::from_millis(2500));
        let orphan_wrote = marker.exists();
        let _ = std::fs::remove_file(&marker);
        assert!(!orphan_wrote, "a child process outlived the sandbox");
    }

    #[test]
    fn memory_hog_is_stopped() {
        // A generous timeout: on a loaded machine the allocation loop is slow to reach the
        // limit, and a timeout is not what this test is about.
        let sb = sandbox(60_000);
        assert_eq!(sb.run("x = bytearray(4 << 30)\n"), Outcome::MemoryExceeded);
        assert_eq!(
            sb.run("l = []\nwhile True:\n    l.append(' ' * 10**7)\n"),
            Outcome::MemoryExceeded
        );
    }

    #[test]
    fn scratch_directory_is_fresh_and_removed() {
        let sb = sandbox(10_000);
        // Each run records where it ran (other tests of this process run sandboxes at the same
        // time, so the temporary directory as a whole says nothing).
        let record =
            std::env::temp_dir().join(format!("nib-sandbox-test-cwd-{}", std::process::id()));
        let prog = format!(
            "import os\nassert sorted(os.listdir('.')) == ['prog.py', 'stderr.txt', 'stdout.txt'], os.listdir('.')\nopen('junk.txt', 'w').write('x')\nopen({:?}, 'a').write(os.getcwd() + '\\n')\n",
            record.display().to_string()
        );
        assert_eq!(sb.run(&prog), Outcome::Passed);
        assert_eq!(sb.run(&prog), Outcome::Passed);
        let dirs = std::fs::read_to_string(&record).unwrap();
        let _ = std::fs::remove_file(&record);
        let dirs: Vec<&str> = dirs.lines().collect();
        assert_eq!(dirs.len(), 2, "{dirs:?}");
        assert_ne!(dirs[0], dirs[1], "a fresh directory per run");
        for d in dirs {
            assert!(!std::path::Path::new(d).exists(), "scratch dir left: {d}");
        }
    }

    #[test]
    fn network_is_blocked_when_supported() {
        let sb = sandbox(10_000);
        let prog = "import socket\nsocket.create_connection(('1.1.1.1', 53), timeout=2)\n";
        if sb.network_isolated() == NetIsolation::None {
            eprintln!("no network namespace on this machine: network not isolated");
            return;
        }
        // Not even loopback reaches the host: a server on the host is invisible.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let local =
            format!("import socket\nsocket.create_connection(('127.0.0.1', {port}), timeout=2)\n");
        assert!(!sb.run(prog).passed());
        assert!(!sb.run(&local).passed());
    }

    #[test]
    fn files_beside_the_program_and_its_output() {
        let sb = sandbox(10_000);
        let run = sb.run_files(
            &[("pkg/__init__.py", ""), ("pkg/m.py", "X = 41\n")],
            "import sys\nfrom pkg.m import X\nprint(X + 1)\nprint('oops', file=sys.stderr)\n",
        );
        assert_eq!(run.outcome, Outcome::Passed);
        assert_eq!(run.stdout, "42\n");
        assert_eq!(run.stderr, "oops\n");
        for bad in ["../x.py", "/tmp/x.py", "prog.py"] {
            let run = sb.run_files(&[(bad, "")], "pass\n");
            assert!(matches!(run.outcome, Outcome::Crashed(_)), "{bad}: {run:?}");
        }
    }

    #[test]
    fn parallel_map_keeps_order() {
        let items: Vec<u32> = (0..50).collect();
        assert_eq!(
            parallel_map(&items, 4, |x| x * 2),
            (0..50).map(|x| x * 2).collect::<Vec<_>>()
        );
    }

    #[test]
    fn classify_traceback_tails() {
        assert_eq!(
            classify(
                None,
                Some(1),
                "Traceback (most recent call last):\n  ...\nzlib.error: bad\n"
            ),
            Outcome::Exception("error".into())
        );
        assert_eq!(
            classify(None, Some(1), "Traceback ...\nValueError: x: y\n"),
            Outcome::Exception("ValueError".into())
        );
        assert_eq!(
            classify(Some(libc::SIGSEGV), None, ""),
            Outcome::Crashed("signal 11".into())
        );
        assert_eq!(classify(Some(libc::SIGXCPU), None, ""), Outcome::Timeout);
    }
}
