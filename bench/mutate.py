"""A small mutation tester for the money modules: does the test suite notice when the code is subtly wrong?

    .venv/bin/python bench/mutate.py [--modules PATH[:FUNC,...] ...] [--tests PYTEST_ARGS] [--max-mutants N]
                                     [--operators NAME,...] [--seed S] [--timeout SECONDS] [--list]

Each module is parsed with ``ast``; every place where one of the operators below applies is one mutant. A mutant
is written into the module's file (the original text with one node's source replaced), the tests run once
(``pytest -x -q -p no:cacheprovider`` in a fresh process; each mutant gets an mtime of its own, so no stale .pyc
is used), and the original bytes and modification time are put back: in a ``finally`` after every mutant, and
on Ctrl-C or SIGTERM. Before the first write the original is copied to ``bench/.mutate-backup/PATH.orig``; a later run
that finds a copy there (the runner was killed hard) puts it back first. Decorators and annotations are left
alone. While a run is going on the worktree holds a mutant: run nothing else in it, and commit nothing.

A mutant is *killed* when pytest fails (exit status 1, or 2 for an import or collection error), *survives* when
the tests still pass, and *times out* past ``--timeout`` (default: three times the unmutated run, plus 30 s).
``--max-mutants N`` samples at most N mutants per module (seeded, so a run can be repeated); ``--list`` prints
the mutants and runs nothing; ``--match TEXT`` keeps the mutants whose label (``path:line [operator] …``) contains
it, e.g. to re-run the survivors of a sample. ``PATH:FUNC,...`` limits a module to the named top-level functions.
A line that ends with ``# pragma: no mutate`` is left alone.

Operators (``--operators`` takes a comma-separated subset):

- ``compare``: ``<`` ↔ ``<=``, ``>`` ↔ ``>=``, ``==`` ↔ ``!=``, ``is`` ↔ ``is not``, ``in`` ↔ ``not in``
- ``arith``: ``+`` ↔ ``-``, ``*`` ↔ ``/``, ``//`` → ``/``, ``+=`` ↔ ``-=``, unary ``-x`` → ``x``
- ``boolop``: ``and`` ↔ ``or``
- ``if``: ``if c:`` → ``if not (c):`` (also ``elif`` and conditional expressions)
- ``rounding``: ``ROUND_HALF_UP`` → ``ROUND_HALF_EVEN``, ``ROUND_FLOOR`` ↔ ``ROUND_CEILING``, ``ROUND_DOWN`` ↔
  ``ROUND_UP``, ``ROUND_HALF_EVEN`` → ``ROUND_HALF_UP`` (as the ``decimal`` module's string values)
- ``bool``: ``True`` ↔ ``False``
- ``int``: an integer constant ``n`` → ``n + 1`` (not in slices)
- ``minmax``: ``min(…)`` ↔ ``max(…)``
- ``lock``: ``x.select_for_update(…)`` → ``x`` (observable only on PostgreSQL: set ``DATABASE_URL``)
- ``order``: ``order_by("f")`` ↔ ``order_by("-f")``
- ``lookup``: ``field__gte=`` ↔ ``field__gt=``, ``field__lte=`` ↔ ``field__lt=`` in keyword arguments
- ``remove``: a call statement, ``raise`` or augmented assignment → ``pass``

Not in CI: ``make mutate`` runs it with the defaults (the figures are in bench/README.md).
"""

from __future__ import annotations

import argparse
import ast
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BACKUP_DIR = ROOT / "bench" / ".mutate-backup"

