"""Hugging Face ``chat_template`` strings, rendered the way transformers renders them.

This is the only module of the package that imports jinja2, and the registry imports it only when
someone registers a ``chat_template``: built-in templates never pay for jinja2.

A chat template is code from a model repository or a config file, so it runs in jinja2's
immutable sandbox (no attribute starting with ``_``, no mutation of ``messages``). Three choices go
beyond transformers, all only ever turn a would-be silent problem into an error:

- access to an unsafe attribute raises at once instead of rendering as an empty string;
- ``raise_exception(reason)`` raises PromptTemplateError with exactly ``reason``, never text in
  the prompt (LiteLLM once rendered the error text into the prompt and sent it);
- the sandbox bounds CPU and memory, not only escapes (see "Resource limits" below): a template
  such as ``{{ 'x' * 10**9 }}`` or two nested ``range(100000)`` loops raises PromptTemplateError
  naming the limit it hit, instead of taking the process down.

Resource limits
---------------
jinja2's sandbox stops escapes but lets ``'x' * 10**9``, ``10**10**9`` or
``'x'|center(10**9)`` allocate at will, and caps only ``range()``. Here every way a template can
make Python do a lot of work or build something big passes through a check first, against a
budget per render (:class:`_Budget`) whose sizes grow with the conversation, so no real prompt
comes near them:

- ``size``: no string, list or dict the template builds, and not the rendered prompt, may exceed
  ``BASE_SIZE`` plus ``SIZE_PER_INPUT_CHAR`` characters per character of the messages. A container
  counts everything it holds, expanded: ``[x, x]`` twice the size of ``x``, so repeated references
  cannot hide an exponential structure from ``str()``, ``==``, ``hash`` or ``tojson``. Widths
  (``center``, ``format``, ``'%999999s'``, ``indent``...) are checked before the work is done.
- ``work``: everything built, compared, passed to a filter or method, or written out, counted in
  characters (or items), together at most ``WORK_PER_SIZE`` times the size limit.
- ``steps``: loop iterations, calls and filter/test uses, at most ``BASE_STEPS`` plus
  ``STEPS_PER_MESSAGE`` per message.
- ``range``: one ``range()`` at most ``MAX_RANGE`` items (jinja2's own limit, with our message).
- ``integer``: no integer above ``MAX_INT_BITS`` bits (``**``, ``*``, ``+``, ``-``).

The checks sit where jinja2 lets a sandbox intervene: ``call_binop`` for ``+ - * ** %``,
``call`` for every function and method call, ``wrap_str_format`` for ``str.format``, wrapped
filters, tests and globals, ``finalize`` for every ``{{ }}``, and a code generator
(:class:`_LimitedCodeGenerator`) that counts loop iterations and routes ``~``, comparisons, dict
keys and slices through the budget.
"""

from __future__ import annotations

import functools
import inspect
import json
import re
import string
import types
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, MappingView, Sequence, Set
from contextvars import ContextVar
from datetime import datetime
from typing import Any, NoReturn, cast

import jinja2
import jinja2.ext
from jinja2 import nodes
from jinja2.compiler import CodeGenerator, Frame
from jinja2.compiler import operators as _COMPARE_OPERATORS
from jinja2.exceptions import SecurityError
from jinja2.runtime import Context, markup_join, str_join
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.utils import Namespace, generate_lorem_ipsum

from llmrouter.errors import PromptTemplateError
from llmrouter.templates.base import PromptTemplate, Renderer, check_messages

__all__ = ["build_chat_template"]


class _TemplateRaised(jinja2.TemplateError):
    """Raised by the template's own ``raise_exception``; carries its reason unchanged."""


def _raise_exception(message: object) -> NoReturn:
    raise _TemplateRaised(str(message))


def _tojson(
    value: Any,
    ensure_ascii: bool = False,
    indent: int | None = None,
    separators: tuple[str, str] | None = None,
    sort_keys: bool = False,
) -> str:
    # transformers' tojson: no HTML escaping (jinja2's own filter would turn < into \u003c).
    return json.dumps(
        value, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys
    )


def _strftime_now(fmt: str) -> str:
    return datetime.now().strftime(fmt)


# --- resource limits (see the module docstring) ---------------------------------------------------

#: Characters (or items) any one value, and the rendered prompt, may have with empty messages...
BASE_SIZE = 1_000_000
#: ...plus this many per character of the messages (a template may well write each one twice).
SIZE_PER_INPUT_CHAR = 2
#: Total work of one render, as a multiple of its size limit.
WORK_PER_SIZE = 16
#: Work units per item visited when weighing a new container (a Python-level step, dearer than
#: copying a character).
WALK_COST = 4
#: Loop iterations, calls and filter/test uses of one render with no messages...
BASE_STEPS = 100_000
#: ...plus this many per message.
STEPS_PER_MESSAGE = 100
#: Items one ``range()`` may produce (jinja2's sandbox limit).
MAX_RANGE = 100_000
#: Bits of the largest integer arithmetic may produce: about 4,900 digits (Python itself refuses
#: to print an integer of more than 4,300).
MAX_INT_BITS = 16_384


