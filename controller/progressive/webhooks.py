"""One webhook call: a POST with a JSON description of the rollout step, bounded by a timeout."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import aiohttp

_BODY_SHOWN = 200


@dataclass(frozen=True)
class HookAnswer:
    status: int | None  # None: no answer (unreachable, timed out)
    message: str


async def call_webhook(
    session: aiohttp.ClientSession, url: str, payload: dict[str, Any], seconds: float, token: str | None = None
) -> HookAnswer:
    """POST ``payload`` to ``url``; the answer's status and the start of its body, or why there was none."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        async with session.post(
            url, json=payload, headers=headers, timeout=aiohttp.ClientTimeout(total=seconds), allow_redirects=False
        ) as response:
            text = (await response.text(errors="replace"))[:_BODY_SHOWN].strip()
            return HookAnswer(response.status, f"HTTP {response.status}" + (f": {text}" if text else ""))
    except TimeoutError:
        return HookAnswer(None, f"no answer within {seconds:g}s")
    except aiohttp.ClientError as exc:
        return HookAnswer(None, f"call failed: {exc.__class__.__name__}: {exc}")
