"""A list of subspaces searched as one conditional space.

scikit-learn's ``param_distributions`` may be a list of dicts (each dict a subspace: a
candidate draws one subspace, then its parameters), and an estimator task's ``space:`` may be
a list of subspaces (one per estimator class, say). Both become one
:class:`~orchestrator.search.space.SearchSpace` with conditions (:func:`combine`):

- a **selector** choice picks the subspace, uniformly (as ``RandomizedSearchCV`` picks a
  dict). When one parameter is a single, different value in every subspace (``kernel:
  [rbf]`` / ``kernel: [poly]``, one estimator class per subspace), that parameter is the
  selector, with those values; otherwise a hidden choice over the subspace indices, under a
  name no subspace uses (``subspace``), which the estimator never receives;
- each subspace's parameters are conditional on the selector (``when={selector: [...]}``);
  a parameter with the same range or list in several subspaces is one dimension, active in
  those; with different ones, a dimension per subspace (``C_s0``, ``C_s1``) that sets the one
  parameter ``C``;
- conditions inside a subspace name its own parameters and are kept (renamed).

A space of lists alone stays a space of lists, drawn without replacement over its valid
combinations: the union of the subspaces' grids, as ``RandomizedSearchCV`` draws it.
:meth:`Subspaces.to_user` turns a configuration of the combined space back into the
subspace's own parameter names and the values as given.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from orchestrator.search.space import (
    INACTIVE,
    RESERVED_NAMES,
    Choice,
    Dimension,
    SearchSpace,
    choice_key,
    encode_choice,
)
from orchestrator.search.trials import decode_column

#: The hidden selector's name, unless a subspace uses it (then ``subspace_``, ...).
SELECTOR = "subspace"


@dataclass(frozen=True)
class Subspaces:
    """A combined space and the way back to the subspaces' own names.

    ``names`` maps each parameter of ``space`` to the name it sets (None: the hidden
    selector, which sets nothing); ``given`` maps a choice's stored text (its JSON) to the
    value as given, per parameter of ``space`` (an estimator object, a tuple, ...).
    """

    space: SearchSpace
    names: Mapping[str, str | None]
    given: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    selector: str | None = None  # the parameter that picks the subspace (None: one subspace)

    @classmethod
    def single(
        cls, space: SearchSpace, given: Mapping[str, Mapping[str, Any]] | None = None
    ) -> Subspaces:
        """One space: every parameter sets itself."""
        return cls(space, {name: name for name in space}, dict(given or {}))

    @property
    def hidden(self) -> bool:
        """Whether the selector is a parameter of no subspace (the estimator never sees it)."""
        return self.selector is not None and self.names[self.selector] is None

    def value(self, name: str, value: Any) -> Any:
        """A stored value of ``name`` as it was given."""
        originals = self.given.get(name)
        if not originals:
            return value
        try:
            return originals.get(encode_choice(value), value)
        except ValueError:
            return value

    def to_user(self, config: Mapping[str, Any]) -> dict[str, Any]:
        """A configuration of :attr:`space` (inactive parameters left out) in the
        subspaces' own names, with the values as given; the hidden selector left out."""
        out: dict[str, Any] = {}
        for name, value in config.items():
            target = self.names.get(name, name)
            if target is not None and value is not INACTIVE:
                out[target] = self.value(name, value)
        return out

    def configs(self, table: pa.Table) -> list[dict[str, Any]]:
        """Each row's configuration of :attr:`space`, inactive parameters left out (rows in
        the table's order)."""
        columns = {name: decode_column(dim, table.column(name)) for name, dim in self.space.items()}
        return [
            {name: values[i] for name, values in columns.items() if values[i] is not INACTIVE}
            for i in range(table.num_rows)
        ]


@dataclass
class _Group:
    """Subspaces sharing one dimension of a parameter."""

    dim: Dimension
    indices: list[int]
    given: Mapping[str, Any] | None


def _same_dim(a: Dimension, b: Dimension) -> bool:
    if a.when or b.when or type(a) is not type(b):
        return False  # a condition names a subspace's own parameters: never shared
    if isinstance(a, Choice) and isinstance(b, Choice):
        return [choice_key(v) for v in a.values] == [choice_key(v) for v in b.values]
    return a == b


def _same_given(a: Mapping[str, Any] | None, b: Mapping[str, Any] | None) -> bool:
    if not a or not b:
        return not a and not b
    if a.keys() != b.keys():
        return False
    for key, x in a.items():
        y = b[key]
        if x is y:
            continue
        try:
            if type(x) is not type(y) or not bool(x == y):
                return False
        except Exception:  # an array, or an object that does not compare
            return False
    return True