class _LimitExceeded(jinja2.TemplateError):
    """A render went over one of the limits; ``limit`` names it (size, work, steps...)."""

    def __init__(self, limit: str, detail: str) -> None:
        super().__init__(detail)
        self.limit = limit
        self.detail = detail


#: Containers whose contents are weighed. Anything else (generators, loop objects, macros,
#: Undefined) counts as 1: iterating it to weigh it could consume it.
_CONTAINERS_ALL = (
    list, tuple, dict, set, frozenset, deque, Namespace, Mapping, Sequence, Set, MappingView
)  # fmt: skip
#: Exact types known not to be containers: the common case, decided without ABC checks.
_ATOMS = frozenset({int, float, bool, type(None), complex})


def _children(obj: Any) -> Iterator[Any]:
    if isinstance(obj, Namespace):
        # Its attributes, which ``{% set ns.x = ... %}`` changes: never memoized (see _walk).
        attrs: dict[str, Any] = object.__getattribute__(obj, "_Namespace__attrs")
        obj = dict(attrs)
    if isinstance(obj, Mapping):
        for key, value in obj.items():
            yield key
            yield value
    else:
        yield from obj


class _Budget:
    """What one render may still spend. Created per render with sizes that grow with the
    conversation (:meth:`for_messages`); the default instance (base limits) serves jinja2's
    compile-time constant folding, which calls filters and finalize without a render."""

    __slots__ = ("_memo", "input_size", "size", "steps", "steps_limit", "work", "work_limit")

    def __init__(self, input_size: int = 0, messages: int = 0) -> None:
        self.input_size = input_size
        self.size = BASE_SIZE + SIZE_PER_INPUT_CHAR * input_size
        self.work = 0
        self.work_limit = WORK_PER_SIZE * self.size
        self.steps = 0
        self.steps_limit = BASE_STEPS + STEPS_PER_MESSAGE * messages
        # id -> (object, weight) of containers that cannot change during the render; the object
        # is kept so that its id cannot be reused by another one.
        self._memo: dict[int, tuple[object, int]] = {}

    @classmethod
    def for_messages(cls, messages: list[Any], *tokens: str) -> _Budget:
        measure = cls()
        measure.size = measure.work_limit = 1 << 62  # the input is what it is: never refused
        size = sum(len(t) for t in tokens) + 1
        for message in messages:
            if type(message) is dict and all(
                type(k) is str and type(v) is str for k, v in message.items()
            ):
                size += 1 + sum(map(len, message)) + sum(map(len, message.values()))
            else:
                size += measure.weigh(message)
        budget = cls(size, len(messages))
        budget._memo = measure._memo  # the messages are weighed once per render
        return budget

    # --- accounting ---------------------------------------------------------------------------

    def _sizes(self) -> str:
        return (
            f"{self.size:,} ({BASE_SIZE:,} plus {SIZE_PER_INPUT_CHAR} per character of the "
            f"messages, which have {self.input_size:,})"
        )

    def step(self, cost: int = 0) -> bool:
        """One loop iteration, call or filter use, plus ``cost`` units of work. Returns True so
        that it can stand in an ``and`` (the loop filter)."""
        self.steps += 1
        if self.steps > self.steps_limit:
            raise _LimitExceeded(
                "steps",
                f"the template ran more than {self.steps_limit:,} loop iterations, calls and "
                f"filters ({BASE_STEPS:,} plus {STEPS_PER_MESSAGE} per message)",
            )
        if cost:
            self.charge(cost)
        return True

    def charge(self, units: int) -> None:
        self.work += units
        if self.work > self.work_limit:
            raise _LimitExceeded(
                "work",
                f"the template built, compared or processed more than {self.work_limit:,} "
                f"characters and items in total ({WORK_PER_SIZE} times the size limit of "
                f"{self._sizes()})",
            )

    def check_size(self, size: int, what: str) -> None:
        if size > self.size:
            raise _LimitExceeded(
                "size",
                f"{what} would have {size:,} characters or items; a value may have at most "
                f"{self._sizes()}",
            )

    def check_int(self, bits: int, what: str) -> None:
        if bits > MAX_INT_BITS:
            raise _LimitExceeded(
                "integer",
                f"{what} would be an integer of about {bits:,} bits; the sandbox allows "
                f"{MAX_INT_BITS:,} (about {MAX_INT_BITS * 3 // 10:,} digits)",
            )

    def built(self, value: Any, what: str = "a value") -> Any:
        """Charge a value just built (and refuse it if too big); returns it."""
        if isinstance(value, (str, bytes)):
            self.check_size(len(value), what)
            self.charge(len(value))
        elif isinstance(value, _CONTAINERS_ALL):
            if isinstance(value, (list, tuple, dict)):
                self.charge(len(value))
            self.weigh(value)
        return value

    # --- weights --------------------------------------------------------------------------------

    def weigh(self, obj: Any) -> int:
        """The size of ``obj`` written out: characters of a string, and for a container 1 plus
        the weight of everything in it, expanded (``[x, x]`` counts ``x`` twice), so that
        ``str()``, ``==``, ``hash`` and ``tojson`` of it cost about its weight. Raises when over
        the size limit."""
        kind = type(obj)
        if kind is str or kind is bytes:
            return len(obj)
        if kind in _ATOMS:
            return 1
        if isinstance(obj, (str, bytes)):
            return len(obj)
        if not isinstance(obj, _CONTAINERS_ALL):
            return 1
        if isinstance(obj, range):
            return len(obj) + 1
        hit = self._memo.get(id(obj))
        if hit is not None and hit[0] is obj:
            return hit[1]
        return self._walk(obj)

    def weigh_all(self, args: Iterable[Any]) -> int:
        return sum(self.weigh(a) for a in args)

    def _walk(self, root: Any) -> int:
        # Iterative (a deep structure must not hit the recursion limit here) and memoized, so a
        # structure with shared parts costs its distinct parts, not its expanded size. Anything
        # holding a Namespace can change later, so it is memoized only for this walk.
        limit = self.size
        memo = self._memo
        local: dict[int, int] = {}
        visited = 0
        on_path = {id(root)}
        # frames: [object, children iterator, weight so far, memoizable]
        stack: list[list[Any]] = [[root, _children(root), 1, not isinstance(root, Namespace)]]
        while True:
            frame = stack[-1]
            descended = False
            for child in frame[1]:
                visited += 1
                pure = True
                kind = type(child)
                if kind is str or kind is bytes:
                    weight = len(child)
                elif kind in _ATOMS:
                    weight = 1
                elif isinstance(child, (str, bytes)):
                    weight = len(child)
                elif not isinstance(child, _CONTAINERS_ALL):
                    weight = 1
                elif isinstance(child, range):
                    weight = len(child) + 1
                else:
                    key = id(child)
                    hit = memo.get(key)
                    if hit is not None and hit[0] is child:
                        weight = hit[1]
                    elif key in local:
                        weight, pure = local[key], False
                    elif key in on_path:  # a cycle, only possible through a Namespace
                        weight, pure = 1, False
                    else:
                        on_path.add(key)
                        stack.append([child, _children(child), 1, not isinstance(child, Namespace)])
                        descended = True
                        break
                frame[2] += weight
                frame[3] = frame[3] and pure
                if frame[2] > limit:
                    self.check_size(frame[2], "a value the template uses")
            if descended:
                continue
            stack.pop()
            obj, _, weight, pure = frame
            on_path.discard(id(obj))
            if pure:
                memo[id(obj)] = (obj, weight)
            else:
                local[id(obj)] = weight
            if not stack:
                self.charge(visited * WALK_COST)
                return int(weight)
            parent = stack[-1]
            parent[2] += weight
            parent[3] = parent[3] and pure
            if parent[2] > limit:
                self.check_size(parent[2], "a value the template uses")