DEFAULT_MODULES = [
    "members/services/ledger.py",
    "members/services/purchases.py",
    "members/calculators.py",
    "rewards/services.py:reward_redeem,_redeem_entry,_redemption_refund,_voucher_issue,voucher_cancel,redemption_cancel",
]
DEFAULT_TESTS = "tests/members tests/rewards"
# Every module gets the whole of tests/members and tests/rewards, in an order that makes a killed mutant cheap (with
# -x the first failure ends the run): the most pointed files first, the slow ones (admin pages, the stateful
# machines, the threaded concurrency tests) last. A folder stands for its test files not named before it, in name
# order; pytest itself would collect a folder's files in name order even after files named on their own.
_SLOW_LAST = "tests/members/test_admin.py tests/members/test_ledger_stateful.py tests/members/test_concurrency.py"
_MEMBERS = (
    "tests/members/test_money_refunds.py tests/members/test_money_boundaries.py tests/members/test_money_edges.py"
    " tests/members/test_ledger_balances.py tests/members/test_months.py tests/members/test_ledger.py"
    " tests/members/test_earning.py tests/members/test_batch.py"
)
MODULE_TESTS = {
    "members/services/ledger.py": f"{_MEMBERS} {_SLOW_LAST} tests/members tests/rewards",
    "members/services/purchases.py": f"{_MEMBERS} {_SLOW_LAST} tests/members tests/rewards",
    "members/calculators.py": f"{_MEMBERS} {_SLOW_LAST} tests/members tests/rewards",
    "rewards/services.py": f"tests/rewards/test_money_redeem.py tests/rewards {_MEMBERS} {_SLOW_LAST} tests/members",
}
OPERATORS = (
    *("compare", "arith", "boolop", "if", "rounding", "bool", "int"),
    *("minmax", "lock", "order", "lookup", "remove"),
)

COMPARE = {
    ast.Lt: ast.LtE,
    ast.LtE: ast.Lt,
    ast.Gt: ast.GtE,
    ast.GtE: ast.Gt,
    ast.Eq: ast.NotEq,
    ast.NotEq: ast.Eq,
    ast.Is: ast.IsNot,
    ast.IsNot: ast.Is,
    ast.In: ast.NotIn,
    ast.NotIn: ast.In,
}
BINARY = {ast.Add: ast.Sub, ast.Sub: ast.Add, ast.Mult: ast.Div, ast.Div: ast.Mult, ast.FloorDiv: ast.Div}
ROUNDING = {
    "ROUND_HALF_UP": "ROUND_HALF_EVEN",
    "ROUND_HALF_EVEN": "ROUND_HALF_UP",
    "ROUND_FLOOR": "ROUND_CEILING",
    "ROUND_CEILING": "ROUND_FLOOR",
    "ROUND_DOWN": "ROUND_UP",
    "ROUND_UP": "ROUND_DOWN",
}
LOOKUPS = {"__gte": "__gt", "__gt": "__gte", "__lte": "__lt", "__lt": "__lte"}
SYMBOLS = {
    ast.Lt: "<",
    ast.LtE: "<=",
    ast.Gt: ">",
    ast.GtE: ">=",
    ast.Eq: "==",
    ast.NotEq: "!=",
    ast.Is: "is",
    ast.IsNot: "is not",
    ast.In: "in",
    ast.NotIn: "not in",
    ast.Add: "+",
    ast.Sub: "-",
    ast.Mult: "*",
    ast.Div: "/",
    ast.FloorDiv: "//",
    ast.And: "and",
    ast.Or: "or",
}


@dataclass
class Mutant:
    module: str  # path relative to ROOT
    operator: str
    line: int
    col: int
    end_line: int
    end_col: int
    replacement: str
    description: str
    function: str

    @property
    def label(self) -> str:
        return f"{self.module}:{self.line} [{self.operator}] {self.description} (in {self.function})"


# --- finding mutants ---------------------------------------------------------------------------------------------


def _parents(tree: ast.AST) -> dict[ast.AST, ast.AST]:
    return {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}


def _in_slice(node: ast.AST, parents: dict) -> bool:
    while node in parents:
        parent = parents[node]
        if isinstance(parent, ast.Slice) or (isinstance(parent, ast.Subscript) and parent.slice is node):
            return True
        node = parent
    return False


