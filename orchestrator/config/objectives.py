"""Objectives named by import path: ``"package.module:function"`` -> the callable."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from orchestrator.errors import ObjectiveImportError, did_you_mean


def resolve_objective(path: str, where: str = "objective") -> Callable[..., Any]:
    """Import ``"package.module:function"`` and return the callable."""
    if not isinstance(path, str) or path.count(":") != 1:
        raise ObjectiveImportError(
            f"{where}: expected an import path 'module:function', got {path!r}"
        )
    module_name, attr = path.split(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        raise ObjectiveImportError(
            f"{where}: cannot import module {module_name!r} ({exc}); run sweep from the folder "
            "that contains it, or install it"
        ) from None
    except Exception as exc:
        raise ObjectiveImportError(
            f"{where}: importing {module_name!r} failed: {type(exc).__name__}: {exc}"
        ) from None
    target: Any = module
    for part in attr.split("."):
        if not hasattr(target, part):
            options = [n for n in dir(module) if not n.startswith("_")]
            raise ObjectiveImportError(
                f"{where}: module {module_name!r} has no attribute {attr!r}"
                f"{did_you_mean(attr, options)}"
            )
        target = getattr(target, part)
    if not callable(target):
        raise ObjectiveImportError(f"{where}: {path!r} is not callable")
    return target
