# Compiles lib.rs with its tests as one crate (`rustc --test`) and runs them one at a time.
# Writes `@@nib {json}` records: {"collected": [names]}, {"error": why}, and per test
# {"name", "passed", "reason", "line"} (the line of lib.rs where it panicked).
import json
import os
import re
import subprocess
import sys

EDITION = open("edition.txt").read().strip()


def record(o):
    print("@@nib " + json.dumps(o), flush=True)


env = dict(os.environ, RUST_BACKTRACE="0")
try:
    built = subprocess.run(
        ["rustc", "--edition", EDITION, "--test", "--crate-name", "nib_check",
         "--error-format=json", "-o", "nib_check", "lib.rs"],
        capture_output=True, text=True, env=env,
    )
except OSError as e:
    record({"error": "rustc could not start (%s)" % e})
    sys.exit(0)
if built.returncode != 0:
    # Each error's message and the lines of lib.rs it points at.
    errors = []
    for l in built.stderr.splitlines():
        try:
            d = json.loads(l)
        except ValueError:
            continue
        if d.get("level") != "error" or d["message"].startswith("aborting due to"):
            continue
        code = (d.get("code") or {}).get("code")
        message = "error[%s]: %s" % (code, d["message"]) if code else "error: " + d["message"]
        lines = [span["line_start"] for span in d.get("spans", [])
                 if span.get("is_primary") and span.get("file_name") == "lib.rs"]
        errors.append({"message": message, "lines": lines})
    first = errors[0]["message"] if errors else built.stderr.strip()[-300:]
    record({"error": "the file does not compile alone with the tests (rustc: %s)" % first,
            "compile_errors": errors})
    sys.exit(0)
listed = subprocess.run(["./nib_check", "--list"], capture_output=True, text=True, env=env)
names = [l[: -len(": test")] for l in listed.stdout.splitlines() if l.endswith(": test")]
record({"collected": names})
ran = subprocess.run(["./nib_check", "--test-threads", "1"], capture_output=True, text=True,
                     env=env)
out = ran.stdout
failures = {}
for m in re.finditer(r"^---- (\S+) stdout ----\n(.*?)(?=^---- |^failures:$|\Z)", out,
                     re.M | re.S):
    failures[m.group(1)] = m.group(2)
reported = set()
for m in re.finditer(r"^test (\S+) \.\.\. (ok|FAILED)$", out, re.M):
    name, status = m.groups()
    reported.add(name)
    result = {"name": name, "passed": status == "ok"}
    if status != "ok":
        body = failures.get(name, "")
        panic = re.search(r"panicked at [^\n]*?:(\d+):\d+:\n((?:.+\n?)*)", body)
        if panic:
            result["line"] = int(panic.group(1))
            lines = [l.strip() for l in panic.group(2).splitlines()
                     if l.strip() and not l.startswith("note:")]
            result["reason"] = "; ".join(lines[:3])
        else:
            result["reason"] = " ".join(body.split())[:300] or "failed"
    record(result)
# Killed (the CPU time limit, a stack overflow): the test it was in, and those after it.
if ran.returncode < 0:
    why = {
        9: "it was killed (CPU time or memory limit)",
        24: "it did not end (CPU time limit)",
    }.get(-ran.returncode, "it was killed (signal %d)" % -ran.returncode)
    first = True
    for name in names:
        if name not in reported:
            reason = why if first else "not run: an earlier test ended the run (%s)" % why
            record({"name": name, "passed": False, "reason": reason})
            first = False
