"""The Python back end: a checked file becomes a standalone, readable NumPy-only module.

The module carries the language's runtime (a verbatim copy of `ops.py`) and one function per
program, `f(texts, ids=None, special=None) -> numpy.ndarray`, whose docstring is the program's
text and its plain-English gloss. It defines the fixed interface `PROGRAMS` (name to function)
and `HEADS` ((layer, head) to program name).
"""

from __future__ import annotations

import ast as _pyast
import builtins
import keyword
import textwrap
from importlib.resources import files
from pathlib import Path

from . import nodes as n
from .checker import RUNNABLE, Checker, Type
from .gloss import gloss
from .holes import require_filled
from .printer import show
from .program import LoadedFile, Program

HEADER = '"""Head programs emitted by headcode from'  # how every emitted module begins


def is_emitted(path: str | Path) -> bool:
    """Whether the file at `path` is a module `emit` wrote (and so may be replaced)."""
    try:
        with open(path, encoding="utf-8") as f:
            return f.read(len(HEADER)) == HEADER
    except (OSError, UnicodeDecodeError):
        return False


def runtime_source() -> str:
    """The source of `ops.py`, the runtime every emitted module carries."""
    return (files("headcode.dsl") / "ops.py").read_text(encoding="utf-8")


def _runtime_names(source: str) -> set[str]:
    tree = _pyast.parse(source)
    names = set()
    for node in tree.body:
        if isinstance(node, (_pyast.FunctionDef, _pyast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, _pyast.Assign):
            names.update(t.id for t in node.targets if isinstance(t, _pyast.Name))
        elif isinstance(node, (_pyast.Import, _pyast.ImportFrom)):
            names.update((a.asname or a.name).split(".")[0] for a in node.names)
    return names


_NESTING = 40  # bracket levels an emitted expression may reach before a part is hoisted


class _Emitter:
    """Generates the body of each program function from its syntax tree."""

    def __init__(self, types: dict[str, Type], taken: set[str]):
        self.types = types
        self.taken = set(taken)
        self.public: dict[str, str] = {}
        self.values: dict[str, str] = {}
        self.lines: list[str] = []

    def name(self, wanted: str) -> str:
        """A fresh Python name, clear of keywords, builtins, the runtime and earlier names."""
        name, k = wanted, 2
        while name in self.taken:
            name, k = f"{wanted}_{k}", k + 1
        self.taken.add(name)
        return name

    def function_name(self, name: str) -> str:
        if name not in self.public:
            self.public[name] = self.name(name if not name.startswith("_") else "p" + name)
        return self.public[name]

    def value_name(self, name: str) -> str:
        if name not in self.values:
            self.values[name] = self.name(f"_{name}")
        return self.values[name]

    def pattern(self, node: n.Node) -> str:
        """Code for `node` in a pattern position (a selector becomes uniform over its keys)."""
        code = self.code(node)
        if Checker(self.types).infer(node) is Type.PAT:
            return code
        return self._hoisted(f"uniform(f, {code})")

    def take_lines(self) -> list[str]:
        """The assignments of parts hoisted out of the expressions emitted since last asked."""
        lines, self.lines = self.lines, []
        return lines

    def _hoisted(self, code: str) -> str:
        """`code`, or a local name assigned it when its brackets nest too deeply for Python's
        parser (at most 200 levels): deep programs become a few assignments."""
        level = deepest = 0
        for char in code:
            level += (char in "([{") - (char in ")]}")
            deepest = max(deepest, level)
        if deepest <= _NESTING:
            return code
        name = self.name("_part")
        self.lines.append(f"{name} = {code}")
        return name

    def code(self, node: n.Node) -> str:
        """Python code for `node` (a predicate or selector: a boolean matrix)."""
        return self._hoisted(self._code(node))

    def _code(self, node: n.Node) -> str:  # noqa: C901 - one case per construct reads best
        c = self.code
        match node:
            case n.Num(value=value) | n.Str(value=value):
                return repr(value)
            case n.Feature(side=side, name=name):
                return f"{'key' if side == 'k' else 'query'}(f, {name!r})"
            case n.Compare(op=op, left=left, right=right):
                return f"compare({c(left)}, {op!r}, {c(right)})"
            case n.Member(value=value, options=options):
                return f"is_in({c(value)}, [{', '.join(repr(o.value) for o in options)}])"
            case n.Not(operand=operand):
                return f"~{c(operand)}"
            case n.And(left=left, right=right):
                return f"({c(left)} & {c(right)})"
            case n.Or(left=left, right=right):
                return f"({c(left)} | {c(right)})"
            case n.Self():
                return "self_(f)"
            case n.First():
                return "first(f)"
            case n.Causal():
                return "causal(f)"
            case n.Prev(n=k):
                return f"prev(f, {c(k)})"
            case n.Window(a=a, b=b):
                return f"window(f, {c(a)}, {c(b)})"
            case n.Keys(pred=pred):
                return f"keys(f, {c(pred)})"
            case n.Same(feature=name):
                return f"same(f, {name!r})"
            case n.Last(pred=pred, n=k):
                return f"last(f, {c(pred)})" if k is None else f"last(f, {c(pred)}, {c(k)})"
            case n.Shift(sel=sel, n=k):
                return f"shift(f, {c(sel)}, {c(k)})"
            case n.Start(unit=unit):
                return f"start(f, {unit!r})"
            case n.SetOp(op="-", left=left, right=right):
                return f"({c(left)} & ~{c(right)})"
            case n.SetOp(op=op, left=left, right=right):
                return f"({c(left)} {op} {c(right)})"
            case n.Decay(sel=sel, rate=rate):
                return f"decay(f, {c(sel)}, {c(rate)})"
            case n.Mix(items=items):
                parts = ", ".join(f"({c(w)}, {self.pattern(p)})" for w, p in items)
                return f"mix(f, [{parts}])"
            case n.Fallback(first=first, second=second):
                return f"fallback(f, {self.pattern(first)}, {self.pattern(second)})"
            case n.Choose(cond=cond, then=then, else_=else_):
                return (f"choose(f, {c(cond)}, {self.pattern(then)}, "
                        f"{self.pattern(else_)})")
            case n.Softmax(terms=terms):
                parts = ", ".join(
                    f"({c(t.coef)}, " + ("'dist'" if t.indicator is None
                                          else f"keys(f, {c(t.indicator)})") + ")"
                    for t in terms
                )
                return f"softmax(f, [{parts}])"
            case n.Ref(name=name):
                return f"{self.value_name(name)}(f)"
            case n.Hole():
                require_filled(node)
        raise TypeError(f"cannot emit {node!r}")


def _reserved(runtime: str) -> set[str]:
    """Names an emitted function may not take: the runtime's, Python's and the interface's."""
    return (_runtime_names(runtime) | set(keyword.kwlist) | set(dir(builtins))
            | {"PROGRAMS", "HEADS", "f", "texts", "ids", "special"})


def emit_function(program: Program, name: str = "program", label: str | None = None) -> str:
    """One program's function, `NAME(texts, ids=None, special=None) -> numpy.ndarray`, its
    references inlined; it runs beside the runtime (`runtime_source()`). `label` starts its
    docstring (default: the program's label)."""
    em = _Emitter({}, _reserved(runtime_source()))
    fn = em.function_name(name)
    expr = program.closed
    n.depth(expr)
    require_filled(expr)
    body = em.pattern(expr)
    return "\n".join(_public_function(fn, label or program.label, show(expr), gloss(expr), body,
                                       em.take_lines())[2:]) + "\n"


def emit(loaded: LoadedFile, source_name: str = "programs") -> str:
    """The emitted module's source text for a checked file."""
    runtime = runtime_source()
    em = _Emitter(dict(loaded.checked.types), _reserved(runtime))
    pf = loaded.checked.file
    for definition in [*pf.definitions.values(), *pf.assignments]:
        require_filled(definition.expr)
    for name in pf.definitions:  # public names first, so they keep the programs' own names
        if loaded.checked.types[name] in RUNNABLE:
            em.function_name(name)
    out = [
        f"{HEADER} {source_name}.",
        "",
        "Standalone: needs only NumPy. Each program maps a token sequence to an attention matrix:",
        "    f(texts, ids=None, special=None) -> numpy.ndarray  (n x n, causal, rows sum to 1)",
        "`texts` are the tokens' texts (leading-space marker turned into a space), `ids` their ids",
        "(needed only by programs that use `id`), `special` marks special tokens such as BOS.",
        "PROGRAMS maps each program name to its function; HEADS maps (layer, head) to a name.",
        '"""',
        "",
        "# " + "-" * 62 + " the language's runtime",
        _strip_docstring(runtime).strip(),
        "",
        "",
        "# " + "-" * 62 + " programs",
    ]
    programs: dict[str, str] = {}
    defs = loaded.definitions
    for name, definition in pf.definitions.items():
        code = em.code(definition.expr)
        out += ["", "", f"def {em.value_name(name)}(f):",
                *(f"    {line}" for line in em.take_lines()), f"    return {code}"]
        if loaded.checked.types[name] in RUNNABLE:
            programs[name] = em.function_name(name)
            out += _public_function(em.function_name(name), name, show(definition.expr),
                                    gloss(definition.expr, defs), em.pattern(n.Ref(name)),
                                    em.take_lines())
    heads: dict[tuple[int, int], str] = {}
    for a in pf.assignments:
        if isinstance(a.expr, n.Ref):
            heads[(a.layer, a.head)] = a.expr.name
            continue
        name = f"head_{a.layer}_{a.head}"
        while name in pf.definitions or name in programs:
            name += "_"
        programs[name] = em.function_name(name)
        heads[(a.layer, a.head)] = name
        body = em.pattern(a.expr)
        out += _public_function(programs[name], f"head {a.layer}.{a.head}", show(a.expr),
                                gloss(a.expr, defs), body, em.take_lines())
    out += ["", "", "PROGRAMS = {"]
    out += [f"    {name!r}: {fn}," for name, fn in programs.items()]
    out += ["}", "", "HEADS = {"]
    out += [f"    ({layer}, {head}): {name!r}," for (layer, head), name in heads.items()]
    out += ["}", ""]
    return "\n".join(out)


def _docstring_text(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"""', '\\"\\"\\"')


def _public_function(fn: str, label: str, text: str, english: str, body: str,
                     lines: list[str] | None = None) -> list[str]:
    """The public function's lines; its docstring is the program, then its gloss."""
    doc = _docstring_text(f"{label} = {text}")
    wrapped = textwrap.wrap(_docstring_text(english), 92, break_long_words=False,
                            break_on_hyphens=False)
    return [
        "", "",
        f"def {fn}(texts, ids=None, special=None):",
        f'    """{doc}',
        "",
        *(f"    {line}" for line in wrapped),
        '    """',
        "    f = features(texts, ids, special)",
        *(f"    {line}" for line in lines or []),
        f"    return matrix({body})",
    ]


def _strip_docstring(source: str) -> str:
    """The runtime without its module docstring (the emitted module has its own)."""
    tree = _pyast.parse(source)
    first = tree.body[0]
    if isinstance(first, _pyast.Expr) and isinstance(getattr(first, "value", None),
                                                      _pyast.Constant):
        lines = source.splitlines()
        return "\n".join(lines[first.end_lineno:])
    return source