def unique_name(base: str, taken: set[str]) -> str:
    """``base``, or ``base_``, ``base__``, ... - the first not in ``taken`` (nor a column of
    the trial table)."""
    name = base
    while name in taken or name in RESERVED_NAMES:
        name += "_"
    return name


def _single_valued_selector(subspaces: Sequence[Mapping[str, Dimension]]) -> str | None:
    """A parameter that is one value in every subspace, a different one in each."""
    for name in subspaces[0]:
        dims = [sub.get(name) for sub in subspaces]
        if not all(isinstance(d, Choice) and len(d.values) == 1 and not d.when for d in dims):
            continue
        keys = {choice_key(d.values[0]) for d in dims if isinstance(d, Choice)}
        if len(keys) == len(subspaces):
            return name
    return None


def combine(
    subspaces: Sequence[Mapping[str, Dimension]],
    given: Sequence[Mapping[str, Mapping[str, Any]]] | None = None,
    *,
    where: Callable[[int], str] = lambda i: f"subspace {i}",
) -> Subspaces:
    """Subspaces (each a mapping of names to dimensions, checked like a space; ``given``:
    per subspace, the values as given of its choices by stored text) -> one conditional
    space (see the module docstring). A stored text must stand for the same value wherever
    a name uses it. ``where(i)`` names subspace ``i`` in error messages."""
    if not subspaces:
        raise ValueError("the list of subspaces is empty; give at least one")
    given = list(given) if given is not None else [{} for _ in subspaces]
    checked: list[Mapping[str, Dimension]] = []
    for i, sub in enumerate(subspaces):
        try:
            checked.append(SearchSpace(sub) if (sub or len(subspaces) == 1) else {})
        except ValueError as exc:
            raise ValueError(f"{where(i)}: {exc}") from None
    if len(checked) == 1:
        return Subspaces.single(SearchSpace(checked[0]), given[0])
    n = len(checked)
    every = [name for sub in checked for name in sub]
    users = list(dict.fromkeys(every))
    natural = _single_valued_selector(checked)
    if natural is not None:
        selector = natural
        chosen = [sub[natural].values[0] for sub in checked]  # type: ignore[union-attr]
        selector_given: dict[str, Any] = {}
        for part in given:
            selector_given.update(part.get(natural) or {})
    else:
        selector = unique_name(SELECTOR, set(users))
        chosen = list(range(n))
        selector_given = {}
    groups: dict[str, list[_Group]] = {}
    for i, sub in enumerate(checked):
        for name, dim in sub.items():
            if name == natural:
                continue
            mine = given[i].get(name)
            for group in groups.setdefault(name, []):
                if _same_dim(group.dim, dim) and _same_given(group.given, mine):
                    group.indices.append(i)
                    break
            else:
                groups[name].append(_Group(dim, [i], mine))
    taken = {*users, selector}
    internal: dict[int, dict[str, str]] = {i: {} for i in range(n)}  # subspace -> own -> space
    named: list[tuple[str, str, _Group]] = []
    for name, parts in groups.items():
        for group in parts:
            key = name if len(parts) == 1 else unique_name(f"{name}_s{group.indices[0]}", taken)
            taken.add(key)
            named.append((key, name, group))
            for i in group.indices:
                internal[i][name] = key
    dims: dict[str, Dimension] = {selector: Choice(chosen, name=selector)}
    names: dict[str, str | None] = {selector: natural}
    out_given: dict[str, Mapping[str, Any]] = {selector: selector_given} if selector_given else {}
    for key, name, group in named:
        when: dict[str, list[Any]] = {}
        own = group.indices[0]
        for parent, values in group.dim.when:  # only an unshared dimension has a condition
            if parent != natural:  # (one on the selector holds: its subspace was checked)
                when[internal[own][parent]] = list(values)
        if len(group.indices) < n:
            when[selector] = [chosen[i] for i in group.indices]
        dims[key] = dataclasses.replace(group.dim, name=key, when=when)
        names[key] = name
        if group.given:
            out_given[key] = group.given
    try:
        space = SearchSpace(dims)
    except ValueError as exc:  # a name the subspaces could not share (a reserved one, ...)
        raise ValueError(f"the combined subspaces: {exc}") from None
    return Subspaces(space, names, out_given, selector)
