"""What blocks the thread that calls it, by qualified name: the knowledge behind AL504.

Shared by the rule (libcst, the linted file) and the project index's per-module summaries
(``ast``, other modules of the project), so both agree on what a blocking call is.

Each entry says how the call may be fixed at a coroutine's own call site:
``SLEEP`` (``await asyncio.sleep``), ``THREAD`` (``await asyncio.to_thread(f, ...)``) or
``NONE`` (the value is an iterator, a file or a response whose later use blocks too, or an
object bound to the thread that created it: offloading the call alone would not help).
"""

from __future__ import annotations

import re

SLEEP, THREAD, NONE = "sleep", "thread", "none"

_HTTP_VERBS = ("get", "post", "put", "patch", "delete", "head", "options", "request")

FUNCTIONS: dict[str, str] = {
    "time.sleep": SLEEP,
    "builtins.open": NONE,
    "io.open": NONE,
    "builtins.input": THREAD,
    "urllib.request.urlopen": NONE,  # the response it returns blocks on read() too
    "urllib.request.urlretrieve": THREAD,
    "urllib3.request": THREAD,
    "subprocess.run": THREAD,
    "subprocess.call": THREAD,
    "subprocess.check_call": THREAD,
    "subprocess.check_output": THREAD,
    "subprocess.getoutput": THREAD,
    "subprocess.getstatusoutput": THREAD,
    "os.system": THREAD,
    "os.wait": THREAD,
    "os.waitpid": THREAD,
    "socket.gethostbyname": THREAD,
    "socket.gethostbyname_ex": THREAD,
    "socket.gethostbyaddr": THREAD,
    "socket.getaddrinfo": THREAD,
    "socket.getnameinfo": THREAD,
    "socket.getfqdn": THREAD,
    "socket.create_connection": THREAD,
    "concurrent.futures.wait": THREAD,
    "concurrent.futures.as_completed": NONE,
    "os.scandir": NONE,
    "os.walk": NONE,
    # Synchronous database drivers: connecting is a network round trip (or a file open).
    "sqlite3.connect": NONE,  # a connection refuses use from another thread than its creator
    "psycopg2.connect": THREAD,
    "psycopg.connect": THREAD,
    "psycopg.Connection.connect": THREAD,
    "pymysql.connect": THREAD,
    "MySQLdb.connect": THREAD,
    "mysql.connector.connect": THREAD,
    "pymssql.connect": THREAD,
    "pyodbc.connect": THREAD,
    "cx_Oracle.connect": THREAD,
    "oracledb.connect": THREAD,
}
for _verb in _HTTP_VERBS:
    FUNCTIONS[f"requests.{_verb}"] = THREAD
    FUNCTIONS[f"requests.api.{_verb}"] = THREAD
    FUNCTIONS[f"httpx.{_verb}"] = THREAD
FUNCTIONS["httpx.stream"] = NONE  # a context manager: the request is made on entry
for _name in (
    "remove", "unlink", "rename", "renames", "replace", "mkdir", "makedirs", "rmdir",
    "removedirs", "listdir", "chmod", "chown", "link", "symlink", "truncate", "utime",
):
    FUNCTIONS[f"os.{_name}"] = THREAD
for _name in (
    "copy", "copy2", "copyfile", "copytree", "copymode", "copystat", "copyfileobj", "rmtree",
    "move", "make_archive", "unpack_archive", "disk_usage", "chown",
):
    FUNCTIONS[f"shutil.{_name}"] = THREAD

# Methods that block, by what their receiver was built from.
METHODS: dict[str, tuple[frozenset[str], str]] = {
    "requests.Session": (frozenset({*_HTTP_VERBS, "send"}), THREAD),
    "requests.sessions.Session": (frozenset({*_HTTP_VERBS, "send"}), THREAD),
    "httpx.Client": (frozenset({*_HTTP_VERBS, "send"}), THREAD),
    "urllib3.PoolManager": (frozenset({"request", "urlopen"}), THREAD),
    "urllib3.HTTPConnectionPool": (frozenset({"request", "urlopen"}), THREAD),
    "urllib3.HTTPSConnectionPool": (frozenset({"request", "urlopen"}), THREAD),
    "threading.Lock": (frozenset({"acquire"}), THREAD),
    "threading.RLock": (frozenset({"acquire"}), NONE),  # only the acquiring thread may release
    "threading.Semaphore": (frozenset({"acquire"}), THREAD),
    "threading.BoundedSemaphore": (frozenset({"acquire"}), THREAD),
    "pathlib.Path": (frozenset({"read_text", "read_bytes", "write_text", "write_bytes"}), THREAD),
    "pathlib.PosixPath": (frozenset({"read_text", "read_bytes", "write_text", "write_bytes"}), THREAD),
    "pathlib.WindowsPath": (frozenset({"read_text", "read_bytes", "write_text", "write_bytes"}), THREAD),
    "concurrent.futures.Future": (frozenset({"result", "exception"}), THREAD),
}
# Futures count only when made by a submission (FUTURE_MAKERS, ``executor.submit``): a
# ``Future()`` built by the code itself is usually awaited (through an event or a callback)
# before its ``result()`` is read.
FUTURE_CLASSES = frozenset({"concurrent.futures.Future"})
PATH_CLASSES = frozenset({"pathlib.Path", "pathlib.PosixPath", "pathlib.WindowsPath"})
# Path methods and properties that return another path of the same kind.
PATH_DERIVERS = frozenset(
    {"parent", "with_name", "with_suffix", "with_stem", "joinpath", "resolve", "absolute", "expanduser"}
)
EXECUTORS = frozenset(
    {
        "concurrent.futures.ThreadPoolExecutor", "concurrent.futures.thread.ThreadPoolExecutor",
        "concurrent.futures.ProcessPoolExecutor", "concurrent.futures.process.ProcessPoolExecutor",
    }
)
# Calls that return a concurrent.futures.Future.
FUTURE_MAKERS = frozenset({"asyncio.run_coroutine_threadsafe", "asyncio.tasks.run_coroutine_threadsafe"})
# Calls that run their callable argument elsewhere: what they are given is not called here.
OFFLOADERS = frozenset({"asyncio.to_thread", "asyncio.threads.to_thread"})

# The pre-filter (bytes, before parsing): an import of a module whose functions block, a call
# of the builtins `open`/`input`, or a relative import (a way into another project module).
PREFILTER = re.compile(
    rb"^[ \t]*(?:import|from)[ \t]+(?:time|requests|httpx|urllib3?|subprocess|os|shutil|socket|sqlite3|"
    rb"psycopg2?|pymysql|MySQLdb|mysql|pymssql|pyodbc|cx_Oracle|oracledb|pathlib|threading|concurrent)\b"
    rb"|^[ \t]*from[ \t]+\."
    rb"|\b(?:open|input)\(",
    re.MULTILINE,
)


def blocking_function(qualified: str) -> str | None:
    """The fix kind of a blocking module-level function, or None if it does not block."""
    return FUNCTIONS.get(qualified)


def display(qualified: str) -> str:
    return qualified.removeprefix("builtins.").replace("requests.api.", "requests.")


def lock_call_is_nonblocking(args: list[tuple[str | None, str]]) -> bool:
    """``acquire(False)``, ``acquire(blocking=False)``, ``acquire(timeout=0)``: returns at once."""
    for keyword, value in args:
        if keyword in (None, "blocking") and value == "False":
            return True
        if keyword == "timeout" and value in ("0", "0.0"):
            return True
    return False
