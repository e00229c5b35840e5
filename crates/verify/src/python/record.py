# nib's case recorder, run in the sandbox. Reads nib_record.json: {"module": importable name of
# the code under test, "function": a top-level function's name, "prose": [call, value] pairs
# (the docstring's examples written in prose, found by nib), "tests": a test file to take inputs
# from, "exclude": names of tests whose inputs are not taken, "limit": cases to write,
# "seconds": time for all the calls, "behaviour": true to pin the behaviour a rewrite must keep
# (below)}.
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
# literal. Cases whose value is new come first. With "behaviour", the seeds are candidates too,
# a call raising the same builtin exception twice is a case (its "value" the exception's name,
# with "raises": true), a case is marked "edge" when its input is one (see `edge`; a raising
# case always is),
# and seeds come from the function's signature: each parameter's literal default, or a value of
# its annotated type (int, float, str, bool, and lists, tuples, sets, dicts and Optionals of
# them), then the typed values before the defaults; none when a parameter has neither; and
# from the docstring's calls of a name that is not bound anywhere (an example still using the
# function's old name) whose literal arguments fit its parameters. A
# string's variants then also include one with a space, a digit and punctuation added. One line per case on stdout:
#   @@nib {"call": "f(0, [1])", "value": "3"}  (a documented case also has "documented": true,
#   a raising one "raises": true)
import ast, builtins, copy, doctest, importlib, io, json, re, signal, sys, time

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


SAMPLES = {"int": [3, 1, 2], "float": [2.5, -1.0, 0.5], "str": ["abc", "b", "ca"], "bool": [True, False, True], "bytes": [b"ab", b"c", b"ba"]}
LISTS = {"list", "List", "Sequence", "Iterable", "Collection", "MutableSequence"}


def type_name(node):
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return None


def samples(ann):
    """Three values of the type annotation `ann` (an ast node), or None when it is not one of
    the plain types above."""
    if isinstance(ann, ast.Constant) and isinstance(ann.value, str):
        try:
            return samples(ast.parse(ann.value, mode="eval").body)
        except SyntaxError:
            return None
    if isinstance(ann, ast.BinOp) and isinstance(ann.op, ast.BitOr):
        for side in (ann.left, ann.right):
            if not (isinstance(side, ast.Constant) and side.value is None):
                return samples(side)
        return None
    name = type_name(ann)
    if name in SAMPLES:
        return SAMPLES[name]
    if name in LISTS:
        return [[3, 1, 2], [1], [2, 2]]
    if name in ("tuple", "Tuple"):
        return [(3, 1, 2), (1,), (2, 2)]
    if not isinstance(ann, ast.Subscript):
        return None
    outer = type_name(ann.value)
    inner = ann.slice
    if outer == "Optional":
        return samples(inner)
    if outer in ("Union",) and isinstance(inner, ast.Tuple):
        for part in inner.elts:
            if not (isinstance(part, ast.Constant) and part.value is None):
                return samples(part)
        return None
    if outer in LISTS or outer in ("set", "Set", "frozenset", "FrozenSet"):
        elems = samples(inner)
        if elems is None:
            return None
        make = set if outer in ("set", "Set") else frozenset if outer in ("frozenset", "FrozenSet") else list
        if make is frozenset:
            return None
        return [make(elems), make(elems[:1]), make([elems[1], elems[1]])]
    if outer in ("tuple", "Tuple"):
        parts = inner.elts if isinstance(inner, ast.Tuple) else [inner]
        if len(parts) == 2 and isinstance(parts[1], ast.Constant) and parts[1].value is Ellipsis:
            elems = samples(parts[0])
            return None if elems is None else [tuple(elems), tuple(elems[:1]), ()]
        each = [samples(p) for p in parts]
        if any(e is None for e in each):
            return None
        return [tuple(e[i] for e in each) for i in range(3)]
    if outer in ("dict", "Dict", "Mapping") and isinstance(inner, ast.Tuple) and len(inner.elts) == 2:
        keys, values = samples(inner.elts[0]), samples(inner.elts[1])
        if keys is None or values is None or not all(isinstance(k, (int, str, bool)) for k in keys):
            return None
        return [dict(zip(keys, values)), {keys[0]: values[0]}, {}]
    return None