def _candidates(node: ast.AST, parents: dict, source: str):
    """(operator, node whose source is replaced, replacement text, description) for every mutation of ``node``."""
    segment = ast.get_source_segment(source, node) or ""
    if isinstance(node, ast.Compare):
        for index, op in enumerate(node.ops):
            if type(op) in COMPARE:
                new = COMPARE[type(op)]()
                copy = _copy(node)
                copy.ops[index] = new
                yield "compare", node, ast.unparse(copy), f"{SYMBOLS[type(op)]} → {SYMBOLS[type(new)]}"
    elif isinstance(node, ast.BinOp) and type(node.op) in BINARY:
        new = BINARY[type(node.op)]()
        copy = _copy(node)
        copy.op = new
        yield "arith", node, ast.unparse(copy), f"{SYMBOLS[type(node.op)]} → {SYMBOLS[type(new)]}"
    elif isinstance(node, ast.AugAssign) and type(node.op) in (ast.Add, ast.Sub):
        new = BINARY[type(node.op)]()
        copy = _copy(node)
        copy.op = new
        yield "arith", node, ast.unparse(copy), f"{SYMBOLS[type(node.op)]}= → {SYMBOLS[type(new)]}="
        yield "remove", node, "pass", f"drop `{_short(segment)}`"
    elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub) and not isinstance(node.operand, ast.Constant):
        yield "arith", node, f"({ast.unparse(node.operand)})", f"-{_short(ast.unparse(node.operand))} → drop the minus"
    elif isinstance(node, ast.BoolOp):
        new = ast.Or() if isinstance(node.op, ast.And) else ast.And()
        copy = _copy(node)
        copy.op = new
        yield "boolop", node, f"({ast.unparse(copy)})", f"{SYMBOLS[type(node.op)]} → {SYMBOLS[type(new)]}"
    elif isinstance(node, ast.If | ast.IfExp | ast.While):
        test = node.test
        yield "if", test, f"not ({ast.unparse(test)})", f"negate `{_short(ast.unparse(test))}`"
    elif isinstance(node, ast.Name) and node.id in ROUNDING and isinstance(node.ctx, ast.Load):
        yield "rounding", node, repr(ROUNDING[node.id]), f"{node.id} → {ROUNDING[node.id]}"
    elif isinstance(node, ast.Constant) and isinstance(node.value, bool):
        yield "bool", node, repr(not node.value), f"{node.value} → {not node.value}"
    elif isinstance(node, ast.Constant) and type(node.value) is int and not _in_slice(node, parents):
        yield "int", node, repr(node.value + 1), f"{node.value} → {node.value + 1}"
    elif isinstance(node, ast.Call):
        func = node.func
        if isinstance(func, ast.Name) and func.id in ("min", "max"):
            other = "max" if func.id == "min" else "min"
            yield "minmax", func, other, f"{func.id}() → {other}()"
        if isinstance(func, ast.Attribute) and func.attr == "select_for_update":
            yield "lock", node, ast.unparse(func.value), "drop select_for_update()"
        if isinstance(func, ast.Attribute) and func.attr == "order_by":
            for arg in node.args:
                if isinstance(arg, ast.Constant) and isinstance(arg.value, str) and arg.value:
                    flipped = arg.value[1:] if arg.value.startswith("-") else f"-{arg.value}"
                    yield "order", arg, repr(flipped), f'order_by("{arg.value}") → order_by("{flipped}")'
        for keyword in node.keywords:
            if keyword.arg is None:
                continue
            for suffix, new_suffix in LOOKUPS.items():
                if keyword.arg.endswith(suffix):
                    new_name = keyword.arg[: -len(suffix)] + new_suffix
                    copy = _copy(node)
                    next(k for k in copy.keywords if k.arg == keyword.arg).arg = new_name
                    yield "lookup", node, ast.unparse(copy), f"{keyword.arg}= → {new_name}="
                    break
    if (isinstance(node, ast.Expr) and isinstance(node.value, ast.Call)) or isinstance(node, ast.Raise):
        yield "remove", node, "pass", f"drop `{_short(segment)}`"


def _copy(node: ast.AST) -> ast.AST:
    return ast.parse(ast.unparse(node), mode="exec").body[0] if isinstance(node, ast.stmt) else _expr_copy(node)


def _expr_copy(node: ast.AST) -> ast.AST:
    return ast.parse(f"({ast.unparse(node)})", mode="eval").body