_BUDGET: ContextVar[_Budget | None] = ContextVar("llmrouter_template_budget", default=None)


def _budget() -> _Budget:
    budget = _BUDGET.get()
    return budget if budget is not None else _Budget()


def _is_int(value: object) -> bool:
    return isinstance(value, int)


def _number(text: str, budget: _Budget, what: str) -> int:
    """A width or precision written in a format string (digits only)."""
    if len(text) > 15:
        budget.check_size(10**15, what)
    return int(text)


def _widest(budget: _Budget, values: Iterable[Any]) -> int:
    return max((budget.weigh(v) for v in values), default=0)


_PRINTF = re.compile(r"%(?:\([^)]*\))?[-#0 +]*(\*|\d+)?(?:\.(\*|\d+))?[hlL]?[a-zA-Z%]")


def _check_printf(budget: _Budget, fmt: str | bytes, values: Any, what: str) -> None:
    """``fmt % values`` (also the ``format`` filter): bounded by the format, each field filled
    with the largest value, and every width and precision written out in full."""
    text = fmt.decode("latin-1") if isinstance(fmt, bytes) else fmt
    fields = widths = 0
    star = False
    for match in _PRINTF.finditer(text):
        fields += 1
        for number in match.group(1, 2):
            if number == "*":
                star = True
            elif number:
                widths += _number(number, budget, what)
    if isinstance(values, tuple):
        items: list[Any] = list(values)
    elif isinstance(values, Mapping):
        items = list(values.values())
    else:
        items = [values]
    if star:
        widths += sum(abs(v) for v in items if _is_int(v))
    budget.check_size(len(text) + fields * _widest(budget, items) + widths, what)


