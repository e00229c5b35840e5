# nib's test runner, run in the sandbox. Reads nib_run.json: {"module": importable name of the
# code under test, "tests": the test file, "only": test names to run or null, "fail_fast": bool}.
# The module's names are made visible to the tests as if they had `from module import *`d it
# (tests written inside the module's own file need no import). One line per event on stdout:
#   @@nib {"collected": [names]}  |  @@nib {"name": ..., "passed": bool, "reason": ...}
#   @@nib {"error": "..."}  (the module or the tests cannot be loaded)
# pytest is used when it is installed; otherwise test_* functions, Test* classes and
# unittest.TestCase classes are run here, with a small stand-in for pytest's common helpers.
import builtins, importlib, json, linecache, re, sys, traceback, types, unittest

CONFIG = json.load(open("nib_run.json"))
TESTS = CONFIG["tests"]
ONLY = CONFIG["only"]


def emit(**event):
    # On a line of its own even after pytest's progress dots.
    sys.stdout.write("\n@@nib " + json.dumps(event) + "\n")
    sys.stdout.flush()


def short(text, limit=600):
    text = str(text).strip()
    return text if len(text) <= limit else text[: limit - 3] + "..."


def tests_line(exc):
    """The innermost line of the test file in `exc`'s traceback (`None` when there is none)."""
    at = None
    for frame, line in traceback.walk_tb(exc.__traceback__):
        if frame.f_code.co_filename.endswith(TESTS):
            at = (frame.f_code.co_filename, line)
    return at


def reason_of(exc):
    """`ExcType: message`, and the failing line of the test file."""
    name = type(exc).__name__
    msg = str(exc)
    where = ""
    at = tests_line(exc)
    if at:
        where = " at %s:%d: %s" % (TESTS, at[1], linecache.getline(at[0], at[1]).strip())
    return short((name + (": " + msg if msg else "")) + where)


try:
    module = importlib.import_module(CONFIG["module"])
except BaseException as e:
    emit(error="cannot import the code under test: " + short("".join(traceback.format_exception_only(type(e), e))))
    raise SystemExit(0)
for k, v in vars(module).items():
    if not k.startswith("__"):
        setattr(builtins, k, v)

try:
    import pytest  # noqa: F401
    HAVE_PYTEST = True
except ImportError:
    HAVE_PYTEST = False


def run_with_pytest():
    names = {}

    def name_of(nodeid):
        return nodeid.split("::", 1)[-1].replace("::", ".")

    class Plugin:
        def pytest_collection_modifyitems(self, items, config):
            if ONLY is not None:
                keep = [i for i in items if name_of(i.nodeid) in ONLY]
                config.hook.pytest_deselected(items=[i for i in items if i not in keep])
                items[:] = keep
            emit(collected=[name_of(i.nodeid) for i in items])

        def pytest_collectreport(self, report):
            if report.failed:
                emit(error="cannot load the tests: " + short(report.longreprtext, 2000))

        def pytest_runtest_logreport(self, report):
            n = name_of(report.nodeid)
            if report.when == "call" or (report.failed and n not in names):
                names[n] = True
                reason = None
                line = None
                if report.failed:
                    crash = getattr(report.longrepr, "reprcrash", None)
                    reason = short(crash.message if crash else report.longreprtext)
                    if crash:
                        where = str(crash.path).rsplit("/", 1)[-1]
                        reason = short("%s (%s:%d)" % (reason, where, crash.lineno))
                    # The innermost entry of the traceback in the test file (1-based line).
                    entries = getattr(getattr(report.longrepr, "reprtraceback", None), "reprentries", [])
                    for entry in entries:
                        loc = getattr(entry, "reprfileloc", None)
                        if loc is not None and str(loc.path).endswith(TESTS):
                            line = loc.lineno
                elif report.skipped:
                    reason = "skipped"
                emit(name=n, passed=report.passed, reason=reason, line=line)

    args = ["-q", "-p", "no:cacheprovider", "--no-header", "-o", "python_files=*.py", TESTS]
    if CONFIG["fail_fast"]:
        args.append("-x")
    pytest.main(args, plugins=[Plugin()])


class _Raises:
    def __init__(self, expected, match=None):
        self.expected, self.match = expected, match

    def __enter__(self):
        return self

    def __exit__(self, kind, value, tb):
        if kind is None:
            raise AssertionError("DID NOT RAISE %r" % (self.expected,))
        if not issubclass(kind, self.expected):
            return False
        if self.match is not None:
            import re
            if not re.search(self.match, str(value)):
                raise AssertionError("%r does not match %r" % (str(value), self.match))
        self.value = value
        return True


