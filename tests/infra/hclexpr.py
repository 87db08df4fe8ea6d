"""A small evaluator of Terraform expressions, as python-hcl2 prints them.

`terraform plan` needs providers, which cannot be downloaded here, so the value
checks evaluate the module's expressions themselves. python-hcl2 keeps every
expression as text (`"${6 * var.timeout}"`, with nested strings in either
quote style and `null` as `None`); this module parses that text and evaluates
it against a scope, enough for the expressions the vow module uses:
references (`var.x`, `local.x`, `aws_x.name.attr`, `data.x.y[0].attr`,
`each.value`), literals, lists, objects, function calls, arithmetic,
comparisons, `&&`/`||`/`!`, conditionals and `[for x in xs : expr]`.

An unknown function or syntax raises `HclError`: the checks then fail, rather
than pass on a value they did not understand.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any, Callable


class HclError(Exception):
    """An expression this evaluator cannot parse or evaluate."""


# ------------------------------------------------------------------ lexing

_PUNCT = ["==", "!=", ">=", "<=", "&&", "||", "=>", "(", ")", "[", "]", "{", "}", ",", ":", ".", "?", "=", ">", "<", "!", "*", "+", "-", "/", "%"]


def _scan_string(text: str, i: int) -> tuple[str, int]:
    """The raw content of the string starting at text[i] (a quote), and the index after it."""
    quote = text[i]
    i += 1
    out = []
    while i < len(text):
        c = text[i]
        if c == "\\" and i + 1 < len(text):
            out.append(text[i : i + 2])
            i += 2
        elif text.startswith("${", i):
            j = _skip_interpolation(text, i)
            out.append(text[i:j])
            i = j
        elif c == quote:
            return "".join(out), i + 1
        else:
            out.append(c)
            i += 1
    raise HclError(f"unterminated string in {text!r}")


def _skip_interpolation(text: str, i: int) -> int:
    """Index after the `}` closing the `${` at text[i]."""
    depth = 0
    while i < len(text):
        c = text[i]
        if c in "'\"":
            _, i = _scan_string(text, i)
            continue
        if c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
            if depth == 0:
                return i + 1
        i += 1
    raise HclError(f"unterminated interpolation in {text!r}")


def _tokens(text: str) -> list[tuple[str, Any]]:
    toks: list[tuple[str, Any]] = []
    i = 0
    while i < len(text):
        c = text[i]
        if c.isspace():
            i += 1
        elif c in "'\"":
            raw, i = _scan_string(text, i)
            toks.append(("str", raw))
        elif c.isdigit():
            m = re.match(r"\d+(\.\d+)?", text[i:])
            assert m
            toks.append(("num", float(m.group()) if m.group(1) else int(m.group())))
            i += len(m.group())
        elif c.isalpha() or c == "_":
            m = re.match(r"[A-Za-z_][A-Za-z0-9_-]*", text[i:])
            assert m
            toks.append(("id", m.group()))
            i += len(m.group())
        else:
            for p in _PUNCT:
                if text.startswith(p, i):
                    toks.append(("p", p))
                    i += len(p)
                    break
            else:
                raise HclError(f"unexpected {c!r} in {text!r}")
    toks.append(("end", None))
    return toks


# ----------------------------------------------------------------- parsing
# Nodes are tuples: ("lit", v), ("tpl", raw), ("ref", name), ("get", node, attr),
# ("idx", node, node), ("call", name, [args]), ("list", [..]), ("obj", [(k, v)]),
# ("bin", op, a, b), ("not", a), ("neg", a), ("cond", c, a, b), ("for", var, coll, body).


class _Parser:
    def __init__(self, text: str):
        self.text = text
        self.toks = _tokens(text)
        self.i = 0

    def peek(self, k: int = 0):
        return self.toks[self.i + k]

    def take(self, kind: str | None = None, value: Any = None):
        tok = self.toks[self.i]
        if (kind and tok[0] != kind) or (value is not None and tok[1] != value):
            raise HclError(f"expected {value or kind}, found {tok[1]!r} in {self.text!r}")
        self.i += 1
        return tok

    def at(self, value: str) -> bool:
        return self.peek()[0] == "p" and self.peek()[1] == value

    def parse(self):
        node = self.expr()
        self.take("end")
        return node

    def expr(self):
        cond = self.binary(0)
        if self.at("?"):
            self.take()
            a = self.expr()
            self.take("p", ":")
            b = self.expr()
            return ("cond", cond, a, b)
        return cond

    _LEVELS = [["||"], ["&&"], ["==", "!="], [">", "<", ">=", "<="], ["+", "-"], ["*", "/", "%"]]

    def binary(self, level: int):
        if level == len(self._LEVELS):
            return self.unary()
        node = self.binary(level + 1)
        while self.peek()[0] == "p" and self.peek()[1] in self._LEVELS[level]:
            op = self.take()[1]
            node = ("bin", op, node, self.binary(level + 1))
        return node

    def unary(self):
        if self.at("!"):
            self.take()
            return ("not", self.unary())
        if self.at("-"):
            self.take()
            return ("neg", self.unary())
        return self.postfix(self.primary())

    def postfix(self, node):
        while True:
            if self.at("."):
                self.take()
                tok = self.take()
                if tok[0] not in ("id", "num"):
                    raise HclError(f"bad attribute in {self.text!r}")
                node = ("get", node, tok[1]) if tok[0] == "id" else ("idx", node, ("lit", tok[1]))
            elif self.at("["):
                self.take()
                node = ("idx", node, self.expr())
                self.take("p", "]")
            else:
                return node

    def primary(self):
        kind, value = self.take()
        if kind == "num":
            return ("lit", value)
        if kind == "str":
            return ("tpl", value)
        if kind == "id":
            if value in ("true", "True"):
                return ("lit", True)
            if value in ("false", "False"):
                return ("lit", False)
            if value in ("null", "None"):
                return ("lit", None)
            if self.at("("):
                self.take()
                args = []
                while not self.at(")"):
                    args.append(self.expr())
                    if not self.at(")"):
                        self.take("p", ",")
                self.take("p", ")")
                return ("call", value, args)
            return ("ref", value)
        if (kind, value) == ("p", "("):
            node = self.expr()
            self.take("p", ")")
            return node
        if (kind, value) == ("p", "["):
            if self.peek() == ("id", "for"):
                self.take()
                var = self.take("id")[1]
                self.take("id", "in")
                coll = self.expr()
                self.take("p", ":")
                body = self.expr()
                self.take("p", "]")
                return ("for", var, coll, body)
            items = []
            while not self.at("]"):
                items.append(self.expr())
                if not self.at("]"):
                    self.take("p", ",")
            self.take("p", "]")
            return ("list", items)
        if (kind, value) == ("p", "{"):
            pairs = []
            while not self.at("}"):
                key_tok = self.take()
                if key_tok[0] == "str":
                    key = ("tpl", key_tok[1])
                elif key_tok[0] == "id":
                    key = ("lit", key_tok[1])
                else:
                    raise HclError(f"bad object key in {self.text!r}")
                if not (self.at(":") or self.at("=")):
                    raise HclError(f"expected : or = in {self.text!r}")
                self.take()
                pairs.append((key, self.expr()))
                if self.at(","):
                    self.take()
            self.take("p", "}")
            return ("obj", pairs)
        raise HclError(f"unexpected {value!r} in {self.text!r}")


# --------------------------------------------------------------- evaluating


def _tostring(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    if isinstance(v, (int, float, str)):
        return str(v)
    raise HclError(f"cannot make a string of {v!r}")


FUNCTIONS: dict[str, Callable[..., Any]] = {
    "tostring": _tostring,
    "jsonencode": lambda v: json.dumps(v, separators=(",", ":")),
    "jsondecode": json.loads,
    "merge": lambda *maps: {k: v for m in maps for k, v in m.items()},
    "compact": lambda xs: [x for x in xs if x not in (None, "")],
    "concat": lambda *xs: [x for lst in xs for x in lst],
    "length": len,
    "toset": lambda xs: sorted(set(xs)),
    "tolist": list,
    "floor": math.floor,
    "trimsuffix": lambda s, suffix: s[: -len(suffix)] if suffix and s.endswith(suffix) else s,
    "contains": lambda xs, x: x in xs,
    "regex": lambda pattern, s: re.search(pattern, s).group(),  # type: ignore[union-attr]
    "keys": lambda m: sorted(m),
    "join": lambda sep, xs: sep.join(_tostring(x) for x in xs),
}


class Scope:
    """Resolves the first name of a reference (`var`, `local`, a resource type, ...)."""

    def __init__(self, lookup: Callable[[str], Any]):
        self.lookup = lookup
        self.bound: dict[str, Any] = {}

    def resolve(self, name: str) -> Any:
        if name in self.bound:
            return self.bound[name]
        return self.lookup(name)


def _attr(obj: Any, attr: Any) -> Any:
    if isinstance(obj, dict):
        if attr not in obj:
            raise HclError(f"no attribute {attr!r} in {sorted(obj)}")
        return obj[attr]
    if isinstance(obj, list) and isinstance(attr, int):
        return obj[attr]
    getter = getattr(obj, "attr", None)
    if getter is None:
        raise HclError(f"cannot read {attr!r} of {obj!r}")
    return getter(attr)


def evaluate(node, scope: Scope) -> Any:
    kind = node[0]
    if kind == "lit":
        return node[1]
    if kind == "tpl":
        return template(node[1], scope)
    if kind == "ref":
        return scope.resolve(node[1])
    if kind == "get":
        return _attr(evaluate(node[1], scope), node[2])
    if kind == "idx":
        return _attr(evaluate(node[1], scope), evaluate(node[2], scope))
    if kind == "call" and node[1] == "can":
        try:
            evaluate(node[2][0], scope)
            return True
        except Exception:  # noqa: BLE001 - can() is true exactly when its argument evaluates
            return False
    if kind == "call":
        fn = FUNCTIONS.get(node[1])
        if fn is None:
            raise HclError(f"function {node[1]} is not known to the checks")
        return fn(*(evaluate(a, scope) for a in node[2]))
    if kind == "list":
        return [evaluate(x, scope) for x in node[1]]
    if kind == "obj":
        return {evaluate(k, scope): evaluate(v, scope) for k, v in node[1]}
    if kind == "not":
        return not evaluate(node[1], scope)
    if kind == "neg":
        return -evaluate(node[1], scope)
    if kind == "cond":
        return evaluate(node[2] if evaluate(node[1], scope) else node[3], scope)
    if kind == "for":
        out = []
        for item in evaluate(node[2], scope):
            inner = Scope(scope.resolve)
            inner.bound = {**scope.bound, node[1]: item}
            out.append(evaluate(node[3], inner))
        return out
    if kind == "bin":
        op, a = node[1], evaluate(node[2], scope)
        if op == "&&":
            return a and evaluate(node[3], scope)
        if op == "||":
            return a or evaluate(node[3], scope)
        b = evaluate(node[3], scope)
        ops = {
            "==": lambda: a == b,
            "!=": lambda: a != b,
            ">": lambda: a > b,
            "<": lambda: a < b,
            ">=": lambda: a >= b,
            "<=": lambda: a <= b,
            "+": lambda: a + b,
            "-": lambda: a - b,
            "*": lambda: a * b,
            "/": lambda: a / b,
            "%": lambda: a % b,
        }
        return ops[op]()
    raise HclError(f"unknown node {kind}")


def template(raw: str, scope: Scope) -> Any:
    """A string template: one `${expr}` alone keeps its value's type."""
    parts: list[Any] = []
    i = 0
    literal = []
    while i < len(raw):
        if raw.startswith("${", i):
            j = _skip_interpolation(raw, i)
            if literal:
                parts.append("".join(literal))
                literal = []
            parts.append((_Parser(raw[i + 2 : j - 1]).parse(),))
            i = j
        elif raw[i] == "\\" and i + 1 < len(raw):
            literal.append({"n": "\n", "t": "\t"}.get(raw[i + 1], raw[i + 1]))
            i += 2
        else:
            literal.append(raw[i])
            i += 1
    if literal:
        parts.append("".join(literal))
    if len(parts) == 1 and isinstance(parts[0], tuple):
        return evaluate(parts[0][0], scope)
    return "".join(p if isinstance(p, str) else _tostring(evaluate(p[0], scope)) for p in parts)


def value(v: Any, scope: Scope) -> Any:
    """Evaluate a python-hcl2 attribute value (strings are templates; lists and
    dicts are evaluated element by element)."""
    if isinstance(v, str):
        return template(v, scope)
    if isinstance(v, list):
        return [value(x, scope) for x in v]
    if isinstance(v, dict):
        return {k: value(x, scope) for k, x in v.items() if not k.startswith("__")}
    return v
