"""HCL expressions, evaluated offline, for the IAM check (iam.py).

Run as a script (with a Python that has python-hcl2, as iam.py does) it prints
a Terraform module's blocks as JSON:

    python iam_hcl.py MODULE_DIR

python-hcl2 keeps expressions as text (`"${aws_sqs_queue.work.arn}"`). `Hcl`,
which needs only the standard library, parses and evaluates them: literals,
string templates, lists and objects, references (variables, locals, data
sources, resources, `each`, `count`), function calls, operators with HCL's
precedence, conditionals, `for` expressions and splats; and it builds the
JSON of `data "aws_iam_policy_document"` blocks, `dynamic` statements included.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any


class Unsupported(Exception):
    """A template construct this evaluator does not know."""


def parse(directory: str) -> None:
    """Print the merged python-hcl2 parse of a directory's .tf files (JSON)."""
    import hcl2

    merged: dict[str, list] = {}
    for path in sorted(Path(directory).glob("*.tf")):
        with path.open() as f:
            for key, value in hcl2.load(f).items():
                merged.setdefault(key, []).extend(value)
    print(json.dumps(merged))


TOKEN = re.compile(
    r"""\s*(?:
      (?P<num>\d+(?:\.\d+)?)
    | (?P<ident>[A-Za-z_][A-Za-z0-9_-]*)
    | (?P<op>==|!=|<=|>=|&&|\|\||=>|\.\.\.|\[\*\]|[-+*/%!<>?:=.,()\[\]{}])
    | (?P<quote>["'])
    )""",
    re.VERBOSE,
)
PRECEDENCE = {"||": 1, "&&": 2, "==": 3, "!=": 3, "<": 4, "<=": 4, ">": 4, ">=": 4, "+": 5, "-": 5, "*": 6, "/": 6, "%": 6}


def string_end(s: str, i: int, quote: str) -> int:
    """Index just past the string opened before `i` (templates nest)."""
    while i < len(s):
        c = s[i]
        if c == "\\":
            i += 2
        elif s.startswith("${", i):
            i = expr_end(s, i + 2) + 1
        elif c == quote:
            return i + 1
        else:
            i += 1
    raise Unsupported(f"unterminated string in {s!r:.80}")


def expr_end(s: str, i: int) -> int:
    """Index of the `}` closing an interpolation whose expression starts at `i`."""
    depth = 0
    while i < len(s):
        c = s[i]
        if c in "\"'":
            i = string_end(s, i + 1, c)
            continue
        if c == "{":
            depth += 1
        elif c == "}":
            if depth == 0:
                return i
            depth -= 1
        i += 1
    raise Unsupported(f"unterminated interpolation in {s!r:.80}")


def tokens(s: str) -> list[tuple[str, str]]:
    out, i = [], 0
    while True:
        m = TOKEN.match(s, i)
        if not m or m.end() == i:
            if s[i:].strip():
                raise Unsupported(f"cannot read expression at {s[i:]!r:.60}")
            return out
        kind = m.lastgroup
        if kind == "quote":
            end = string_end(s, m.end(), m.group("quote"))
            out.append(("str", s[m.end() : end - 1]))
            i = end
        else:
            out.append((kind, m.group(kind)))
            i = m.end()