def _check_str_format(
    budget: _Budget, fmt: str, args: Sequence[Any], kwargs: Mapping[str, Any]
) -> None:
    """``str.format``: the same estimate over replacement fields and their format specs; a
    width that comes from an argument (``'{:{}}'``) counts every integer argument."""
    fields = widths = 0
    nested = False
    for _literal, field, spec, _conversion in string.Formatter().parse(fmt):
        if field is None:
            continue
        fields += 1
        if spec:
            nested = nested or "{" in spec
            for number in re.findall(r"\d+", spec):
                widths += _number(number, budget, "a format() width")
    values = [*args, *kwargs.values()]
    if nested:
        widths += sum(abs(v) for v in values if _is_int(v))
    budget.check_size(
        len(fmt) + fields * _widest(budget, values) + widths, "the result of str.format()"
    )


def _shape(value: Any) -> tuple[int, int]:
    """``(items, depth)`` of nested lists, tuples and dicts, expanded (a shared part counts each
    time it appears, as it is written out), each distinct part visited once: what indentation
    and separators multiply."""
    seen: dict[int, tuple[int, int]] = {}

    def shape(obj: Any, level: int) -> tuple[int, int]:
        # Capped: deeper than this, json and pprint hit Python's recursion limit anyway.
        if level > 200 or not isinstance(obj, (list, tuple, dict)):
            return 1, 0
        key = id(obj)
        if key in seen:
            return seen[key]
        seen[key] = (1, 0)  # a cycle (through a Namespace) is not followed
        items = [*obj.keys(), *obj.values()] if isinstance(obj, dict) else obj
        count, depth = 1, 0
        for item in items:
            item_count, item_depth = shape(item, level + 1)
            count += item_count
            depth = max(depth, item_depth)
        seen[key] = (count, depth + 1)
        return seen[key]

    return shape(value, 0)


# Filters whose cost does not grow with their input (so their input is not charged).
_LIGHT_FILTERS = frozenset(
    {"abs", "attr", "count", "d", "default", "first", "last", "length", "random", "round", "safe"}
)
# Tests that look at the type or identity only.
_LIGHT_TESTS = frozenset(
    {
        "boolean", "callable", "defined", "divisibleby", "even", "false", "filter", "float",
        "integer", "iterable", "mapping", "none", "number", "odd", "sameas", "sequence",
        "string", "test", "true", "undefined",
    }
)  # fmt: skip


def _filter_center(budget: _Budget, a: dict[str, Any]) -> None:
    if _is_int(a["width"]):
        budget.check_size(max(a["width"], budget.weigh(a["value"])), "center(width)")


def _filter_indent(budget: _Budget, a: dict[str, Any]) -> None:
    width = a["width"]
    per_line = len(width) if isinstance(width, str) else width if _is_int(width) else 0
    text = a["s"]
    lines = text.count("\n") + 1 if isinstance(text, str) else budget.weigh(text)
    budget.check_size(budget.weigh(text) + lines * max(per_line, 0), "indent(width)")


def _filter_wordwrap(budget: _Budget, a: dict[str, Any]) -> None:
    text, width = a["s"], a["width"]
    wrap = a["wrapstring"]
    if not isinstance(text, str) or not _is_int(width) or width < 1:
        return  # wordwrap refuses these itself
    # Two consecutive lines together are longer than the width, else they would be one.
    breaks = 2 * len(text) // width + text.count("\n") + 1
    size = len(text) + breaks * (len(wrap) if isinstance(wrap, str) else 1)
    budget.check_size(size, "wordwrap()")


def _filter_replace(budget: _Budget, a: dict[str, Any]) -> None:
    text, old, new, count = a["s"], a["old"], a["new"], a["count"]
    if isinstance(text, str) and isinstance(old, str) and isinstance(new, str):
        _check_replace(budget, text, old, new, -1 if count is None else count)


def _check_replace(budget: _Budget, text: Any, old: Any, new: Any, count: Any) -> None:
    if type(old) is not type(text) or type(new) is not type(text) or not _is_int(count):
        return
    found = text.count(old) if old else len(text) + 1
    if count >= 0:
        found = min(found, count)
    budget.check_size(len(text) + found * max(len(new) - len(old), 0), "replace()")


def _filter_format(budget: _Budget, a: dict[str, Any]) -> None:
    if isinstance(a["value"], str):
        _check_printf(budget, a["value"], a["kwargs"] or a["args"], "format()")


def _filter_join(budget: _Budget, a: dict[str, Any]) -> None:
    items = list(a["value"])  # a generator would be consumed by counting it
    a["value"] = items
    sep = a["d"]
    gaps = max(len(items) - 1, 0) * (len(sep) if isinstance(sep, str) else budget.weigh(sep))
    budget.charge(len(items))
    budget.check_size(budget.weigh_all(items) + gaps, "join()")