def balanced_call(text, start):
    """The text of the call whose name starts at `start` (`name(...)`, brackets balanced,
    quoted text skipped), or None."""
    depth, quote, i = 0, None, text.index("(", start)
    while i < len(text):
        c = text[i]
        if quote:
            if c == "\\":
                i += 1
            elif c == quote:
                quote = None
        elif c in "'\"":
            quote = c
        elif c in "([{":
            depth += 1
        elif c in ")]}":
            depth -= 1
            if depth == 0:
                return text[start : i + 1]
        i += 1
    return None


def renamed_example_seeds(module_source):
    """Calls in the function's docstring of a name that is neither the function's, a builtin nor
    bound in the module (an example left with the function's old name), with literal arguments
    that fit the function's parameters: seeds as if they called it."""
    try:
        tree = ast.parse(module_source)
    except SyntaxError:
        return
    bound = set(dir(builtins)) | {FN}
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            bound.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            bound.update((a.asname or a.name).split(".")[0] for a in node.names)
        elif isinstance(node, ast.Assign):
            bound.update(t.id for t in node.targets if isinstance(t, ast.Name))
    for node in tree.body:
        if not (isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == FN):
            continue
        a = node.args
        if a.vararg or a.kwarg:
            return
        positional = [p.arg for p in a.posonlyargs + a.args]
        required = len(positional) - len(a.defaults)
        names = set(positional[len(a.posonlyargs) :]) | {p.arg for p in a.kwonlyargs}
        doc = ast.get_docstring(node) or ""
        for m in re.finditer(r"(?<![\w.])([A-Za-z_]\w*)\(", doc):
            if m.group(1) in bound:
                continue
            text = balanced_call(doc, m.start())
            try:
                call = ast.parse(text, mode="eval").body if text else None
            except SyntaxError:
                continue
            found = literal_args(call) if isinstance(call, ast.Call) else None
            if found is None:
                continue
            args, kwargs = found
            given = len(args) + sum(1 for k, _ in kwargs if k in positional)
            if len(args) <= len(positional) and given >= required and all(k in names for k, _ in kwargs):
                yield found


def signature_seeds(module_source):
    """Calls of the function from its signature: each parameter's literal default, else the
    first value of its annotated type; then, when it differs, the annotated type's value first.
    None when a parameter has neither."""
    try:
        tree = ast.parse(module_source)
    except SyntaxError:
        return []
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == FN:
            a = node.args
            if any(d is None for d in a.kw_defaults):
                return []
            positional = a.posonlyargs + a.args
            defaults = [None] * (len(positional) - len(a.defaults)) + list(a.defaults)
            seeds = []
            for typed_first in (False, True):
                args = []
                for param, default in zip(positional, defaults):
                    given = None
                    if default is not None:
                        try:
                            given = (ast.literal_eval(default),)
                        except Exception:
                            given = None
                    found = samples(param.annotation) if param.annotation is not None else None
                    typed = None if found is None else (copy.deepcopy(found[0]),)
                    value = (typed or given) if typed_first else (given or typed)
                    if value is None:
                        return seeds
                    args.append(value[0])
                seed = (tuple(args), ())
                if seed not in seeds:
                    seeds.append(seed)
            return seeds
    return []


def variants(v):
    if isinstance(v, bool):
        return [not v]
    if isinstance(v, int):
        return [0, 1, -1, v + 1, v - 1, 2 * v, -v]
    if isinstance(v, float):
        return [0.0, -v, v + 0.5, 2 * v]
    if isinstance(v, str):
        out = ["", v[:1], v[::-1], v + v, v.upper()]
        # A rewrite also keeps what happens to spaces, digits and punctuation.
        return out + [v + " 1!"] if C.get("behaviour", False) else out
    if isinstance(v, (list, tuple)):
        t = type(v)
        out = [t(), t(v[:1]), t(v[::-1]), t(v) + t(v[-1:])]
        try:
            out.append(t(sorted(v)))
        except TypeError:
            pass
        return out
    return []


def edge(v, w):
    """Whether the variant `w` of the seed's value `v` is an edge input, one a function's
    contract often leaves out: empty, zero or negative where the seed was not, a string upper
    cased or with a space, digit and punctuation added."""
    if isinstance(v, bool):
        return False
    if isinstance(v, (int, float)):
        return w <= 0 < v
    if isinstance(v, str):
        return (w == "" != v) or (w == v.upper() != v) or w == v + " 1!"
    if isinstance(v, (list, tuple)):
        return len(w) == 0 < len(v)
    return False


