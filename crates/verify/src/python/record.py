# nib's case recorder, run in the sandbox. Reads nib_record.json: {"module": importable name of
# the code under test, "function": a top-level function's name, "prose": [call, value] pairs
# (the docstring's examples written in prose, found by nib), "tests": a test file to take inputs
# from, "exclude": names of tests whose inputs are not taken, "limit": cases to write,
# "seconds": time for all the calls}.
#
# Documented cases come first: the docstring's examples (doctest's form and the prose ones) that
# call the function with literal arguments and show a literal output, when the current code
# returns that output; when it returns something else for one, nothing at all is written. The
# seeds are the calls of the function whose arguments are all literals, in the examples and in
# the tests (those not excluded). The candidates change one argument of a seed at a time
# (integers: 0, 1, -1, n+1, n-1, 2n, -n; floats: 0.0, -x, x+0.5, 2x; strings: empty, first
# character, reversed, doubled, upper case; lists and tuples: empty, first element, reversed,
# last element repeated, sorted; booleans: negated). Each candidate that is not a seed is called
# twice on the current code (stdout swallowed, each call under a timer, arguments copied); a
# case is kept when both calls return the same value and the value reads back as the same
# literal. Cases whose value is new come first. One line per case on stdout:
#   @@nib {"call": "f(0, [1])", "value": "3"}  (a documented case also has "documented": true)
import ast, copy, doctest, importlib, io, json, signal, sys, time

C = json.load(open("nib_record.json"))
FN = C["function"]
EXCLUDE = set(C["exclude"])
LIMIT = C["limit"]
DEADLINE = time.monotonic() + C["seconds"]
MAX_TEXT = 200


def emit(**event):
    sys.__stdout__.write("\n@@nib " + json.dumps(event) + "\n")
    sys.__stdout__.flush()


def literal_args(call):
    if any(isinstance(a, ast.Starred) for a in call.args) or any(k.arg is None for k in call.keywords):
        return None
    try:
        args = tuple(ast.literal_eval(a) for a in call.args)
        kwargs = tuple((k.arg, ast.literal_eval(k.value)) for k in call.keywords)
    except Exception:
        return None
    return args, kwargs


def calls_in(tree):
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            f = node.func
            name = f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else None
            if name == FN:
                found = literal_args(node)
                if found is not None:
                    yield found


def test_seeds(source):
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name in EXCLUDE:
            continue
        if isinstance(node, ast.ClassDef):
            for item in node.body:
                name = getattr(item, "name", None)
                if name in EXCLUDE or "%s.%s" % (node.name, name) in EXCLUDE:
                    continue
                yield from calls_in(item)
            continue
        yield from calls_in(node)


def docstring_examples(module_source):
    """(call, expected value or None) of each docstring example that calls the function with
    literal arguments; the value when the example shows a literal output."""
    try:
        tree = ast.parse(module_source)
    except SyntaxError:
        return
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == FN:
            doc = ast.get_docstring(node) or ""
            try:
                examples = doctest.DocTestParser().get_examples(doc)
            except ValueError:
                return
            for example in examples:
                try:
                    tree = ast.parse(example.source)
                except SyntaxError:
                    continue
                calls = list(calls_in(tree))
                want = None
                whole = tree.body[0].value if len(tree.body) == 1 and isinstance(tree.body[0], ast.Expr) else None
                if len(calls) == 1 and isinstance(whole, ast.Call) and example.want.strip():
                    try:
                        want = (ast.literal_eval(example.want.strip()),)
                    except Exception:
                        want = None
                for case in calls:
                    yield case, want if len(calls) == 1 else None
    for text, value in C["prose"]:
        try:
            calls = list(calls_in(ast.parse(text)))
            want = (ast.literal_eval(value),)
        except Exception:
            continue
        if len(calls) == 1:
            yield calls[0], want