def _filter_fill(count_key: str) -> Callable[[_Budget, dict[str, Any]], None]:
    def check(budget: _Budget, a: dict[str, Any]) -> None:
        count = a[count_key]
        if _is_int(count):
            budget.check_size(
                count, f"{count_key} of {'batch' if count_key == 'linecount' else 'slice'}()"
            )
            budget.charge(max(count, 0))

    return check


def _filter_sum(budget: _Budget, a: dict[str, Any]) -> None:
    start = a["start"]
    if isinstance(start, (int, float, complex)):
        return
    # Summing lists or tuples copies the running total each time: quadratic.
    items = list(a["iterable"])
    a["iterable"] = items
    budget.charge(len(items) * (budget.weigh(items) + budget.weigh(start)))


def _filter_tojson(budget: _Budget, a: dict[str, Any]) -> None:
    # Quotes and escapes grow the text by a bounded factor (checked on the result); indentation
    # (per line, times the depth) and separators (per item) are what can multiply it.
    indent = a["indent"]
    per_level = len(indent) if isinstance(indent, str) else indent if _is_int(indent) else 0
    separators = a["separators"]
    extra = sum(len(s) for s in separators if isinstance(s, str)) if separators else 2
    if per_level or extra > 4:
        value = a["value"]
        items, depth = _shape(value)
        per_item = 4 + extra + max(per_level, 0) * depth
        budget.check_size(budget.weigh(value) + items * per_item, "tojson()")


def _filter_pprint(budget: _Budget, a: dict[str, Any]) -> None:
    value = a["value"]
    items, depth = _shape(value)
    budget.check_size(budget.weigh(value) + items * (4 + depth), "pprint()")