def key(case):
    return repr(case)


def call_text(args, kwargs):
    parts = [repr(a) for a in args] + ["%s=%r" % (k, v) for k, v in kwargs]
    return "%s(%s)" % (FN, ", ".join(parts))


class Timeout(BaseException):
    pass


def on_alarm(signum, frame):
    raise Timeout()


def outcome(fn, args, kwargs):
    """One call: ("value", v), ("raises", the name of the builtin exception it raised), or None
    when it raised something else, ran out of time or printed to a closed stream."""
    seconds = min(0.5, DEADLINE - time.monotonic())
    if seconds <= 0:
        return None
    signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    sys.stdout = io.StringIO()
    try:
        return ("value", fn(*copy.deepcopy(args), **dict(copy.deepcopy(kwargs))))
    except Exception as e:
        name = type(e).__name__
        # Running out of memory or stack is no behaviour a rewrite keeps.
        limit = isinstance(e, (MemoryError, RecursionError))
        builtin = getattr(builtins, name, None) is type(e) and not limit
        return ("raises", name) if builtin else None
    except BaseException:
        return None
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        sys.stdout = sys.__stdout__


def call(fn, args, kwargs):
    """The value of one call, or None (wrapped: the value may be None) when it raised, ran out of
    time or printed to a closed stream."""
    got = outcome(fn, args, kwargs)
    return (got[1],) if got is not None and got[0] == "value" else None


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
    # recorded for tests. A rewrite keeps the current results all the same: there the
    # example's call is a seed like any other.
    behaviour = C.get("behaviour", False)
    documented = []
    for case, want in docstring_examples(open(module.__file__).read()):
        if want is not None and key(case) not in seen:
            got = call(fn, *case)
            if got is None or as_literal(got[0]) is None or not agrees(got[0], want[0]):
                if not behaviour:
                    return
            else:
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
    if behaviour:
        source = open(module.__file__).read()
        for case in list(renamed_example_seeds(source)) + signature_seeds(source):
            if key(case) not in seen:
                seen.add(key(case))
                seeds.append(case)
    # A rewrite keeps the results on the seeds too (their values are not documented ones).
    shown = {text for text, _ in documented}
    # (args, kwargs, an edge input)
    candidates = [(*s, False) for s in seeds if behaviour and call_text(*s) not in shown]
    for args, kwargs in seeds:
        for i, a in enumerate(args):
            for v in variants(a):
                case = (args[:i] + (v,) + args[i + 1 :], kwargs)
                if key(case) not in seen:
                    seen.add(key(case))
                    candidates.append((*case, edge(a, v)))
        for j, (name, a) in enumerate(kwargs):
            for v in variants(a):
                case = (args, kwargs[:j] + ((name, v),) + kwargs[j + 1 :])
                if key(case) not in seen:
                    seen.add(key(case))
                    candidates.append((*case, edge(a, v)))
    new_value, repeated = [], []
    values = set()
    for args, kwargs, at_edge in candidates:
        if time.monotonic() >= DEADLINE or len(new_value) >= LIMIT:
            break
        text = call_text(args, kwargs)
        if len(text) > MAX_TEXT:
            continue
        first = outcome(fn, args, kwargs)
        if first is None or (first[0] == "raises" and not behaviour):
            continue
        again = outcome(fn, args, kwargs)
        if first[0] == "raises":
            # A rewrite raises the same exception where the code does.
            if again == first:
                key_ = "raises " + first[1]
                (repeated if key_ in values else new_value).append((text, first[1], True, True))
                values.add(key_)
            continue
        if again is None or again[0] != "value" or as_literal(again[1]) != as_literal(first[1]):
            continue
        value = as_literal(first[1])
        if value is None:
            continue
        (repeated if value in values else new_value).append((text, value, False, at_edge))
        values.add(value)
    for text, value, raises, at_edge in (new_value + repeated)[:LIMIT]:
        extra = {"raises": True} if raises else {}
        if behaviour and at_edge:
            extra["edge"] = True
        emit(call=text, value=value, **extra)


main()
