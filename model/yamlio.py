"""YAML reading that remembers where every key came from.

Scenario and sweep files are validated by pydantic; to tell a user *where* a bad value is, we
keep, for every key path, the file and line it was read from. This module turns YAML into plain
Python data plus a ``{path: (file, line)}`` map, merges ``extends:`` chains, applies ``--set``
overrides, and formats pydantic errors as ``file:line: key.path: message``.
"""

from __future__ import annotations

import difflib
import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

Path_ = tuple[str | int, ...]
LineMap = dict[Path_, tuple[str, int | None]]

MAX_NODES = 200_000  # refuse YAML alias bombs and absurdly large files
MAX_BYTES = 5_000_000
MAX_EXTENDS_DEPTH = 10
MAX_DEPTH = 50  # nesting levels of mappings and lists (scenario files need about 6)


@dataclass(frozen=True)
class ConfigIssue:
    """One problem found in a configuration file."""

    file: str
    line: int | None
    path: str
    value: Any
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        key = f" {self.path}:" if self.path else ""
        shown = "" if self.value is _MISSING else f" got {_short(self.value)};"
        return f"{where}:{key}{shown} {self.message}{_decomposed_hint(self.path, self.value)}"


def _decomposed_hint(path: str, value: Any) -> str:
    """A note for text with decomposed accents (Unicode NFD, as some editors and macOS file names
    write it): it looks the same as the usual (NFC) spelling but is other text, so a name or key in it
    is "unknown" next to an allowed one that reads identically."""
    texts = [t for t in (path, value) if isinstance(t, str) and not unicodedata.is_normalized("NFC", t)]
    if not texts:
        return ""
    return (f" (note: {_short(texts[0])} is written with decomposed accents, Unicode NFD: it looks like "
            f"{_short(unicodedata.normalize('NFC', texts[0]))} typed normally but is different text; retype it, "
            "or save the file in NFC)")


def _folded(text: str) -> str:
    """``text`` without accents, case or punctuation: 'KCN Yên Bình' and 'kcn_yen_binh' fold alike."""
    plain = unicodedata.normalize("NFKD", text.replace("đ", "d").replace("Đ", "D"))  # K: 'ｆｉ', 'ﬁ' read as 'fi'
    plain = "".join(c for c in plain if not unicodedata.combining(c)).casefold()
    return re.sub(r"[^0-9a-z]+", "_", plain).strip("_")


def tag_hint(ctx: Mapping[str, Any]) -> str:
    """``did_you_mean`` for pydantic's ``union_tag_invalid`` error (its tags come as one quoted string)."""
    return did_you_mean(ctx.get("tag"), re.findall(r"'([^']+)'", str(ctx.get("expected_tags", ""))))


def did_you_mean(value: Any, allowed: Iterable[str], names: Mapping[str, str] | None = None) -> str:
    """' (did you mean 'x'?)' for the allowed choice closest to a misspelt ``value``, or ''.

    ``names`` maps a choice to its display name (a park's 'KCN Yên Bình' for 'tn_yen_binh'), so that
    a name typed where the id belongs, accents or not, points at the id.
    """
    if not isinstance(value, str) or not value.strip():
        return ""
    forms: dict[str, str] = {}
    for choice in allowed:
        forms.setdefault(_folded(choice), choice)
        if names and names.get(choice):
            forms.setdefault(_folded(names[choice]), choice)
    forms.pop("", None)
    want = _folded(value)
    if want in forms:
        best = forms[want]
    else:
        close = difflib.get_close_matches(want, list(forms), n=1, cutoff=0.6)
        if not close:
            return ""
        best = forms[close[0]]
    return "" if best == value else f" (did you mean {best!r}?)"


class _Missing:
    def __repr__(self) -> str:
        return "<missing>"


_MISSING: Any = _Missing()


class ConfigError(ValueError):
    """Invalid configuration; ``str(err)`` is the message to show a user (one line per issue)."""

    def __init__(self, issues: Iterable[ConfigIssue]):
        self.errors = list(issues)
        super().__init__("\n".join(str(i) for i in self.errors))