class Parser:
    def __init__(self, text: str) -> None:
        self.toks = tokens(text)
        self.i = 0

    def peek(self, k: int = 0) -> tuple[str, str]:
        return self.toks[self.i + k] if self.i + k < len(self.toks) else ("end", "")

    def take(self, value: str | None = None) -> tuple[str, str]:
        tok = self.peek()
        if value is not None and tok[1] != value:
            raise Unsupported(f"expected {value!r}, found {tok[1]!r}")
        self.i += 1
        return tok

    def parse(self):
        e = self.expr()
        if self.peek()[0] != "end":
            raise Unsupported(f"unexpected {self.peek()[1]!r}")
        return e

    def expr(self):
        cond = self.binary(1)
        if self.peek()[1] == "?":
            self.take()
            yes = self.expr()
            self.take(":")
            return ("if", cond, yes, self.expr())
        return cond

    def binary(self, min_prec: int):
        left = self.unary()
        while self.peek()[0] == "op" and PRECEDENCE.get(self.peek()[1], 0) >= min_prec:
            op = self.take()[1]
            left = ("bin", op, left, self.binary(PRECEDENCE[op] + 1))
        return left

    def unary(self):
        if self.peek()[1] in ("!", "-"):
            return ("un", self.take()[1], self.unary())
        return self.postfix()

    def postfix(self):
        e = self.primary()
        while True:
            t = self.peek()
            if t[1] == "." and self.peek(1)[0] == "ident":
                self.take()
                e = ("attr", e, self.take()[1])
            elif t[1] == "." and self.peek(1)[0] == "num":
                self.take()
                e = ("index", e, ("lit", int(self.take()[1])))
            elif t[1] == "[*]":
                self.take()
                e = ("splat", e)
            elif t[1] == "[":
                self.take()
                idx = self.expr()
                self.take("]")
                e = ("index", e, idx)
            else:
                return e

    def primary(self):
        kind, value = self.take()
        if kind == "num":
            return ("lit", float(value) if "." in value else int(value))
        if kind == "str":
            return ("tmpl", value)
        if kind == "ident":
            if value in ("true", "True"):
                return ("lit", True)
            if value in ("false", "False"):
                return ("lit", False)
            if value in ("null", "None"):
                return ("lit", None)
            if self.peek()[1] == "(":
                self.take()
                args = []
                while self.peek()[1] != ")":
                    args.append(self.expr())
                    if self.peek()[1] in (",", "..."):
                        self.take()
                self.take(")")
                return ("call", value, args)
            return ("ref", value)
        if value == "(":
            e = self.expr()
            self.take(")")
            return e
        if value == "[":
            if self.peek() == ("ident", "for"):
                return self.for_expr("]")
            items = []
            while self.peek()[1] != "]":
                items.append(self.expr())
                if self.peek()[1] == ",":
                    self.take()
            self.take("]")
            return ("list", items)
        if value == "{":
            if self.peek() == ("ident", "for"):
                return self.for_expr("}")
            pairs = []
            while self.peek()[1] != "}":
                key = ("lit", self.take()[1]) if self.peek()[0] == "ident" and self.peek(1)[1] in ("=", ":") else self.expr()
                if self.peek()[1] not in ("=", ":"):
                    raise Unsupported(f"object key without value near {self.peek()[1]!r}")
                self.take()
                pairs.append((key, self.expr()))
                if self.peek()[1] == ",":
                    self.take()
            self.take("}")
            return ("object", pairs)
        raise Unsupported(f"unexpected {value!r}")

    def for_expr(self, close: str):
        self.take("for")
        names = [self.take()[1]]
        if self.peek()[1] == ",":
            self.take()
            names.append(self.take()[1])
        self.take("in")
        source = self.expr()
        self.take(":")
        key = None
        value = self.expr()
        if close == "}":
            self.take("=>")
            key, value = value, self.expr()
            if self.peek()[1] == "...":
                raise Unsupported("grouping for-expressions")
        cond = None
        if self.peek() == ("ident", "if"):
            self.take()
            cond = self.expr()
        self.take(close)
        return ("for", names, source, key, value, cond)


def unescape(s: str) -> str:
    return re.sub(r"\\(.)", lambda m: {"n": "\n", "t": "\t"}.get(m.group(1), m.group(1)), s)