def _short(text: str, width: int = 60) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def mutants_for(spec: str, operators: set[str]) -> list[Mutant]:
    path, _, names = spec.partition(":")
    wanted = {name for name in names.split(",") if name}
    source = (ROOT / path).read_text()
    lines = source.splitlines()
    tree = ast.parse(source)
    parents = _parents(tree)
    scopes = []  # (start, end, name) of top-level functions and methods
    for node in tree.body:
        if isinstance(node, ast.FunctionDef):
            scopes.append((node.lineno, node.end_lineno, node.name))
        elif isinstance(node, ast.ClassDef):
            for item in node.body:
                if isinstance(item, ast.FunctionDef):
                    scopes.append((item.lineno, item.end_lineno, f"{node.name}.{item.name}"))
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef) and node.body
        if isinstance(node.body[0], ast.Expr) and isinstance(node.body[0].value, ast.Constant)
    }
    found: list[Mutant] = []
    seen = set()
    for node in ast.walk(tree):
        if not hasattr(node, "lineno") or id(node) in docstrings:
            continue
        if _in_annotation(node, parents) or _in_decorator(node, parents):
            continue
        scope = next((name for start, end, name in scopes if start <= node.lineno <= end), "<module>")
        top = scope.split(".")[-1] if "." not in scope else scope.split(".")[0]
        if wanted and scope not in wanted and top not in wanted:
            continue
        for operator, target, replacement, description in _candidates(node, parents, source):
            if operator not in operators or lines[target.lineno - 1].rstrip().endswith("# pragma: no mutate"):
                continue
            key = (target.lineno, target.col_offset, target.end_lineno, target.end_col_offset, replacement)
            if key in seen:
                continue
            seen.add(key)
            found.append(
                Mutant(
                    path,
                    operator,
                    target.lineno,
                    target.col_offset,
                    target.end_lineno,
                    target.end_col_offset,
                    replacement,
                    description,
                    scope,
                )
            )
    found.sort(key=lambda m: (m.line, m.col, m.operator, m.replacement))
    return found


def _in_annotation(node: ast.AST, parents: dict) -> bool:
    while node in parents:
        parent = parents[node]
        if isinstance(parent, ast.arg | ast.AnnAssign) and getattr(parent, "annotation", None) is node:
            return True
        if isinstance(parent, ast.FunctionDef) and parent.returns is node:
            return True
        node = parent
    return False


def _in_decorator(node: ast.AST, parents: dict) -> bool:
    while node in parents:
        parent = parents[node]
        if isinstance(parent, ast.FunctionDef | ast.ClassDef) and node in parent.decorator_list:
            return True
        node = parent
    return False


def mutated_source(source: str, mutant: Mutant) -> str:
    """``source`` with the mutant's node replaced; the result must still parse."""
    lines = source.splitlines(keepends=True)
    offsets = [0]
    for line in lines:
        offsets.append(offsets[-1] + len(line))

    def position(line: int, col: int) -> int:
        # ast column offsets count UTF-8 bytes.
        text = lines[line - 1].encode()[:col].decode()
        return offsets[line - 1] + len(text)

    start, end = position(mutant.line, mutant.col), position(mutant.end_line, mutant.end_col)
    result = source[:start] + mutant.replacement + source[end:]
    ast.parse(result)
    return result


# --- running -----------------------------------------------------------------------------------------------------


def _backup(path: str) -> Path:
    # Not a .py file, so neither ruff nor pytest picks the copy up while a run is going on.
    return BACKUP_DIR / f"{path}.orig"


