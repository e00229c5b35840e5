# Generates crates/checks/data/python-stdlib.json (run with CPython 3.11).
import sys, json, importlib, pkgutil, warnings
warnings.simplefilter("ignore")
mods = sorted(m for m in sys.stdlib_module_names)
# One level of submodules for stdlib packages.
subs = set()
for m in mods:
    if m.startswith("_") or m in ("antigravity", "this", "idlelib", "tkinter", "turtledemo", "lib2to3", "test"):
        continue
    try:
        mod = importlib.import_module(m)
    except Exception:
        continue
    if hasattr(mod, "__path__"):
        for info in pkgutil.walk_packages(mod.__path__, m + "."):
            if ".test" in info.name or "._" in info.name:
                continue
            subs.add(info.name)
subs.add("os.path")
tables = ["os", "os.path", "sys", "json", "re", "subprocess", "pathlib", "hashlib", "random",
          "secrets", "time", "datetime", "itertools", "functools", "collections", "collections.abc",
          "math", "shutil", "tempfile", "typing", "logging", "pickle", "io", "string", "struct",
          "socket", "ssl", "threading", "asyncio", "argparse", "csv", "base64", "uuid", "copy",
          "glob", "fnmatch", "urllib.parse", "urllib.request", "http.client", "sqlite3", "statistics",
          "textwrap", "unittest", "dataclasses", "enum", "contextlib", "operator", "heapq", "bisect",
          "queue", "signal", "platform", "zlib", "gzip", "zipfile", "tarfile", "xml.etree.ElementTree",
          "xml.dom.minidom", "xml.sax", "hmac", "inspect", "traceback", "warnings", "abc", "types",
          "decimal", "fractions", "pprint", "shlex", "getpass", "marshal", "shelve", "email", "html",
          "configparser", "multiprocessing", "concurrent.futures", "importlib", "ast", "binascii"]
# Names that exist only on other platforms, so a table built on Linux does not flag them.
extra = {
    "os": ["startfile", "O_BINARY", "O_TEXT", "O_NOINHERIT", "O_SHORT_LIVED", "O_TEMPORARY",
           "O_RANDOM", "O_SEQUENTIAL", "add_dll_directory", "get_handle_inheritable",
           "set_handle_inheritable", "P_DETACH", "P_OVERLAY", "chflags", "lchflags", "lchmod"],
    "sys": ["getwindowsversion", "winver", "dllhandle", "_enablelegacywindowsfsencoding"],
    "signal": ["CTRL_C_EVENT", "CTRL_BREAK_EVENT", "SIGBREAK"],
    "time": ["tzset"],
    # Added in Python 3.12-3.14: a user on a newer Python must not be told they do not exist.
    "itertools": ["batched"],
    "math": ["sumprod", "fma"],
    "random": ["binomialvariate"],
    "os": ["process_cpu_count", "unshare", "setns", "grantpt", "unlockpt", "ptsname", "posix_openpt",
           "timerfd_create", "timerfd_settime", "timerfd_gettime", "readinto"],
    "os.path": ["splitroot", "isreserved", "isjunction", "isdevdrive"],
    "typing": ["override", "TypeAliasType", "ReadOnly", "TypeIs", "NoDefault", "get_protocol_members",
               "is_protocol", "evaluate_forward_ref"],
    "sys": ["monitoring", "_is_gil_enabled", "activate_stack_trampoline", "deactivate_stack_trampoline",
            "is_stack_trampoline_active", "last_exc", "getunicodeinternedsize", "_is_interned"],
    "logging": ["getHandlerByName", "getHandlerNames"],
    "statistics": ["kde", "kde_random"],
    "base64": ["z85encode", "z85decode"],
    "warnings": ["deprecated"],
    "copy": ["replace"],
    "asyncio": ["eager_task_factory", "create_eager_task_factory", "QueueShutDown"],
    "queue": ["ShutDown"],
    "inspect": ["markcoroutinefunction", "BufferFlags"],
    "collections.abc": ["Buffer"],
    "types": ["get_original_bases", "CapsuleType"],
    "uuid": ["uuid6", "uuid7", "uuid8", "NIL", "MAX"],
    "shutil": [],
    "pathlib": ["UnsupportedOperation"],
    "sqlite3": ["SQLITE_DBCONFIG_DEFENSIVE"],
    "tempfile": [],
    "datetime": ["UTC"],
    "json": [],
    "threading": ["setprofile_all_threads", "settrace_all_threads", "gettrace", "getprofile"],
    "unittest": ["enterModuleContext"],
    "dataclasses": [],
    "enum": ["EnumDict"],
    "gzip": [],
    "zipfile": [],
    "tarfile": ["data_filter", "tar_filter", "fully_trusted_filter", "FilterError"],
}
symbols = {}
for t in tables:
    try:
        mod = importlib.import_module(t)
    except Exception as e:
        print("skip", t, e, file=sys.stderr)
        continue
    names = set(dir(mod)) | set(extra.get(t, []))
    for s in subs:
        if s.startswith(t + ".") and "." not in s[len(t) + 1:]:
            names.add(s[len(t) + 1:])
    symbols[t] = sorted(names)
out = {
    "generated_by": "python %s (crates/checks/data/gen_stdlib.py)" % sys.version.split()[0],
    "modules": mods,
    "submodules": sorted(subs),
    "symbols": symbols,
}
json.dump(out, open(sys.argv[1], "w"), indent=0, sort_keys=True)
