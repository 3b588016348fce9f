"""The package as an editor sees it: type stubs that name every public function, class and
parameter, docstrings everywhere, and the `py.typed` marker."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import flowlake

PACKAGE = Path(flowlake.__file__).parent


def stub_tree() -> dict[str, ast.AST]:
    tree = ast.parse((PACKAGE / "__init__.pyi").read_text())
    return {node.name: node for node in tree.body if isinstance(node, (ast.ClassDef, ast.FunctionDef))}


def parameters(node: ast.FunctionDef) -> set[str]:
    args = node.args
    return {a.arg for a in args.posonlyargs + args.args + args.kwonlyargs} - {"self"}


def test_the_package_is_marked_typed():
    assert (PACKAGE / "py.typed").exists()


def test_stubs_name_every_public_class_and_function():
    stubs = stub_tree()
    public = {name for name, value in vars(flowlake).items()
              if not name.startswith("_") and (inspect.isclass(value) or inspect.isfunction(value))}
    assert public == set(stubs)


def test_stubs_give_every_parameter_of_the_functions_and_methods():
    stubs = stub_tree()
    storage = {"endpoint", "region", "access_key_id", "secret_access_key", "allow_http", "virtual_hosted_style",
               "max_retries", "retry_timeout"}
    assert storage == set(flowlake._flowlake.STORAGE_OPTIONS)
    for name in ("ingest", "compact"):
        runtime = set(inspect.signature(getattr(flowlake, name)).parameters) - {"storage"}
        assert parameters(stubs[name]) == runtime | storage, name
    methods = {node.name: node for node in stubs["Lake"].body if isinstance(node, ast.FunctionDef)}
    for name, node in methods.items():
        if isinstance(vars(flowlake.Lake)[name], property):
            continue
        runtime = set(inspect.signature(getattr(flowlake.Lake, name)).parameters) - {"self", "storage"}
        expected = runtime | storage if name == "__init__" else runtime
        assert parameters(node) == expected, name


def test_every_public_callable_has_a_docstring():
    for name in ["Lake", "ingest", "compact", "Error", "PayloadError", "NotFound", "NotImplemented",
                 "InternalError", "Unavailable"]:
        assert inspect.getdoc(getattr(flowlake, name)), name
    for name, member in vars(flowlake.Lake).items():
        if not name.startswith("_"):
            assert inspect.getdoc(member), name
    assert flowlake.__version__