class Workspace:
    """Writes mutants into the real files and always puts the originals back."""

    def __init__(self, paths: list[str]):
        self.originals: dict[str, tuple[bytes, int]] = {}
        self.written = 0
        BACKUP_DIR.mkdir(parents=True, exist_ok=True)
        for path in paths:
            target, backup = ROOT / path, _backup(path)
            if backup.exists() and target.read_bytes() != backup.read_bytes():
                print(f"restoring {path} from {backup} (an earlier run was interrupted)", file=sys.stderr)
                shutil.copy2(backup, target)
            backup.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(target, backup)
            self.originals[path] = (target.read_bytes(), target.stat().st_mtime_ns)

    def write(self, path: str, text: str) -> None:
        target = ROOT / path
        if target.read_bytes() != self.originals[path][0]:
            raise RuntimeError(f"{path} changed under the runner; stopping")
        target.write_text(text)
        # A cached .pyc is trusted when the source's size and whole-second mtime match it; two mutants of the same
        # size written within a second would otherwise share one. Each mutant gets an mtime of its own.
        self.written += 1
        mtime = self.originals[path][1] - self.written * 1_000_000_000
        os.utime(target, ns=(mtime, mtime))

    def restore(self, path: str) -> None:
        data, mtime = self.originals[path]
        target = ROOT / path
        if target.read_bytes() != data:
            target.write_bytes(data)
        os.utime(target, ns=(mtime, mtime))

    def close(self) -> None:
        for path in self.originals:
            self.restore(path)
            _backup(path).unlink(missing_ok=True)
        shutil.rmtree(BACKUP_DIR, ignore_errors=True)


def expand_tests(arguments: list[str]) -> list[str]:
    """Test arguments with every folder replaced by its ``test_*.py`` files not named before it (so the order
    given is the order run); options and ``file::test`` ids pass through."""
    result: list[str] = []
    seen: set[Path] = set()
    for argument in arguments:
        path = ROOT / argument
        if argument.startswith("-") or "::" in argument or not path.is_dir():
            if path.is_file():
                if path.resolve() in seen:
                    continue
                seen.add(path.resolve())
            result.append(argument)
            continue
        for file in sorted(path.rglob("test_*.py")):
            if file.resolve() not in seen:
                seen.add(file.resolve())
                result.append(str(file.relative_to(ROOT)))
    return result


def run_tests(python: str, tests: list[str], timeout: float | None) -> tuple[str, float, str]:
    env = dict(os.environ)
    command = [python, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", *tests]
    started = time.monotonic()
    process = subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True
    )
    try:
        output, _ = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
        return "timeout", time.monotonic() - started, ""
    except BaseException:
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
        raise
    elapsed = time.monotonic() - started
    text = output.decode(errors="replace")
    if process.returncode == 0:
        return "survived", elapsed, text
    if process.returncode in (1, 2):
        return "killed", elapsed, text
    return f"error {process.returncode}", elapsed, text