def _short(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def format_path(path: Path_) -> str:
    """Render ``('policies', 0, 'budget')`` as ``policies[0].budget``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that also refuses duplicate keys (PyYAML silently keeps the last one)."""


def _node_to_data(node: yaml.Node, file: str, path: Path_, lines: LineMap, budget: list[int]) -> Any:
    budget[0] -= 1
    if budget[0] < 0:
        raise ConfigError([ConfigIssue(file, node.start_mark.line + 1, format_path(path), _MISSING,
                                       f"file too complex (more than {MAX_NODES} YAML nodes)")])
    lines[path] = (file, node.start_mark.line + 1)
    plain = {yaml.MappingNode: "tag:yaml.org,2002:map", yaml.SequenceNode: "tag:yaml.org,2002:seq"}.get(type(node))
    if plain is not None and node.tag != plain:  # a scalar's unknown tag is refused by its constructor
        raise ConfigError([ConfigIssue(file, node.start_mark.line + 1, format_path(path), _MISSING,
                                       f"YAML tag {node.tag!r} is not allowed: write plain lists and mappings")])
    if len(path) > MAX_DEPTH:
        raise ConfigError([ConfigIssue(file, node.start_mark.line + 1, format_path(path[:3]) + " ...", _MISSING,
                                       f"nested more than {MAX_DEPTH} levels deep")])
    if isinstance(node, yaml.MappingNode):
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                raise ConfigError([ConfigIssue(file, key_node.start_mark.line + 1, format_path(path), _MISSING,
                                               "YAML merge keys (<<: *anchor) are not supported: write the keys "
                                               "out, or build on another file with extends:")])
            key = yaml.constructor.SafeConstructor().construct_object(key_node) if not isinstance(
                key_node, yaml.ScalarNode) else _construct_scalar(key_node, key=True)
            if not isinstance(key, str):
                raise ConfigError([ConfigIssue(file, key_node.start_mark.line + 1, format_path(path),
                                               key, "keys must be text")])
            if key in out:
                raise ConfigError([ConfigIssue(file, key_node.start_mark.line + 1,
                                               format_path(path + (key,)), _MISSING,
                                               "duplicate key (each key may appear once)")])
            out[key] = _node_to_data(value_node, file, path + (key,), lines, budget)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_node_to_data(v, file, path + (i,), lines, budget) for i, v in enumerate(node.value)]
    return _construct_scalar(node)


_FLOAT_1_2 = re.compile(r"^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$")
_OCTAL_1_1 = re.compile(r"^[-+]?0[0-7_]+$")
_OCTAL_1_2 = re.compile(r"^0o[0-7]+$")


def _construct_scalar(node: yaml.Node, key: bool = False) -> Any:
    # a bare constructor, not a loader: a loader keeps its parser state as bound methods, a reference
    # cycle that left ~140 loaders a scenario read for the garbage collector (0.1 MB a sweep run)
    # YAML turns 2023-01-15 into a date (and 2023-02-30 into a ValueError traceback); scenario dates
    # are text "YYYY-MM", so keep anything that looks like a timestamp as text, for the validator.
    if node.tag == "tag:yaml.org,2002:timestamp":
        return node.value
    value = yaml.constructor.SafeConstructor().construct_object(node, deep=True)
    # YAML 1.1 (PyYAML) reads 1e-3 and 2.5e3 as text (it wants a dot and a signed exponent); YAML 1.2
    # and everyone writing them mean numbers. Only unquoted values: '1e-3' in quotes, or a key, stays text.
    if not key and isinstance(value, str) and node.style is None and _FLOAT_1_2.match(value):
        return float(value)
    # YAML 1.1 also reads 017 as octal 15 and 1:30 as base 60 (90): numbers nobody meant. Read as
    # YAML 1.2 does, and as people do: 017 is 17, 1:30 is text, 0o17 is octal.
    if node.style is None and isinstance(value, int | float) and not isinstance(value, bool):
        if ":" in node.value:
            return node.value
        if _OCTAL_1_1.match(node.value):
            return int(node.value.replace("_", ""), 10)
    if not key and isinstance(value, str) and node.style is None and _OCTAL_1_2.match(value):
        return int(value[2:], 8)
    return value