class Hcl:
    """Evaluates a module's expressions (as python-hcl2 gives them). Variables
    take their defaults unless given; `stand_ins` gives, per resource address
    (`aws_sqs_queue.work`), its attributes (`arn`, `name`, ...); other
    resources evaluate to `<address.attribute>`.

    >>> module = {"variable": [{"names": {"default": [[]]}}, {"none": {"default": [None]}}]}
    >>> hcl = Hcl(module, {"names": ["a", "b"]}, "us-east-1", "1", {"aws_sqs_queue.q": {"arn": "arn:q"}})
    >>> hcl.value("${aws_sqs_queue.q.arn}", {})
    'arn:q'
    >>> hcl.value("${aws_sqs_queue.other.arn}:*", {})
    '<aws_sqs_queue.other.arn>:*'
    >>> hcl.value('${[for t in var.names : "table/${upper(t)}" if t != "b"]}', {})
    ['table/A']
    >>> hcl.value("${1 + 2 * 3 == 7 && !false || false}", {})
    True
    >>> hcl.value("${var.none == None ? 0 : length(var.names)}", {})
    0
    >>> hcl.value('${formatlist("t/%s", var.names)}', {})
    ['t/a', 't/b']
    >>> hcl.value("${jsonencode({'Action': ['sqs:SendMessage'], 'Resource': aws_sqs_queue.q.arn})}", {})
    '{"Action": ["sqs:SendMessage"], "Resource": "arn:q"}'
    """

    def __init__(
        self, module: dict, variables: dict[str, Any], region: str, account: str, stand_ins: dict[str, dict[str, str]]
    ) -> None:
        self.region, self.account, self.stand_ins = region, account, stand_ins
        self.vars: dict[str, Any] = {}
        for block in module.get("variable", []):
            for name, spec in block.items():
                if name in variables:
                    self.vars[name] = variables[name]
                elif "default" in spec:
                    self.vars[name] = self.value(spec["default"][0], {})
                else:
                    self.vars[name] = f"<var.{name}>"
        self.locals = {k: v for block in module.get("locals", []) for k, v in block.items() if not k.startswith("__")}
        self.data = {(t, n): b for block in module.get("data", []) for t, named in block.items() for n, b in named.items()}
        self.resources = {
            (t, n): b for block in module.get("resource", []) for t, named in block.items() for n, b in named.items()
        }

    # Values as python-hcl2 gives them: strings are templates.
    def value(self, v: Any, scope: dict) -> Any:
        if isinstance(v, str):
            return self.template(v, scope)
        if isinstance(v, list):
            return [self.value(x, scope) for x in v]
        if isinstance(v, dict):
            return {k: self.value(x, scope) for k, x in v.items() if not k.startswith("__")}
        return v

    def attr(self, block: dict, name: str, scope: dict, default: Any = None) -> Any:
        if name not in block:
            return default
        return self.value(block[name][0], scope)

    def template(self, s: str, scope: dict) -> Any:
        parts, i, text = [], 0, []
        while i < len(s):
            if s.startswith("$${", i):
                text.append("${")
                i += 3
            elif s.startswith("${", i):
                end = expr_end(s, i + 2)
                if text:
                    parts.append("".join(text))
                    text = []
                parts.append(self.eval(Parser(s[i + 2 : end]).parse(), scope))
                i = end + 1
            else:
                text.append(s[i])
                i += 1
        if text:
            parts.append("".join(text))
        if len(parts) == 1 and not isinstance(parts[0], str):
            return parts[0]
        if not parts:
            return ""
        return "".join(self.string(p) for p in parts) if len(parts) > 1 else parts[0]

    def string(self, v: Any) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        if v is None:
            return ""
        if isinstance(v, (list, dict)):
            raise Unsupported(f"a collection in a string template: {v!r:.60}")
        return str(v)

    def eval(self, node, scope: dict) -> Any:
        kind = node[0]
        if kind == "lit":
            return node[1]
        if kind == "tmpl":
            return self.template(unescape(node[1]), scope)
        if kind == "list":
            return [self.eval(x, scope) for x in node[1]]
        if kind == "object":
            return {self.string(self.eval(k, scope)): self.eval(v, scope) for k, v in node[1]}
        if kind == "if":
            return self.eval(node[2] if self.eval(node[1], scope) else node[3], scope)
        if kind == "un":
            v = self.eval(node[2], scope)
            return (not v) if node[1] == "!" else -v
        if kind == "bin":
            return self.binary(node[1], self.eval(node[2], scope), self.eval(node[3], scope))
        if kind == "call":
            return self.call(node[1], [self.eval(a, scope) for a in node[2]])
        if kind == "for":
            _, names, source, key, value, cond = node
            src = self.eval(source, scope)
            items = list(src.items()) if isinstance(src, dict) else list(enumerate(src))
            out_list, out_map = [], {}
            for k, v in items:
                inner = dict(scope)
                if len(names) == 2:
                    inner[names[0]], inner[names[1]] = k, v
                else:
                    inner[names[0]] = v
                if cond is not None and not self.eval(cond, inner):
                    continue
                if key is None:
                    out_list.append(self.eval(value, inner))
                else:
                    out_map[self.string(self.eval(key, inner))] = self.eval(value, inner)
            return out_list if key is None else out_map
        if kind == "splat":
            base = self.eval(node[1], scope)
            return base if isinstance(base, list) else [base]
        path = self.static_path(node)
        if path is not None and path[0] not in scope:
            return self.resolve(path, scope)
        if kind == "ref":
            return scope[node[1]]
        if kind == "attr":
            base = self.eval(node[1], scope)
            if isinstance(base, list):  # after a splat
                return [b[node[2]] for b in base]
            return base[node[2]]
        if kind == "index":
            base, idx = self.eval(node[1], scope), self.eval(node[2], scope)
            return base[idx]
        raise Unsupported(f"expression {node!r:.80}")

    def static_path(self, node) -> list | None:
        if node[0] == "ref":
            return [node[1]]
        if node[0] == "attr":
            base = self.static_path(node[1])
            return None if base is None else base + [node[2]]
        if node[0] == "index" and node[2][0] == "lit":
            base = self.static_path(node[1])
            return None if base is None else base + [node[2][1]]
        return None

    def resolve(self, path: list, scope: dict) -> Any:
        head = path[0]
        if head == "var":
            return traverse(self.vars[path[1]], path[2:])
        if head == "local":
            return traverse(self.value(self.locals[path[1]][0] if isinstance(self.locals[path[1]], list) else self.locals[path[1]], {}), path[2:])
        if head in ("each", "count"):
            return traverse(scope[f"{head}"], path[1:])
        if head == "path":
            return "."
        if head == "data":
            return self.data_source(path[1], path[2], [p for p in path[3:] if not isinstance(p, int)])
        if len(path) >= 2:
            rest = [p for p in path[2:] if not isinstance(p, int)]
            attrs = self.stand_ins.get(f"{head}.{path[1]}", {})
            if rest and rest[0] in attrs:
                return traverse(attrs[rest[0]], rest[1:])
            return "<" + ".".join(str(p) for p in path) + ">"
        raise Unsupported(f"reference {'.'.join(map(str, path))}")

    def data_source(self, kind: str, name: str, rest: list) -> Any:
        attr = rest[0] if rest else ""
        if kind == "aws_partition":
            return {"partition": "aws", "dns_suffix": "amazonaws.com", "id": "aws"}.get(attr, f"<{attr}>")
        if kind == "aws_region":
            return self.region
        if kind == "aws_caller_identity":
            return self.account if attr in ("account_id", "id") else f"<{attr}>"
        if kind == "aws_iam_policy_document" and attr in ("json", "minified_json"):
            return json.dumps(self.policy_document(name))
        return f"<data.{kind}.{name}.{attr}>"

    def policy_document(self, name: str) -> dict:
        block = self.data[("aws_iam_policy_document", name)]
        statements = []

        def one(st: dict, scope: dict) -> dict:
            out = {"Effect": self.attr(st, "effect", scope, "Allow")}
            if "sid" in st:
                out["Sid"] = self.attr(st, "sid", scope)
            for key, field in (("actions", "Action"), ("not_actions", "NotAction"), ("resources", "Resource"), ("not_resources", "NotResource")):
                if key in st:
                    out[field] = self.attr(st, key, scope)
            if "condition" in st:
                out["Condition"] = "(not evaluated)"
            return out

        for st in block.get("statement", []):
            statements.append(one(st, {}))
        for dyn in block.get("dynamic", []):
            for label, spec in dyn.items():
                if label != "statement":
                    continue
                iterator = self.attr(spec, "iterator", {}, "statement")
                source = self.attr(spec, "for_each", {})
                items = source.items() if isinstance(source, dict) else enumerate(source)
                for k, v in items:
                    for content in spec.get("content", []):
                        statements.append(one(content, {iterator: {"key": k, "value": v}}))
        for key in ("source_policy_documents", "override_policy_documents"):
            for doc in self.attr(block, key, {}, []) or []:
                statement = json.loads(doc).get("Statement", [])
                statements += statement if isinstance(statement, list) else [statement]
        return {"Version": "2012-10-17", "Statement": statements}

    def binary(self, op: str, a: Any, b: Any) -> Any:
        ops = {
            "==": lambda: a == b,
            "!=": lambda: a != b,
            "&&": lambda: bool(a) and bool(b),
            "||": lambda: bool(a) or bool(b),
            "<": lambda: a < b,
            "<=": lambda: a <= b,
            ">": lambda: a > b,
            ">=": lambda: a >= b,
            "+": lambda: a + b,
            "-": lambda: a - b,
            "*": lambda: a * b,
            "/": lambda: a / b,
            "%": lambda: a % b,
        }
        return ops[op]()

    def call(self, name: str, args: list) -> Any:
        funcs = {
            "length": lambda x: len(x),
            "concat": lambda *xs: [v for x in xs for v in x],
            "compact": lambda x: [v for v in x if v not in ("", None)],
            "flatten": lambda x: flatten(x),
            "distinct": lambda x: list(dict.fromkeys(x)),
            "toset": lambda x: sorted(dict.fromkeys(x), key=str),
            "tolist": lambda x: list(x),
            "tomap": lambda x: dict(x),
            "tostring": lambda x: self.string(x),
            "tonumber": lambda x: float(x) if "." in str(x) else int(x),
            "formatlist": lambda f, *xs: [fmt(f, *vals) for vals in zip(*[x if isinstance(x, list) else [x] * max(len(y) for y in xs if isinstance(y, list)) for x in xs])],
            "format": lambda f, *xs: fmt(f, *xs),
            "join": lambda d, x: d.join(self.string(v) for v in x),
            "split": lambda d, s: s.split(d),
            "lower": lambda s: s.lower(),
            "upper": lambda s: s.upper(),
            "trimspace": lambda s: s.strip(),
            "trimsuffix": lambda s, x: s[: -len(x)] if x and s.endswith(x) else s,
            "trimprefix": lambda s, x: s[len(x) :] if s.startswith(x) else s,
            "trim": lambda s, cs: s.strip(cs),
            "chomp": lambda s: s.rstrip("\r\n"),
            "substr": lambda s, o, n: s[o:] if n < 0 else s[o : o + n],
            "regex": lambda r, s: regex(r, s),
            "regexall": lambda r, s: [m.group(0) for m in re.finditer(r, s)],
            "reverse": lambda x: list(reversed(x)),
            "slice": lambda x, a, b: x[a:b],
            "index": lambda x, v: x.index(v),
            "range": lambda *a: list(range(*a)),
            "zipmap": lambda k, v: dict(zip(k, v)),
            "coalescelist": lambda *xs: next((x for x in xs if x), []),
            "replace": lambda s, a, b: s.replace(a, b),
            "merge": lambda *ms: {k: v for m in ms for k, v in m.items()},
            "contains": lambda x, v: v in x,
            "keys": lambda m: sorted(m),
            "values": lambda m: [m[k] for k in sorted(m)],
            "lookup": lambda m, k, *d: m.get(k, d[0] if d else None),
            "element": lambda x, i: x[i % len(x)],
            "coalesce": lambda *xs: next((x for x in xs if x not in ("", None)), None),
            "jsonencode": lambda x: json.dumps(x),
            "jsondecode": lambda s: json.loads(s),
            "one": lambda x: x[0] if x else None,
            "sort": lambda x: sorted(x),
            "startswith": lambda s, p: s.startswith(p),
            "endswith": lambda s, p: s.endswith(p),
            "min": lambda *xs: min(xs),
            "max": lambda *xs: max(xs),
            "floor": lambda x: int(x // 1),
            "abs": lambda x: abs(x),
            "filebase64sha256": lambda p: f"<hash of {p}>",
            "can": lambda x: True,
            "try": lambda *xs: xs[0],
        }
        if name not in funcs:
            raise Unsupported(f"function {name}()")
        return funcs[name](*args)

    def instances(self, block: dict) -> list[dict]:
        """The scopes of a resource's instances (count, for_each)."""
        if "count" in block:
            return [{"count": {"index": i}} for i in range(int(self.attr(block, "count", {})))]
        if "for_each" in block:
            src = self.attr(block, "for_each", {})
            items = src.items() if isinstance(src, dict) else ((v, v) for v in src)
            return [{"each": {"key": k, "value": v}} for k, v in items]
        return [{}]


def regex(pattern: str, s: str) -> Any:
    m = re.search(pattern, s)
    if not m:
        raise Unsupported(f"regex({pattern!r}) does not match {s!r}")
    if m.groupdict():
        return m.groupdict()
    return list(m.groups()) if m.groups() else m.group(0)


def traverse(value: Any, rest: list) -> Any:
    for p in rest:
        value = value[p]
    return value


def flatten(x: Any) -> list:
    return [w for v in x for w in (flatten(v) if isinstance(v, list) else [v])]


def fmt(f: str, *args: Any) -> str:
    args_iter = iter(args)
    return re.sub(r"%[sdv]", lambda m: str(next(args_iter)), f.replace("%%", "\0")).replace("\0", "%")


if __name__ == "__main__":
    parse(sys.argv[1])
