"""Reading a YAML document that practice and IT staff wrote: forms and patient content.

They are written in a text editor, so they are read as staff mean them rather than as YAML
1.1 does: ``on: 2026-12-01`` is the key ``on`` (not ``True``), ``no:`` stays Norwegian (only
``true`` and ``false`` are booleans), ``10:00`` stays a time (not the base-60 number 600),
and a key written twice in one mapping is a fault instead of the last one silently winning
(a second ``prompt:`` pasted below the first would otherwise replace it unseen). A document is
at most :data:`MAX_DOCUMENT_BYTES` (what one MQTT blob carries whole), UTF-8. Every fault is
the caller's :class:`~healthhub.protocol.texts.DocumentInvalid` subclass, naming the file and,
for bad YAML, the line.
"""

from __future__ import annotations

from collections.abc import Hashable
from pathlib import Path
from typing import Any, Final

import yaml

from healthhub.protocol.texts import DocumentInvalid

#: One document whole: a blob on the broker is at most 256 KiB.
MAX_DOCUMENT_BYTES: Final = 256 * 1024


class _StaffLoader(yaml.SafeLoader):
    """PyYAML's safe loader with the YAML 1.1 surprises taken out (see the module's text)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Hashable, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag.endswith(":merge"):
                continue
            key = self.construct_object(key_node)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    "while reading a mapping",
                    node.start_mark,
                    f"the key {key!r} is given twice in one mapping",
                    key_node.start_mark,
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def _true_false_only(loader: _StaffLoader, node: yaml.ScalarNode) -> bool | str:
    word = loader.construct_scalar(node)
    return {"true": True, "false": False}.get(word.lower(), word)


def _no_base_60_int(loader: _StaffLoader, node: yaml.ScalarNode) -> int | str:
    if ":" in str(node.value):
        return loader.construct_scalar(node)
    return loader.construct_yaml_int(node)


def _no_base_60_float(loader: _StaffLoader, node: yaml.ScalarNode) -> float | str:
    if ":" in str(node.value):
        return loader.construct_scalar(node)
    return loader.construct_yaml_float(node)


_StaffLoader.add_constructor("tag:yaml.org,2002:bool", _true_false_only)
_StaffLoader.add_constructor("tag:yaml.org,2002:int", _no_base_60_int)
_StaffLoader.add_constructor("tag:yaml.org,2002:float", _no_base_60_float)


def read_yaml_document(
    path: Path,
    name: str,
    error: type[DocumentInvalid],
    *,
    limit: int = MAX_DOCUMENT_BYTES,
) -> Any:
    """The YAML document at ``path``, called ``name`` in errors (as staff see it:
    ``info/bmi.yaml``). Anything that stops it being read is an ``error`` naming the file."""
    try:
        with path.open("rb") as handle:
            data = handle.read(limit + 1)
    except OSError as exc:
        raise error(name, f"cannot be read: {exc.strerror or exc}") from None
    if len(data) > limit:
        raise error(name, f"is over {limit // 1024} KiB, the limit for one document: split it")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise error(
            name, f"is not UTF-8 text (byte {exc.start}): save it again choosing UTF-8"
        ) from None
    return parse_yaml(text, name, error)


def parse_yaml(text: str, name: str, error: type[DocumentInvalid]) -> Any:
    """``text`` read as a staff-written YAML document (see the module's text)."""
    try:
        return _load(text)
    except yaml.MarkedYAMLError as exc:  # the place is the line: where staff look
        mark = exc.problem_mark or exc.context_mark
        place = name if mark is None else f"{name}: line {mark.line + 1}"
        raise error(place, f"is not valid YAML: {exc.problem or exc.context}") from None
    except yaml.reader.ReaderError as exc:
        code = exc.character
        shown = f"{code:#04x}" if isinstance(code, int) else repr(code)
        raise error(
            name,
            f"has a character YAML does not allow (code {shown}) at character {exc.position}: "
            "save it again as plain UTF-8 text",
        ) from None
    except yaml.YAMLError as exc:
        raise error(name, f"is not valid YAML: {' '.join(str(exc).split())}") from None
    except RecursionError:
        raise error(name, "is nested too deeply to be read") from None


def _load(text: str) -> Any:
    loader = _StaffLoader(text)  # reads the first characters: a NUL is a ReaderError here
    try:
        return loader.get_single_data()
    finally:
        loader.dispose()
