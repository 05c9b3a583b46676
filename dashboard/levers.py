"""Policy levers as controls, generated from the scenario schema (``model.policy_schema``).

Every block of the ``Policy`` union becomes a lever. Its fields become controls by their type:
a number with ``ge``/``le`` bounds a slider (in Mesa's ``UserInputs`` format), a bool a switch, a
``YYYY-MM`` month a select over the horizon, a ``Literal`` a select, a per-skill triple three
sliders, and a required name (institution, lead firm) a select over the scenario's names. Lists
and mappings (parks, roads, targeted provinces) keep their defaults: set them in a scenario file.
"""

from __future__ import annotations

import json
import types
import typing
from dataclasses import dataclass, field
from typing import Any, Literal, get_args, get_origin

from pydantic import BaseModel

from model.policy_schema import Policy
from model.scenario import Scenario

SKIP = ("type", "label", "end", "budget")
SLIDER_SPAN = 4.0  # a slider reaches at most this many times the default (within the schema's bounds)


@dataclass
class Control:
    """One control of a lever: ``path`` is the field (``extra_graduates.engineer`` for nested)."""

    path: str
    kind: str  # "SliderInt", "SliderFloat", "switch", "select"
    value: Any
    label_key: str
    lo: float | None = None
    hi: float | None = None
    step: float | None = None
    choices: list[str] = field(default_factory=list)

    def mesa_spec(self, label: str) -> dict[str, Any]:
        """The control in the format of Mesa's ``solara_viz.UserInputs``."""
        return {"type": self.kind, "value": self.value, "min": self.lo, "max": self.hi, "step": self.step,
                "label": label}


def lever_classes() -> dict[str, type[BaseModel]]:
    """lever type → its pydantic block, from the ``Policy`` union."""
    union = get_args(Policy)[0]
    return {get_args(cls.model_fields["type"].annotation)[0]: cls for cls in get_args(union)}


def _bounds(info) -> tuple[float | None, float | None]:
    lo = hi = None
    for m in info.metadata:
        lo = getattr(m, "ge", None) if getattr(m, "ge", None) is not None else lo
        hi = getattr(m, "le", None) if getattr(m, "le", None) is not None else hi
    return lo, hi


def _slider(path: str, label_key: str, info, integer: bool, default: Any) -> Control | None:
    lo, hi = _bounds(info)
    if lo is None or hi is None:
        return None
    base = default if isinstance(default, int | float) else 0
    if hi - lo > SLIDER_SPAN * max(abs(base), 1) * 2:
        hi = min(hi, lo + max(SLIDER_SPAN * abs(base), 10 if integer else 1))
    step = 1 if integer else _nice_step((hi - lo) / 100)
    value = min(max(base, lo), hi)
    return Control(path, "SliderInt" if integer else "SliderFloat", int(value) if integer else float(value),
                   label_key, lo, hi, step)


def _nice_step(raw: float) -> float:
    exp = 10 ** int(f"{raw:e}".split("e")[1])
    return float(next(m * exp for m in (1, 2, 5, 10) if m * exp >= raw))


def _plain(ann: Any) -> Any:
    """``X | None`` → X (None when the field is optional of a list/dict)."""
    if get_origin(ann) in (typing.Union, types.UnionType):
        args = [a for a in get_args(ann) if a is not type(None)]
        return args[0] if len(args) == 1 else None
    return ann


def controls_for(cls: type[BaseModel], sc: Scenario, months: list[str]) -> list[Control]:
    """The controls of one lever, from its schema; empty if a required name has no choices."""
    names = {"institution": [i.name for i in sc.institutions], "firm": [f.name for f in sc.lead_firms]}
    out: list[Control] = []
    for name, info in cls.model_fields.items():
        if name in SKIP:
            continue
        ann = _plain(info.annotation)
        default = None if info.is_required() else info.get_default(call_default_factory=True)
        if ann is bool:
            out.append(Control(name, "switch", bool(default), f"field.{name}"))
        elif ann in (int, float):
            ctl = _slider(name, f"field.{name}", info, ann is int, default)
            if ctl:
                out.append(ctl)
        elif get_origin(ann) is Literal:
            out.append(Control(name, "select", default, f"field.{name}", choices=[str(a) for a in get_args(ann)]))
        elif name == "start":
            out.append(Control(name, "select", months[min(3, len(months) - 1)], "field.start", choices=months))
        elif name in names:
            if not names[name]:
                return []
            out.append(Control(name, "select", names[name][0], f"field.{name}", choices=names[name]))
        elif isinstance(ann, type) and issubclass(ann, BaseModel):
            for sub, sub_info in ann.model_fields.items():
                ctl = _slider(f"{name}.{sub}", f"field.{sub}", sub_info, False, 0)
                if ctl:
                    ctl.hi = min(sub_info.metadata[-1].le if sub_info.metadata else 1000, 2000.0)
                    ctl.step = 10.0
                    out.append(ctl)
    return out


def block(lever: str, values: dict[str, Any]) -> dict[str, Any]:
    """A policy block (as scenario data) from a lever's control values."""
    out: dict[str, Any] = {"type": lever}
    for path, value in values.items():
        head, _, sub = path.partition(".")
        if sub:
            out.setdefault(head, {})[sub] = value
        else:
            out[head] = value
    return out


def overrides(sc: Scenario, end: str, blocks: list[dict[str, Any]]) -> list[str]:
    """``--set`` strings for a live run: the horizon, monthly snapshots, and the added levers."""
    kept = [p.model_dump(mode="json", exclude_none=True) for p in sc.policies]
    return [f"end={end}", "recording.snapshot_every=1", "policies=" + json.dumps(kept + blocks, ensure_ascii=False)]


def choice_label(tr, value: Any) -> str:
    """A select's choice in words (``choice.<value>`` in ``dashboard.i18n``), else the value itself."""
    key = f"choice.{value}"
    text = tr(key)
    return str(value) if text == key else text
