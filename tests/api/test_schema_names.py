"""Every schema of the API has a name of its own: OpenAPI keeps one component per name, so a second
``AdverseEventOut`` in another router silently replaced the first in the published schema (clients
and schemathesis then validated a patient's adverse events against the study's shape)."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from collections import defaultdict

from ninja import Schema

import exoderm.api


def test_no_two_api_schemas_share_a_name():
    modules_of = defaultdict(list)
    for info in pkgutil.iter_modules(exoderm.api.__path__):
        module = importlib.import_module(f"exoderm.api.{info.name}")
        for name, value in vars(module).items():
            if inspect.isclass(value) and issubclass(value, Schema) and value.__module__ == module.__name__:
                modules_of[name].append(module.__name__)
    assert {name: modules for name, modules in modules_of.items() if len(modules) > 1} == {}