def read_yaml(path: str | Path) -> tuple[Any, LineMap]:
    """Read one YAML file into plain data and a line map; raise ConfigError on any problem."""
    file = str(path)
    raw = _read_bounded(Path(path), file)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise ConfigError([ConfigIssue(file, raw[: err.start].count(b"\n") + 1, "", _MISSING,
                                       f"not UTF-8 text (byte {err.start}: 0x{raw[err.start]:02x}); save the "
                                       "file as UTF-8")]) from None
    return _parse(text, file)


def _read_bounded(p: Path, file: str) -> bytes:
    """A regular file's bytes, refused past MAX_BYTES without reading more (a FIFO or device never is read)."""
    try:
        if p.exists() and not p.is_file():
            what = "a folder" if p.is_dir() else "not a regular file (a pipe or device?)"
            raise ConfigError([ConfigIssue(file, None, "", _MISSING, f"cannot read: {what}")])
        with p.open("rb") as fh:
            raw = fh.read(MAX_BYTES + 1)
    except FileNotFoundError:
        raise ConfigError([ConfigIssue(file, None, "", _MISSING, "file not found")]) from None
    except OSError as err:
        raise ConfigError([ConfigIssue(file, None, "", _MISSING, f"cannot read: {err.strerror}")]) from None
    if len(raw) > MAX_BYTES:
        raise ConfigError([ConfigIssue(file, None, "", _MISSING,
                                       f"file is larger than {MAX_BYTES // 1_000_000} MB")])
    return raw


def _parse(text: str, file: str, path: Path_ = (), lines: LineMap | None = None) -> tuple[Any, LineMap]:
    """YAML text to plain data, with the line of every key (at ``path`` and below), within the limits."""
    try:
        node = yaml.compose(text, Loader=_StrictLoader)
    except RecursionError:
        raise ConfigError([ConfigIssue(file, None, format_path(path), _MISSING,
                                       f"YAML nested too deeply (at most {MAX_DEPTH} levels)")]) from None
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        line = mark.line + 1 if mark else None
        if line is None and getattr(err, "position", None) is not None:  # a character the reader refuses
            line = text[: err.position].count("\n") + 1
        problem = getattr(err, "problem", None) or getattr(err, "reason", None) or str(err)
        if "'\\t'" in problem:
            problem += " (a tab: YAML indents with spaces only)"
        raise ConfigError([ConfigIssue(file, line, format_path(path), _MISSING, f"YAML syntax error: {problem}")]) from None
    lines = {} if lines is None else lines
    if node is None:
        lines[path] = (file, 1)
        return ({} if not path else None), lines
    try:
        data = _node_to_data(node, file, path, lines, [MAX_NODES])
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        raise ConfigError([ConfigIssue(file, mark.line + 1 if mark else None, format_path(path), _MISSING,
                                       f"YAML error: {getattr(err, 'problem', err)}")]) from None
    if not path and not isinstance(data, dict):
        raise ConfigError([ConfigIssue(file, 1, "", data, "the file must be a mapping of keys to values")])
    return data, lines


# what a file of each kind has at its top, and where it goes
FILE_KINDS = {
    "scenario": (("geography", "lead_firms", "firm_groups"), "give it to `clusterlink run FILE`"),
    "sweep": (("base", "uncertain", "design"), "give it to `clusterlink sweep FILE`"),
    "calibration": (("parameters", "targets", "search"), "give it to `clusterlink calibrate FILE`"),
    "geography": (("districts", "locations", "provinces"), "name it in a scenario's geography: key"),
}


def wrong_kind(data: Any, lines: LineMap, file: str, expected: str) -> list[ConfigIssue]:
    """The one issue of a file of another kind given where a file of kind ``expected`` goes (a sweep
    file to ``run``, say), in place of a line for every key the expected kind does not have."""
    if not isinstance(data, dict) or any(k in data for k in FILE_KINDS[expected][0]):
        return []
    for kind, (keys, where) in FILE_KINDS.items():
        found = [k for k in keys if k in data]
        if kind != expected and len(found) >= 2:
            line = lines.get((found[0],), (file, 1))[1]
            return [ConfigIssue(file, line, "", _MISSING, (
                f"this is a {kind} file (it has {', '.join(found)}), not a {expected} file: {where}"))]
    return []