class _Approx:
    def __init__(self, expected, rel=1e-6, abs=1e-12):
        self.expected, self.rel, self.abs = expected, rel, abs

    def __eq__(self, other):
        def close(a, b):
            return abs(a - b) <= max(self.rel * abs(b), self.abs)
        if isinstance(self.expected, (list, tuple)):
            return len(other) == len(self.expected) and all(close(a, b) for a, b in zip(other, self.expected))
        return close(other, self.expected)

    def __repr__(self):
        return "approx(%r)" % (self.expected,)


class _Mark:
    def parametrize(self, names, values, **_):
        def deco(f):
            f.__dict__.setdefault("_nib_params", []).insert(0, (names, list(values)))
            return f
        return deco

    def __getattr__(self, _name):
        def mark(*a, **k):
            if len(a) == 1 and callable(a[0]) and not k:
                return a[0]
            return lambda f: f
        return mark


def _stand_in_pytest():
    m = types.ModuleType("pytest")
    m.raises = _Raises
    m.approx = _Approx
    m.mark = _Mark()
    m.fixture = lambda *a, **k: a[0] if len(a) == 1 and callable(a[0]) and not k else (lambda f: f)

    def fail(msg=""):
        raise AssertionError(msg)
    m.fail = fail
    return m


def cases(name, func):
    """(name, callable with no arguments) for a test function, expanding parametrize."""
    params = getattr(func, "_nib_params", [])
    combos = [({}, "")]
    for names, values in params:
        keys = [n.strip() for n in names.split(",")] if isinstance(names, str) else list(names)
        nxt = []
        for kw, label in combos:
            for i, v in enumerate(values):
                vals = (v,) if len(keys) == 1 else tuple(v)
                d = dict(kw)
                d.update(zip(keys, vals))
                nxt.append((d, label + ("-" if label else "") + str(i)))
        combos = nxt
    for kw, label in combos:
        yield (name + ("[%s]" % label if label else "")), (lambda kw=kw: func(**kw))


def run_builtin():
    if not HAVE_PYTEST:
        sys.modules["pytest"] = _stand_in_pytest()
    ns = {"__name__": "nib_tests", "__file__": TESTS}
    try:
        code = compile(open(TESTS).read(), TESTS, "exec")
        exec(code, ns)
    except BaseException as e:
        emit(error="cannot load the tests: " + short("".join(traceback.format_exception_only(type(e), e))))
        return
    tests = []
    for name, obj in list(ns.items()):
        if isinstance(obj, type) and issubclass(obj, unittest.TestCase) and obj.__module__ == "nib_tests":
            for m in unittest.defaultTestLoader.getTestCaseNames(obj):
                tests.append(("%s.%s" % (name, m), ("unittest", obj, m)))
        elif isinstance(obj, type) and name.startswith("Test") and obj.__module__ == "nib_tests":
            for m in sorted(dir(obj)):
                if m.startswith("test") and callable(getattr(obj, m)):
                    for n, call in cases("%s.%s" % (name, m), lambda obj=obj, m=m, **kw: getattr(obj(), m)(**kw)):
                        tests.append((n, ("call", call)))
        elif name.startswith("test") and isinstance(obj, types.FunctionType) and obj.__module__ == "nib_tests":
            for n, call in cases(name, obj):
                tests.append((n, ("call", call)))
    if ONLY is not None:
        tests = [t for t in tests if t[0] in ONLY]
    emit(collected=[n for n, _ in tests])
    for name, (kind, *what) in tests:
        reason = None
        line = None
        if kind == "unittest":
            cls, method = what
            result = unittest.TestResult()
            cls(method).run(result)
            bad = result.failures + result.errors
            if bad:
                text = bad[0][1].strip().splitlines()
                at = [l.strip() for l in text if l.strip().startswith("File") and TESTS in l]
                reason = text[-1] + (" (%s)" % at[-1].split(", in")[0] if at else "")
                if at:
                    m = re.search(r", line (\d+)", at[-1])
                    line = int(m.group(1)) if m else None
            elif result.skipped:
                reason = "skipped"
        else:
            try:
                what[0]()
            except KeyboardInterrupt:
                raise
            except BaseException as e:
                reason = reason_of(e)
                at = tests_line(e)
                line = at[1] if at else None
        emit(name=name, passed=reason is None, reason=None if reason is None else short(reason), line=line)
        if CONFIG["fail_fast"] and reason is not None:
            break


if HAVE_PYTEST and CONFIG["use_pytest"]:
    run_with_pytest()
else:
    run_builtin()