def variants(v):
    if isinstance(v, bool):
        return [not v]
    if isinstance(v, int):
        return [0, 1, -1, v + 1, v - 1, 2 * v, -v]
    if isinstance(v, float):
        return [0.0, -v, v + 0.5, 2 * v]
    if isinstance(v, str):
        return ["", v[:1], v[::-1], v + v, v.upper()]
    if isinstance(v, (list, tuple)):
        t = type(v)
        out = [t(), t(v[:1]), t(v[::-1]), t(v) + t(v[-1:])]
        try:
            out.append(t(sorted(v)))
        except TypeError:
            pass
        return out
    return []


def key(case):
    return repr(case)


def call_text(args, kwargs):
    parts = [repr(a) for a in args] + ["%s=%r" % (k, v) for k, v in kwargs]
    return "%s(%s)" % (FN, ", ".join(parts))


class Timeout(BaseException):
    pass


def on_alarm(signum, frame):
    raise Timeout()


def call(fn, args, kwargs):
    """The value of one call, or None (wrapped: the value may be None) when it raised, ran out of
    time or printed to a closed stream."""
    seconds = min(0.5, DEADLINE - time.monotonic())
    if seconds <= 0:
        return None
    signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    sys.stdout = io.StringIO()
    try:
        return (fn(*copy.deepcopy(args), **dict(copy.deepcopy(kwargs))),)
    except BaseException:
        return None
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        sys.stdout = sys.__stdout__


def as_literal(value):
    text = repr(value)
    if len(text) > MAX_TEXT:
        return None
    try:
        back = ast.literal_eval(text)
    except Exception:
        return None
    if type(back) is not type(value) or back != value or value != value:
        return None
    return text


def agrees(got, want):
    if isinstance(got, float) and isinstance(want, (int, float)) and not isinstance(want, bool):
        return abs(got - want) <= 1e-6 * max(1.0, abs(want))
    return type(got) is type(want) and got == want


def main():
    try:
        module = importlib.import_module(C["module"])
    except BaseException:
        return
    fn = getattr(module, FN, None)
    if not callable(fn):
        return
    seeds = []
    seen = set()
    # The docstring's examples with a literal output become cases when the code agrees with
    # them; when it disagrees with one, the code or its documentation is wrong, and nothing is
    # recorded.
    documented = []
    for case, want in docstring_examples(open(module.__file__).read()):
        if want is not None and key(case) not in seen:
            got = call(fn, *case)
            if got is None or as_literal(got[0]) is None or not agrees(got[0], want[0]):
                return
            documented.append((call_text(*case), as_literal(got[0])))
        if key(case) not in seen:
            seen.add(key(case))
            seeds.append(case)
    for text, value in documented[:LIMIT]:
        emit(call=text, value=value, documented=True)
    for case in test_seeds(open(C["tests"]).read()):
        if key(case) not in seen:
            seen.add(key(case))
            seeds.append(case)
    candidates = []
    for args, kwargs in seeds:
        for i, a in enumerate(args):
            for v in variants(a):
                case = (args[:i] + (v,) + args[i + 1 :], kwargs)
                if key(case) not in seen:
                    seen.add(key(case))
                    candidates.append(case)
        for j, (name, a) in enumerate(kwargs):
            for v in variants(a):
                case = (args, kwargs[:j] + ((name, v),) + kwargs[j + 1 :])
                if key(case) not in seen:
                    seen.add(key(case))
                    candidates.append(case)
    new_value, repeated = [], []
    values = set()
    for args, kwargs in candidates:
        if time.monotonic() >= DEADLINE or len(new_value) >= LIMIT:
            break
        text = call_text(args, kwargs)
        if len(text) > MAX_TEXT:
            continue
        first = call(fn, args, kwargs)
        if first is None:
            continue
        again = call(fn, args, kwargs)
        if again is None or as_literal(again[0]) != as_literal(first[0]):
            continue
        value = as_literal(first[0])
        if value is None:
            continue
        (repeated if value in values else new_value).append((text, value))
        values.add(value)
    for text, value in (new_value + repeated)[:LIMIT]:
        emit(call=text, value=value)


main()
