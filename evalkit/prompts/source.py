"""Reading a reference Python file without running it: an :mod:`ast` view that evaluates the string
expressions a prompt is built from (literals, implicit concatenation, f-strings whose fields are
known placeholders, ``str.join``, names assigned once in scope, argparse defaults) into the
normalised template form of :mod:`evalkit.prompts.templates`."""

from __future__ import annotations

import ast
from typing import Any, Callable, Optional

from evalkit.errors import ConfigError
from evalkit.prompts.templates import escape, placeholder

#: request keywords recorded (the model is a fact, not hashed: the judge config picks it)
SAMPLING_KEYWORDS = ("temperature", "max_tokens", "top_p", "n", "presence_penalty", "frequency_penalty",
                     "seed", "stop")


class ExtractionError(ConfigError):
    """A reference file whose shape the extractor does not recognise (message names file:line)."""


Placeholders = Callable[[ast.AST], Optional[str]]


class Source:
    def __init__(self, text: str, path: str) -> None:
        self.path = path
        try:
            self.tree = ast.parse(text, filename=path)
        except SyntaxError as e:
            raise ExtractionError(f"{path}:{e.lineno}: not valid Python ({e.msg})") from None
        self.parent: dict[ast.AST, ast.AST] = {}
        for node in ast.walk(self.tree):
            for child in ast.iter_child_nodes(node):
                self.parent[child] = node

    def err(self, node: Optional[ast.AST], msg: str) -> ExtractionError:
        line = getattr(node, "lineno", "?") if node is not None else "?"
        return ExtractionError(f"{self.path}:{line}: {msg}")

    def function_of(self, node: ast.AST) -> Optional[ast.FunctionDef]:
        """The function whose body holds ``node`` (defaults and decorators belong outside)."""
        prev, cur = node, self.parent.get(node)
        while cur is not None:
            if isinstance(cur, (ast.FunctionDef, ast.AsyncFunctionDef)) and prev in cur.body:
                return cur  # type: ignore[return-value]
            prev, cur = cur, self.parent.get(cur)
        return None

    def assignments(self, name: str, scope: Optional[ast.AST]) -> list[tuple[int, ast.expr]]:
        """(line, value) of ``name = value`` in ``scope`` (a function, or None = module level)."""
        out = []
        for node in ast.walk(scope if scope is not None else self.tree):
            if self.function_of(node) is not scope:
                continue
            if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == name for t in node.targets):
                out.append((node.lineno, node.value))
            elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.target.id == name \
                    and node.value is not None:
                out.append((node.lineno, node.value))
        return sorted(out, key=lambda x: x[0])

    def resolve(self, node: ast.Name) -> list[ast.expr]:
        """What ``node`` may hold where it is used: the nearest earlier assignment in its function,
        the arguments passed for it at the call sites when it is a parameter, else the module's
        assignment.  Raises when nothing is found."""
        fn = self.function_of(node)
        if fn is not None:
            params = [a.arg for a in fn.args.args]
            if node.id in params:
                return self._call_site_args(fn, params.index(node.id), node.id)
            local = [v for line, v in self.assignments(node.id, fn) if line <= node.lineno]
            if local:
                return [local[-1]]
            module = self.assignments(node.id, None)
            if len({ast.dump(v) for _, v in module}) == 1:
                return [module[-1][1]]
            raise self.err(node, f"cannot tell which value of {node.id!r} is used here")
        earlier = [v for line, v in self.assignments(node.id, None) if line <= node.lineno]
        if not earlier:
            raise self.err(node, f"no assignment to {node.id!r} before its use")
        return [earlier[-1]]

    def _call_site_args(self, fn: ast.FunctionDef, index: int, name: str) -> list[ast.expr]:
        """What is passed for a parameter at each call site (its default where it is not)."""
        n_args = len(fn.args.args)
        default = (fn.args.defaults[index - (n_args - len(fn.args.defaults))]
                   if index >= n_args - len(fn.args.defaults) else None)
        found: list[ast.expr] = []
        calls = [c for c in ast.walk(self.tree)
                 if isinstance(c, ast.Call) and isinstance(c.func, ast.Name) and c.func.id == fn.name]
        for call in calls:
            if index < len(call.args):
                found.append(call.args[index])
            elif any(k.arg == name for k in call.keywords):
                found += [k.value for k in call.keywords if k.arg == name]
            elif default is not None:
                found.append(default)
        if not calls and default is not None:
            found.append(default)
        if not found:
            raise self.err(fn, f"parameter {name!r} of {fn.name}() is never passed")
        return found

    def argparse_default(self, dest: str, where: ast.AST) -> Any:
        node = self.argparse_default_node(dest, where)
        return None if node is None else self.value(node)

    def argparse_default_node(self, dest: str, where: ast.AST) -> Optional[ast.expr]:
        """The ``default=`` expression of the command-line option stored in ``args.<dest>``."""
        for call in ast.walk(self.tree):
            if not (isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute)
                    and call.func.attr == "add_argument"):
                continue
            opts = [a.value for a in call.args if isinstance(a, ast.Constant) and isinstance(a.value, str)]
            kw = {k.arg: k.value for k in call.keywords}
            explicit = kw.get("dest")
            longs = [o for o in opts if o.startswith("--")]
            name = (explicit.value if isinstance(explicit, ast.Constant) else
                    (longs[0] if longs else (opts[0] if opts else "")).lstrip("-").replace("-", "_"))
            if name == dest:
                return kw.get("default")
        raise self.err(where, f"no command-line option {dest!r} with a default")

    # -- values and templates -------------------------------------------------------------------
    def value(self, node: ast.expr) -> Any:
        """A literal value (number/string/bool/None), following names and argparse defaults."""
        if isinstance(node, ast.Constant):
            return node.value
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub) and isinstance(node.operand, ast.Constant):
            return -node.operand.value
        if isinstance(node, ast.Name):
            vals = [self.value(v) for v in self.resolve(node)]
            if any(v != vals[0] for v in vals):
                raise self.err(node, f"{node.id!r} takes different values at its call sites: {vals}")
            return vals[0]
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "args":
            return self.argparse_default(node.attr, node)
        raise self.err(node, f"expected a literal value, found {type(node).__name__}")

    def text(self, node: ast.expr) -> str:
        """A plain string built only from literals (no placeholders)."""
        tmpl = self.template(node, lambda n: None)
        return tmpl.replace("{{", "{").replace("}}", "}")

    def template(self, node: ast.expr, ph: Placeholders) -> str:
        """The normalised template of a string expression."""
        name = ph(node)
        if name is not None:
            return placeholder(name)
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            return escape(node.value)
        if isinstance(node, ast.JoinedStr):
            out = []
            for part in node.values:
                if isinstance(part, ast.Constant) and isinstance(part.value, str):
                    out.append(escape(part.value))
                elif isinstance(part, ast.FormattedValue):
                    if part.conversion != -1 or part.format_spec is not None:
                        raise self.err(part, "f-string field with a conversion or format spec is not supported")
                    inner = ph(part.value)
                    if inner is None:
                        raise self.err(part, f"f-string field {ast.unparse(part.value)!r} is not a known placeholder")
                    out.append(placeholder(inner))
                else:  # pragma: no cover - the parser only produces the two above
                    raise self.err(part, "unexpected f-string part")
            return "".join(out)
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
            return self.template(node.left, ph) + self.template(node.right, ph)
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "args":
            default = self.argparse_default_node(node.attr, node)
            if default is None:
                raise self.err(node, f"command-line option {node.attr!r} has no default text")
            return self.template(default, ph)
        if isinstance(node, ast.Name):
            got = [self.template(v, ph) for v in self.resolve(node)]
            if any(g != got[0] for g in got):
                raise self.err(node, f"{node.id!r} holds different text at its call sites")
            return got[0]
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "join"
                and isinstance(node.func.value, ast.Constant) and isinstance(node.func.value.value, str)
                and len(node.args) == 1 and isinstance(node.args[0], (ast.List, ast.Tuple)) and not node.keywords):
            sep = escape(node.func.value.value)
            return sep.join(self.template(e, ph) for e in node.args[0].elts)
        raise self.err(node, f"unsupported expression in a prompt: {ast.unparse(node)[:80]!r}")

    # -- chat calls -----------------------------------------------------------------------------
    def chat_calls(self) -> list[ast.Call]:
        """``<client>.create(..., messages=...)`` calls, in file order."""
        calls = [n for n in ast.walk(self.tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute)
                 and n.func.attr == "create" and any(k.arg == "messages" for k in n.keywords)]
        return sorted(calls, key=lambda c: (c.lineno, c.col_offset))

    def messages(self, call: ast.Call, ph: Placeholders) -> list[dict[str, str]]:
        node: ast.expr = next(k.value for k in call.keywords if k.arg == "messages")
        if isinstance(node, ast.Name):
            vals = self.resolve(node)
            if len(vals) != 1:
                raise self.err(node, "messages built in more than one place")
            node = vals[0]
        if not isinstance(node, (ast.List, ast.Tuple)):
            raise self.err(node, "messages is not a list literal")
        out = []
        for d in node.elts:
            if not isinstance(d, ast.Dict):
                raise self.err(d, "a message is not a dict literal")
            keys = [k.value if isinstance(k, ast.Constant) else None for k in d.keys]
            if sorted(map(str, keys)) != ["content", "role"]:
                raise self.err(d, f"a message has keys {keys}, expected role and content")
            parts = dict(zip(keys, d.values))
            out.append({"role": self.text(parts["role"]), "content": self.template(parts["content"], ph)})
        return out

    def request(self, call: ast.Call) -> tuple[dict[str, Any], dict[str, Any]]:
        """(sampling arguments the call passes, facts such as the model)."""
        sampling: dict[str, Any] = {}
        facts: dict[str, Any] = {}
        for k in call.keywords:
            if k.arg == "model":
                facts["model"] = self.value(k.value)
            elif k.arg in SAMPLING_KEYWORDS:
                sampling[k.arg] = self.value(k.value)
        return sampling, facts


def name_map(mapping: dict[str, str]) -> Placeholders:
    def ph(node: ast.AST) -> Optional[str]:
        return mapping.get(node.id) if isinstance(node, ast.Name) else None
    return ph


def subscript_key(node: ast.AST) -> Optional[tuple[str, str]]:
    """``var['key']`` -> (var, key)."""
    if isinstance(node, ast.Subscript) and isinstance(node.value, ast.Name) and isinstance(node.slice, ast.Constant) \
            and isinstance(node.slice.value, str):
        return node.value.id, node.slice.value
    return None