def _filter_striptags(budget: _Budget, a: dict[str, Any]) -> None:
    # markupsafe removes one tag at a time, copying the rest of the text each time.
    text = a["value"]
    if isinstance(text, str):
        budget.charge(min(text.count("<"), len(text)) * len(text) // 8)


_FILTER_CHECKS: dict[str, Callable[[_Budget, dict[str, Any]], None]] = {
    "center": _filter_center,
    "indent": _filter_indent,
    "wordwrap": _filter_wordwrap,
    "replace": _filter_replace,
    "format": _filter_format,
    "join": _filter_join,
    "batch": _filter_fill("linecount"),
    "slice": _filter_fill("slices"),
    "sum": _filter_sum,
    "tojson": _filter_tojson,
    "pprint": _filter_pprint,
    "striptags": _filter_striptags,
}


_CONTEXTS = (Context, nodes.EvalContext, jinja2.Environment)
_CONTEXT_PARAMETERS = frozenset({"context", "eval_ctx", "environment"})


def _context_free(args: tuple[Any, ...]) -> tuple[Any, ...]:
    """The arguments without the context jinja2 passes first to some filters and tests."""
    if args and isinstance(args[0], _CONTEXTS):
        return args[1:]
    return args


def _guard_filter(name: str, func: Callable[..., Any], light: bool) -> Callable[..., Any]:
    """``func`` (a filter or test) counted as a step, its input charged, and its result
    checked; the filters of _FILTER_CHECKS check their arguments before running."""
    check = _FILTER_CHECKS.get(name)
    signature = inspect.signature(func) if check is not None else None
    # jinja2's async-aware filters take an eval context that their signature (the wrapped
    # function's) does not show.
    hidden_context = signature is not None and (
        next(iter(signature.parameters), "") not in _CONTEXT_PARAMETERS
    )

    @functools.wraps(func)  # keeps jinja2's pass_context/pass_eval_context marker
    def guarded(*args: Any, **kwargs: Any) -> Any:
        budget = _budget()
        budget.step()
        if not light:
            budget.charge(budget.weigh_all(_context_free(args)) + budget.weigh_all(kwargs.values()))
        if check is not None and signature is not None:
            lead = args[:1] if hidden_context and args and isinstance(args[0], _CONTEXTS) else ()
            bound = signature.bind(*args[len(lead) :], **kwargs)
            bound.apply_defaults()
            check(budget, bound.arguments)
            args, kwargs = (*lead, *bound.args), bound.kwargs
        return budget.built(func(*args, **kwargs), f"the result of {name}")

    return guarded


def _safe_range(*args: int) -> range:
    """``range`` with jinja2's sandbox limit and a message that says it is one."""
    result = range(*args)
    if len(result) > MAX_RANGE:
        raise _LimitExceeded(
            "range",
            f"range{args!r} would produce {len(result):,} items; the sandbox allows {MAX_RANGE:,}",
        )
    return result


def _lipsum(n: int = 5, html: bool = True, min: int = 20, max: int = 100) -> str:
    budget = _budget()
    if _is_int(n) and _is_int(max):
        budget.check_size(n * max * 12, "lipsum()")  # words are at most 11 letters and a space
    return str(budget.built(generate_lorem_ipsum(n=n, html=html, min=min, max=max), "lipsum()"))


def _finalize(value: Any) -> Any:
    """Every ``{{ ... }}`` of the template: its size is charged before it is written out."""
    budget = _budget()
    if isinstance(value, str):
        budget.charge(len(value))
    else:
        budget.charge(budget.weigh(value))
    return value


# Checks of methods called on a string or bytes, by method name (receiver, args, kwargs).
def _method_pad(budget: _Budget, owner: Any, args: tuple[Any, ...], kw: dict[str, Any]) -> None:
    width: Any = args[0] if args else kw.get("width")
    if _is_int(width):
        budget.check_size(width, "a padded string")


def _method_expandtabs(
    budget: _Budget, owner: Any, args: tuple[Any, ...], kw: dict[str, Any]
) -> None:
    size = args[0] if args else kw.get("tabsize", 8)
    if _is_int(size):
        tab = "\t" if isinstance(owner, str) else b"\t"
        budget.check_size(len(owner) + owner.count(tab) * max(size, 0), "expandtabs()")


def _method_replace(budget: _Budget, owner: Any, args: tuple[Any, ...], kw: dict[str, Any]) -> None:
    if len(args) >= 2:
        count = args[2] if len(args) > 2 else kw.get("count", -1)
        _check_replace(budget, owner, args[0], args[1], count)


def _method_translate(
    budget: _Budget, owner: Any, args: tuple[Any, ...], kw: dict[str, Any]
) -> None:
    table = args[0] if args else None
    if isinstance(table, Mapping):
        longest = max((len(v) for v in table.values() if isinstance(v, str)), default=1)
        budget.check_size(len(owner) * longest, "translate()")


_STRING_METHOD_CHECKS: dict[
    str, Callable[[_Budget, Any, tuple[Any, ...], dict[str, Any]], None]
] = {
    "center": _method_pad,
    "ljust": _method_pad,
    "rjust": _method_pad,
    "zfill": _method_pad,
    "expandtabs": _method_expandtabs,
    "replace": _method_replace,
    "translate": _method_translate,
}


def _step_call(cost: int, environment: jinja2.Environment) -> nodes.Call:
    """``environment.limit_step(cost)``: a step, plus ``cost`` characters of literal text.

    jinja2 forbids new node types, so this is a call of an environment attribute (a node the
    template parser never produces), which the code generator writes as a direct call.
    """
    call = nodes.Call(nodes.EnvironmentAttribute("limit_step"), [nodes.Const(cost)], [], None, None)
    call.set_environment(environment)
    return call


def _is_step_call(node: nodes.Call) -> bool:
    target = node.node
    return isinstance(target, nodes.EnvironmentAttribute) and target.name == "limit_step"


def _literal_cost(body: list[nodes.Node]) -> int:
    """Characters of literal text a body writes out each time it runs (counted generously:
    nested loops are counted again, and constants used elsewhere too)."""
    cost = 0
    for node in body:
        for found in node.find_all((nodes.TemplateData, nodes.Const)):
            value = getattr(found, "data", getattr(found, "value", None))
            if isinstance(value, str):
                cost += len(value)
    return cost


def _count_steps(template: nodes.Template, environment: jinja2.Environment) -> None:
    """Put a step first in every loop body, macro, call block and block, and in front of every
    loop filter (``{% for x in y if test %}`` tests every item, also those it skips), before
    code generation analyses the tree: no repetition escapes the budget."""
    bodies: Iterator[nodes.For | nodes.Macro | nodes.CallBlock | nodes.Block] = template.find_all(
        (nodes.For, nodes.Macro, nodes.CallBlock, nodes.Block)
    )
    for node in bodies:
        first = node.body[0] if node.body else None
        if (
            isinstance(first, nodes.ExprStmt)
            and isinstance(first.node, nodes.Call)
            and _is_step_call(first.node)
        ):
            continue  # already done (a tree compiled twice)
        step = nodes.ExprStmt(_step_call(_literal_cost(node.body), environment))
        node.body.insert(0, step.set_environment(environment))
        if isinstance(node, nodes.For) and node.test is not None:
            test = nodes.And(_step_call(0, environment), node.test)
            node.test = test.set_environment(environment)


class _LimitedCodeGenerator(CodeGenerator):
    """jinja2's code generator plus the hooks the limits need where jinja2 has none: steps in
    loops and macros, and the budget around ``~``, comparisons, dict keys and slices."""

    def visit_Template(self, node: nodes.Template, frame: Frame | None = None) -> None:
        _count_steps(node, self.environment)
        super().visit_Template(node, frame)

    def visit_Call(self, node: nodes.Call, frame: Frame, forward_caller: bool = False) -> None:
        if _is_step_call(node):
            cost = node.args[0]
            assert isinstance(cost, nodes.Const)
            self.write(f"environment.limit_step({int(cost.value)})")
        else:
            super().visit_Call(node, frame, forward_caller=forward_caller)

    def visit_Concat(self, node: nodes.Concat, frame: Frame) -> None:
        self.write("environment.limit_concat(context, (")
        for arg in node.nodes:
            self.visit(arg, frame)
            self.write(", ")
        self.write("))")

    def visit_Compare(self, node: nodes.Compare, frame: Frame) -> None:
        # Each operand is weighed (charged) before Python compares it: == and in on big or
        # deeply shared structures cost their expanded size.
        self.write("(environment.limit_weigh(")
        self.visit(node.expr, frame)
        self.write(")")
        for op in node.ops:
            self.write(f" {_COMPARE_OPERATORS[op.op]} environment.limit_weigh(")
            self.visit(op.expr, frame)
            self.write(")")
        self.write(")")

    def visit_Dict(self, node: nodes.Dict, frame: Frame) -> None:
        self.write("{")
        for idx, item in enumerate(node.items):
            if idx:
                self.write(", ")
            self.write("environment.limit_weigh(")  # keys are hashed: weighed first
            self.visit(item.key, frame)
            self.write("): ")
            self.visit(item.value, frame)
        self.write("}")

    def visit_Getitem(self, node: nodes.Getitem, frame: Frame) -> None:
        if isinstance(node.arg, nodes.Slice):
            self.write("environment.limit_sliced(")  # a slice is a copy
            super().visit_Getitem(node, frame)
            self.write(")")
        else:
            super().visit_Getitem(node, frame)


class _StrictSandbox(ImmutableSandboxedEnvironment):
    """The immutable sandbox, but an unsafe attribute is an error rather than an empty string,
    and every costly operation is checked against the render's budget (module docstring)."""

    code_generator_class = _LimitedCodeGenerator
    intercepted_binops = frozenset({"+", "-", "*", "**", "%"})

    def unsafe_undefined(self, obj: Any, attribute: str) -> jinja2.Undefined:
        raise SecurityError(
            f"access to attribute {attribute!r} of {type(obj).__name__!r} object is unsafe"
        )

    # --- hooks the generated code calls ------------------------------------------------------

    @staticmethod
    def limit_step(cost: int) -> bool:
        return _budget().step(cost)

    @staticmethod
    def limit_weigh(value: Any) -> Any:
        budget = _budget()
        budget.charge(budget.weigh(value))
        return value

    @staticmethod
    def limit_sliced(value: Any) -> Any:
        # A slice copies part of something already weighed: its length is the cost.
        budget = _budget()
        if isinstance(value, (str, bytes, list, tuple)):
            budget.charge(len(value))
        return value

    @staticmethod
    def limit_concat(context: Context, parts: tuple[Any, ...]) -> str:
        budget = _budget()
        budget.check_size(budget.weigh_all(parts), "the result of ~")
        join = markup_join if context.eval_ctx.autoescape else str_join
        return str(budget.built(join(parts), "the result of ~"))

    # --- jinja2's sandbox hooks -------------------------------------------------------------

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        budget = _budget()
        if operator == "+" and type(left) is str and type(right) is str:
            # The common case (templates glue prompts together with +), kept short.
            size = len(left) + len(right)
            if size > budget.size:
                budget.check_size(size, "the result of +")
            budget.work += size
            if budget.work > budget.work_limit:
                budget.charge(0)
            return left + right
        what = f"the result of {operator}"
        if operator == "%":
            if isinstance(left, (str, bytes)):
                _check_printf(budget, left, right, "a % format")
        elif _is_int(left) and _is_int(right):
            a, b = abs(left), abs(right)
            if operator == "**":
                if a > 1 and right > 0:
                    # At least (bits of a - 1) * b + 1 bits; checked before Python computes it.
                    budget.check_int((a.bit_length() - 1) * right + 1, "**")
            elif operator == "*":
                budget.check_int(a.bit_length() + b.bit_length(), what)
            else:
                budget.check_int(max(a.bit_length(), b.bit_length()) + 1, what)
        elif operator == "*":
            for seq, times in ((left, right), (right, left)):
                if isinstance(seq, (str, bytes, list, tuple)) and _is_int(times):
                    budget.check_size(budget.weigh(seq) * max(times, 0), what)
        elif (
            operator == "+"
            and isinstance(left, (str, bytes, list, tuple))
            and type(left) is type(right)
        ):
            budget.check_size(budget.weigh(left) + budget.weigh(right), what)
        return budget.built(self.binop_table[operator](left, right), what)

    def call(self, context: Context, obj: Any, /, *args: Any, **kwargs: Any) -> Any:
        budget = _budget()
        budget.step()
        cost = budget.weigh_all(args) + budget.weigh_all(
            v for k, v in kwargs.items() if k not in ("_loop_vars", "_block_vars")
        )
        if isinstance(obj, types.BuiltinMethodType):
            owner = obj.__self__
            if not isinstance(owner, types.ModuleType):
                cost += budget.weigh(owner)  # list.count(x), str.find(y)... scan the receiver
                if isinstance(owner, (str, bytes)):
                    check = _STRING_METHOD_CHECKS.get(obj.__name__)
                    if check is not None:
                        check(budget, owner, args, kwargs)
                    elif obj.__name__ == "join":
                        items = list(args[0]) if len(args) == 1 else None
                        if items is not None:
                            args = (items,)
                            gaps = max(len(items) - 1, 0) * len(owner)
                            budget.check_size(budget.weigh_all(items) + gaps, "join()")
                elif _is_int(owner) and obj.__name__ == "to_bytes":
                    length = args[0] if args else kwargs.get("length", 1)
                    if _is_int(length):
                        budget.check_size(length, "to_bytes()")
        budget.charge(cost)
        return budget.built(super().call(context, obj, *args, **kwargs), "a call's result")

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        formatter = super().wrap_str_format(value)
        if formatter is None:
            return None
        fmt = str(value.__self__)
        is_map = value.__name__ == "format_map"

        @functools.wraps(formatter)
        def guarded(*args: Any, **kwargs: Any) -> str:
            budget = _budget()
            if is_map:
                mapping = args[0] if args and isinstance(args[0], Mapping) else {}
                _check_str_format(budget, fmt, (), mapping)
            else:
                _check_str_format(budget, fmt, args, kwargs)
            return str(budget.built(formatter(*args, **kwargs), "the result of str.format()"))

        return guarded


_ENV: _StrictSandbox | None = None


def _environment() -> _StrictSandbox:
    # Built on first use; a duplicate built by a racing thread is harmless (both are identical).
    global _ENV
    if _ENV is None:
        env = _StrictSandbox(
            trim_blocks=True,
            lstrip_blocks=True,
            extensions=[jinja2.ext.loopcontrols],
            finalize=_finalize,
        )
        env.filters["tojson"] = _tojson
        for name, func in list(env.filters.items()):
            env.filters[name] = _guard_filter(name, func, name in _LIGHT_FILTERS)
        for name, test in list(env.tests.items()):
            env.tests[name] = _guard_filter(
                name, cast("Callable[..., Any]", test), name in _LIGHT_TESTS
            )
        env.globals["range"] = _safe_range
        env.globals["lipsum"] = _lipsum
        env.globals["raise_exception"] = _raise_exception
        env.globals["strftime_now"] = _strftime_now
        _ENV = env
    return _ENV


def build_chat_template(
    name: str, source: str, *, bos_token: str, eos_token: str
) -> PromptTemplate:
    """Compile ``source`` now, so that a syntax error surfaces at registration, not mid-request."""
    try:
        compiled = _environment().from_string(source)
    except jinja2.TemplateSyntaxError as exc:
        error = PromptTemplateError(
            f"chat_template for {name!r} is not valid Jinja: {exc.message} (line {exc.lineno})",
            template=name,
        )
        error.param = "chat_template"
        raise error from None
    except Exception as exc:  # e.g. an integer literal too long for int()
        error = PromptTemplateError(
            f"chat_template for {name!r} could not be compiled: {type(exc).__name__}: {exc}",
            template=name,
        )
        error.param = "chat_template"
        raise error from exc

    def render(messages: Sequence[Mapping[str, Any]], add_generation_prompt: bool) -> str:
        checked = list(check_messages(messages, name))
        budget = _Budget.for_messages(checked, bos_token, eos_token)
        token = _BUDGET.set(budget)
        pieces = compiled.generate(
            messages=checked,
            add_generation_prompt=add_generation_prompt,
            bos_token=bos_token,
            eos_token=eos_token,
        )
        try:
            # Counted piece by piece, so an oversized prompt stops as soon as it is one.
            out: list[str] = []
            size = 0
            for piece in pieces:
                size += len(piece)
                if size > budget.size:
                    raise _LimitExceeded(
                        "output",
                        f"the rendered prompt would be longer than {budget._sizes()} characters",
                    )
                out.append(piece)
            return "".join(out)
        except _LimitExceeded as exc:
            raise PromptTemplateError(
                f"chat_template for {name!r} hit the sandbox's {exc.limit} limit: {exc.detail}",
                template=name,
            ) from None
        except _TemplateRaised as exc:
            raise PromptTemplateError(exc.message or "", template=name) from None
        except SecurityError as exc:
            raise PromptTemplateError(
                f"chat_template for {name!r} tried an operation the sandbox forbids: {exc}",
                template=name,
            ) from exc
        except Exception as exc:
            raise PromptTemplateError(
                f"chat_template for {name!r} failed on these messages: {type(exc).__name__}: {exc}",
                template=name,
            ) from exc
        finally:
            if isinstance(pieces, types.GeneratorType):
                pieces.close()  # a render stopped by a limit ends here, not at garbage collection
            _BUDGET.reset(token)

    renderer: Renderer = render
    return PromptTemplate(
        name=name,
        stop=(eos_token,) if eos_token else (),
        bos_token=bos_token,
        eos_token=eos_token,
        kind="chat_template",
        _renderer=renderer,
    )