def deep_merge(base: Any, override: Any) -> Any:
    """Merge ``override`` into ``base``: mappings merge key by key, anything else is replaced."""
    if isinstance(base, Mapping) and isinstance(override, Mapping):
        out = dict(base)
        for key, value in override.items():
            out[key] = deep_merge(base[key], value) if key in base else value
        return out
    return override


def merge_lines(base: LineMap, override: LineMap, override_data: Any) -> LineMap:
    """Line map of ``deep_merge``: the override's lines win; replaced subtrees drop the base's lines."""
    replaced = [p for p in override if p and not isinstance(_get(override_data, p), Mapping)]
    out = {p: loc for p, loc in base.items()
           if not any(p[: len(r)] == r and len(p) > len(r) for r in replaced)}
    out.update(override)
    return out


def _get(data: Any, path: Path_) -> Any:
    for part in path:
        data = data[part]
    return data


def load_with_extends(path: str | Path, _depth: int = 0, _seen: tuple[str, ...] = ()) -> tuple[dict, LineMap]:
    """Read a file and the chain of files it ``extends:`` (relative paths are from the file)."""
    p = Path(path).resolve()
    if str(p) in _seen:
        raise ConfigError([ConfigIssue(str(path), None, "extends", _MISSING,
                                       "circular 'extends:' chain: " + " -> ".join(_seen + (str(p),)))])
    if _depth > MAX_EXTENDS_DEPTH:
        raise ConfigError([ConfigIssue(str(path), None, "extends", _MISSING,
                                       f"'extends:' chain deeper than {MAX_EXTENDS_DEPTH}")])
    data, lines = read_yaml(path)
    parent = data.pop("extends", None)
    if parent is None:
        return data, lines
    if not isinstance(parent, str):
        raise ConfigError([ConfigIssue(str(path), lines.get(("extends",), (None, None))[1], "extends",
                                       parent, "must be the path of another scenario file")])
    parent_path = (Path(path).parent / parent)
    try:
        base, base_lines = load_with_extends(parent_path, _depth + 1, _seen + (str(p),))
    except ConfigError as err:
        raise referenced_file_error(err, parent_path, str(path), lines, ("extends",), parent) from None
    lines.pop(("extends",), None)
    return deep_merge(base, data), merge_lines(base_lines, lines, data)


def referenced_file_error(err: ConfigError, target: Path, file: str, lines: LineMap, key: Path_,
                          value: Any) -> ConfigError:
    """``err`` raised reading ``target``; if ``target`` itself is missing or unreadable, say so at
    the line of ``file`` that names it (``extends:``, ``geography:``). Other errors pass unchanged."""
    if len(err.errors) == 1 and err.errors[0].file == str(target) and err.errors[0].line is None:
        origin, line = lines.get(key, (file, None))
        try:
            shown = target.resolve()
        except (OSError, RuntimeError):
            shown = target
        return ConfigError([ConfigIssue(origin, line, format_path(key), value,
                                        f"{err.errors[0].message} ({shown})")])
    return err


KEY_PATH_FORM = "KEY.PATH, list items by index as policies.0.budget or policies[0].budget"
_KEY_PATH = re.compile(r"[^.\[\]]+(\.[^.\[\]]+|\[-?\d+\])*")
_KEY_PART = re.compile(r"\[(-?\d+)\]|([^.\[\]]+)")


def parse_key_path(key: str) -> list[str | int]:
    """``policies.0.budget`` or ``policies[0].budget`` (the form messages print) as
    ``['policies', 0, 'budget']``; ValueError naming the accepted form if it is neither."""
    text = key.strip()
    if not _KEY_PATH.fullmatch(text):
        raise ValueError(f"malformed key path {text!r}; expected {KEY_PATH_FORM}")
    return [int(index) if index else int(name) if name.lstrip("-").isdigit() else name
            for index, name in _KEY_PART.findall(text)]


