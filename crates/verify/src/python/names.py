# nib's undefined-name finder, run in the sandbox. Reads nib_names.json: {"before": a module's
# file, "after": the same module changed}. Neither is run: Python's own symbol tables say which
# names each uses as globals (at module level, in functions, classes and comprehensions) and
# which the module binds (assignments, imports, definitions, `global` names assigned in a
# function). A global used and neither bound nor a builtin raises NameError when its line runs.
# Prints the names undefined in "after" that are not undefined in "before", and for each that
# the standard library has (a module, or a function or class of one of the modules in
# SOURCES; not a constant: an unbound `e` or `pi` is more likely a name the code lost than
# `math.e`) the import statement that binds it, one line:
#   @@nib {"new": ["factorial", "helper", "math"], "imports": {"factorial": "from math import factorial", "math": "import math"}}
# and nothing when either file does not parse or imports with `*` (its names are unknown).
import ast, builtins, importlib, json, symtable, sys

C = json.load(open("nib_names.json"))
MODULE_NAMES = {"__name__", "__file__", "__doc__", "__spec__", "__loader__", "__package__",
                "__builtins__", "__path__", "__annotations__", "__dict__", "__cached__"}


def tables(t):
    yield t
    for child in t.get_children():
        yield from tables(child)


def undefined(path):
    source = open(path, encoding="utf-8").read()
    try:
        tree = ast.parse(source)
        top = symtable.symtable(source, path, "exec")
    except (SyntaxError, ValueError):
        return None
    if any(isinstance(n, ast.ImportFrom) and any(a.name == "*" for a in n.names) for n in ast.walk(tree)):
        return None
    bound = set(dir(builtins)) | MODULE_NAMES
    used = set()
    for t in tables(top):
        module = t.get_type() == "module"
        for s in t.get_symbols():
            name = s.get_name()
            if module and (s.is_assigned() or s.is_imported() or s.is_namespace()):
                bound.add(name)
            if not module and s.is_declared_global() and (s.is_assigned() or s.is_imported()):
                bound.add(name)
            if s.is_referenced() and (module or s.is_global()):
                used.add(name)
    return used - bound


# Standard modules whose names a model uses without importing them.
SOURCES = ["math", "typing", "itertools", "functools", "collections", "string", "re",
           "operator", "statistics", "heapq", "bisect"]


def importable(name):
    if name in getattr(sys, "stdlib_module_names", ()):
        return "import " + name
    if name.startswith("_"):
        return None
    for m in SOURCES:
        try:
            module = importlib.import_module(m)
        except ImportError:
            continue
        if callable(getattr(module, name, None)):
            return "from %s import %s" % (m, name)
    return None


def main():
    before, after = undefined(C["before"]), undefined(C["after"])
    if before is None or after is None:
        return
    new = sorted(after - before)
    imports = {n: s for n, s in ((n, importable(n)) for n in new) if s}
    sys.stdout.write("\n@@nib " + json.dumps({"new": new, "imports": imports}) + "\n")


main()