def _first_failure(output: str) -> str:
    for line in output.splitlines():
        if line.startswith(("FAILED ", "ERROR ")):
            return line.split(" - ")[0]
    return ""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--modules", nargs="+", default=DEFAULT_MODULES, help="PATH or PATH:FUNC,FUNC")
    parser.add_argument(
        "--tests", default=None, help=f"pytest arguments for every module (default: {DEFAULT_TESTS}, per-module order)"
    )
    parser.add_argument("--max-mutants", type=int, default=None, help="sample at most N mutants per module")
    parser.add_argument("--operators", default=",".join(OPERATORS), help="comma-separated subset of the operators")
    parser.add_argument(
        "--match", action="append", default=[], help="keep only mutants whose label contains this (repeatable)"
    )
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--timeout", type=float, default=None, help="seconds per mutant")
    parser.add_argument("--list", action="store_true", help="print the mutants, run nothing")
    parser.add_argument("--python", default=sys.executable)
    args = parser.parse_args(argv)

    operators = {name.strip() for name in args.operators.split(",") if name.strip()}
    unknown = operators - set(OPERATORS)
    if unknown:
        parser.error(f"unknown operators: {', '.join(sorted(unknown))}")
    by_module: dict[str, list[Mutant]] = {}
    for spec in args.modules:
        found = mutants_for(spec, operators)
        if args.match:
            found = [mutant for mutant in found if any(text in mutant.label for text in args.match)]
        total = len(found)
        if args.max_mutants is not None and total > args.max_mutants:
            found = sorted(random.Random(f"{args.seed}:{spec}").sample(found, args.max_mutants), key=_order)
        by_module[spec.partition(":")[0]] = found
        print(f"{spec.partition(':')[0]}: {total} mutants, {len(found)} selected", flush=True)
    if args.list:
        for mutants in by_module.values():
            for mutant in mutants:
                print(mutant.label)
        return 0

    tests = {
        path: expand_tests((args.tests or MODULE_TESTS.get(path, DEFAULT_TESTS)).split())
        for path in by_module
        if by_module[path]
    }
    timeouts, baselines = {}, {}
    for path, arguments in tests.items():
        if tuple(arguments) not in baselines:
            outcome, baselines[tuple(arguments)], output = run_tests(args.python, arguments, None)
            if outcome != "survived":
                print(output[-3000:])
                print(f"The unmutated tests for {path} do not pass; fix that first.", file=sys.stderr)
                return 2
        baseline = baselines[tuple(arguments)]
        timeouts[path] = args.timeout or baseline * 3 + 30
        print(f"{path}: unmutated run {baseline:.0f} s, timeout per mutant {timeouts[path]:.0f} s", flush=True)

    # A run started in the background ignores SIGINT, and SIGTERM would end it without the finally below: both
    # become KeyboardInterrupt, so the files are restored whichever way the run is stopped.
    def interrupt(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGINT, interrupt)
    signal.signal(signal.SIGTERM, interrupt)

    results: dict[str, list[tuple[Mutant, str]]] = {path: [] for path in by_module}
    workspace = Workspace(list(by_module))
    count, total = 0, sum(len(m) for m in by_module.values())
    started = time.monotonic()
    try:
        for path, mutants in by_module.items():
            original = workspace.originals[path][0].decode()
            for mutant in mutants:
                count += 1
                try:
                    workspace.write(path, mutated_source(original, mutant))
                    outcome, elapsed, output = run_tests(args.python, tests[path], timeouts[path])
                finally:
                    workspace.restore(path)
                results[path].append((mutant, outcome))
                detail = _first_failure(output) if outcome == "killed" else ""
                print(f"[{count}/{total}] {outcome:8} {elapsed:5.1f}s {mutant.label} {detail}", flush=True)
    except KeyboardInterrupt:
        print("\ninterrupted: the files are restored; partial results follow", file=sys.stderr)
    finally:
        workspace.close()
    report(results, time.monotonic() - started)
    return 0


def _order(mutant: Mutant):
    return (mutant.line, mutant.col, mutant.operator, mutant.replacement)


def report(results: dict[str, list[tuple[Mutant, str]]], elapsed: float) -> None:
    print(f"\n| module | mutants | killed | survived | timeout | error | survived % |  ({elapsed / 60:.1f} min)")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    totals = {"mutants": 0, "killed": 0, "survived": 0, "timeout": 0, "error": 0}
    for path, rows in results.items():
        counts = {
            "mutants": len(rows),
            "killed": sum(o == "killed" for _m, o in rows),
            "survived": sum(o == "survived" for _m, o in rows),
            "timeout": sum(o == "timeout" for _m, o in rows),
        }
        counts["error"] = counts["mutants"] - counts["killed"] - counts["survived"] - counts["timeout"]
        for key, value in counts.items():
            totals[key] += value
        print(_row(path, counts))
    print(_row("**all**", totals))
    detected = totals["killed"] + totals["timeout"]
    if totals["mutants"]:
        print(f"\nscore: {detected}/{totals['mutants']} detected = {100 * detected / totals['mutants']:.1f}%")
    survivors = [mutant for rows in results.values() for mutant, outcome in rows if outcome == "survived"]
    if survivors:
        print("\nsurvivors:")
        for mutant in survivors:
            print(f"- {mutant.label}")


def _row(name: str, counts: dict) -> str:
    share = 100 * counts["survived"] / counts["mutants"] if counts["mutants"] else 0
    values = " | ".join(str(counts[k]) for k in ("mutants", "killed", "survived", "timeout", "error"))
    return f"| {name} | {values} | {share:.1f}% |"


if __name__ == "__main__":
    sys.exit(main())