def apply_overrides(data: dict, lines: LineMap, overrides: Iterable[str]) -> dict:
    """Apply ``a.b.c=VALUE`` overrides (VALUE parsed as YAML; list items by index: ``a.0.b`` or
    ``a[0].b``, see ``parse_key_path``)."""
    issues = []
    for text in overrides:
        if "=" not in text:
            issues.append(ConfigIssue("--set", None, text, _MISSING, "expected KEY.PATH=VALUE"))
            continue
        key, raw = text.split("=", 1)
        try:
            parts = parse_key_path(key)
        except ValueError as err:
            issues.append(ConfigIssue("--set", None, key, _MISSING, str(err)))
            continue
        try:
            value = _parse(raw, "--set", tuple(parts), {})[0] if raw.strip() else ""
        except ConfigError as err:
            if not any(i.message.startswith("YAML syntax error") for i in err.errors):  # too large, too deep
                issues.extend(ConfigIssue("--set", None, format_path(tuple(parts)), _MISSING,
                                          i.message.replace("file too complex", "value too complex"))
                              for i in err.errors)
                continue
            value = raw  # not YAML: the text itself
        try:
            path = _set_value(data, parts, value, lines)
        except _NoSuchPath as err:
            issues.append(ConfigIssue("--set", None, format_path(tuple(parts)), value,
                                      f"this path does not exist in the scenario: {err}"))
            continue
        for p in [p for p in lines if p[: len(path)] == path]:
            del lines[p]
        lines[path] = ("--set", None)
    if issues:
        raise ConfigError(issues)
    return data


class _NoSuchPath(LookupError):
    pass


def _step(target: Any, part: str | int, done: Path_) -> tuple[Any, str | int]:
    """The key or index ``part`` of ``target`` as stored (negative list indexes count from the end)."""
    if isinstance(target, list):
        if not isinstance(part, int):
            raise _NoSuchPath(f"{format_path(done) or 'the scenario'} is a list; use an item index, not {part!r} "
                              f"(e.g. {format_path(done)}.0 or {format_path(done + (0,))})")
        if not -len(target) <= part < len(target):
            raise _NoSuchPath(f"{format_path(done)} has {len(target)} item{'s' if len(target) != 1 else ''}"
                              + (f" (indexes 0 .. {len(target) - 1}, or -{len(target)} .. -1 from the end)"
                                 if target else "") + f"; no item {part}")
        return target, part % len(target)
    if isinstance(target, dict):
        return target, str(part)  # YAML keys are text
    raise _NoSuchPath(f"{format_path(done)} is a single value ({_short(target)}), not a mapping or a list")


def _set_value(data: dict, parts: list[str | int], value: Any, lines: LineMap) -> Path_:
    """Set ``data[parts...] = value``, creating missing mappings; return the path as stored."""
    target: Any = data
    done: Path_ = ()
    for k, part in enumerate(parts):
        target, key = _step(target, part, done)
        last = k == len(parts) - 1
        if isinstance(target, dict) and key not in target and not last:
            if isinstance(parts[k + 1], int):
                raise _NoSuchPath(f"{format_path(done + (key,))} is not in the scenario, so it has no item {parts[k + 1]}")
            target[key] = {}
            lines[done + (key,)] = ("--set", None)
        done += (key,)
        if last:
            target[key] = value
        else:
            target = target[key]
    return done


def locate(data: Any, loc: Iterable[Any], lines: LineMap, default_file: str) -> tuple[str, int | None, Path_, Any]:
    """Map a pydantic error location to (file, line, data path, value at that path)."""
    path: Path_ = ()
    node: Any = data
    value: Any = _MISSING
    found = True
    for part in loc:
        if not found:  # below a missing key: keep naming the rest of the path
            if isinstance(part, int) or "[" not in str(part):
                path += (part,)
            continue
        if isinstance(node, Mapping) and part in node:
            node = node[part]
            path += (part,)
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            node = node[part]
            path += (part,)
        elif isinstance(node, Mapping) and node.get("type") == part:
            continue  # the tag pydantic adds for a discriminated union
        else:
            found = False  # a required key that is missing, or a default the file does not spell out
            if isinstance(part, int) or "[" not in str(part):
                path += (part,)
    if found:
        value = node
    probe = path
    while probe not in lines and probe:
        probe = probe[:-1]
    file, line = lines.get(probe, (default_file, None))
    return file, line, path, value
