"""Conditional status writes: a status write goes through only if the status is still what the pass read.

kopf writes a handler's ``patch`` as a JSON merge patch, which wins whatever happened meanwhile. With two
replicas that is not enough: a leader that was deposed while a pass ran (stalled, cut off, slow) would
overwrite what the new leader wrote, and a rollout's status is all there is to resume it from. So the
operator writes status itself, as a JSON patch (RFC 6902) to the status subresource that first *tests* every
top-level status field the writer owns against the value it read (``null`` for a field it did not see), then
sets the fields that changed. If anything moved, the API server refuses the whole patch (422) and nothing is
written; the next pass starts from the status as it is.

Why not a ``resourceVersion`` test, as kopf does for finalizers: kopf's own writes (finalizer, progress and
diff-base annotations) move the resourceVersion of the same object all the time, and so does a ``kubectl
annotate``; a status that nobody else touched must not be refused for them.

Who owns what: the rollout owns every status field but ``follow``; following (``spec.follow``) owns
``follow``; a ScaleSetImageRollout's status belongs wholly to the fleet pass. ``leader`` (the replica that
wrote last) is always tested, so a deposed leader's write fails as soon as the new leader has written once.

A written status reaches the process's own watch stream a little later; until it does, the body kopf hands
the next pass is one write behind. :class:`WrittenStatus` remembers each object's last write, so that the
next pass starts from what was written, not from the stale copy (which would fail its test anyway, but only
after deciding on old facts).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

Owned = Callable[[str], bool]
"""Which top-level status fields a writer owns (tests and sets)."""
LEADER_FIELD = "leader"


def rollout_owned(key: str) -> bool:
    return key != "follow"


def follow_owned(key: str) -> bool:
    return key == "follow"


def all_owned(key: str) -> bool:
    return True


def _pointer(key: str) -> str:
    return "/status/" + key.replace("~", "~0").replace("/", "~1")


def owned_part(status: Mapping[str, Any], owned: Owned) -> dict[str, Any]:
    return {key: value for key, value in status.items() if owned(key)}


def status_patch_ops(old: Mapping[str, Any], new: Mapping[str, Any], owned: Owned) -> list[dict[str, Any]]:
    """The JSON patch that turns the owned part of ``old`` into that of ``new`` if, and only if, the status on
    the server still has ``old``'s owned fields (and no owned field ``old`` lacks). Empty: nothing to write."""
    changes: list[dict[str, Any]] = []
    for key in sorted(new):
        if owned(key) and (key not in old or old[key] != new[key]):
            changes.append({"op": "add", "path": _pointer(key), "value": new[key]})
    for key in sorted(old):
        if owned(key) and key not in new:
            changes.append({"op": "remove", "path": _pointer(key)})
    if not changes:
        return []
    if not old:
        # No status read at all: the only thing to test is that there still is none.
        return [{"op": "test", "path": "/status", "value": None}, {"op": "add", "path": "/status", "value": dict(new)}]
    keys = {key for key in (*old, *new, LEADER_FIELD) if owned(key)}
    tests = [{"op": "test", "path": _pointer(key), "value": old.get(key)} for key in sorted(keys)]
    return tests + changes


@dataclass
class WrittenStatus:
    """Each object's last status write (owned part before and after), until the watch stream shows it."""

    _last: dict[tuple[str, str], tuple[dict[str, Any], dict[str, Any]]] = field(default_factory=dict)

    def wrote(self, kind: str, uid: str, before: Mapping[str, Any], after: Mapping[str, Any], owned: Owned) -> None:
        self._last[(kind, uid)] = (owned_part(before, owned), owned_part(after, owned))

    def freshest(self, kind: str, uid: str, status: Mapping[str, Any], owned: Owned) -> dict[str, Any]:
        """``status`` as the watch delivered it, or with the owned part this process wrote since, if the watch
        has not caught up with that write yet."""
        last = self._last.get((kind, uid))
        if last is None:
            return dict(status)
        before, after = last
        mine = owned_part(status, owned)
        if mine == before and before != after:
            return {**{k: v for k, v in status.items() if not owned(k)}, **after}
        del self._last[(kind, uid)]  # caught up, or someone else wrote since: the watch's copy is the news
        return dict(status)

    def forget(self, uid: str) -> None:
        for key in [key for key in self._last if key[1] == uid]:
            del self._last[key]
