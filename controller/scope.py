"""Which namespaces may point the operator's Azure identity at which scale sets (the scope policy).

Without a policy, any ScaleSetImage may target any scale set the identity reaches (the single-team case).
With one, everything not allowed is denied: a rule names the namespaces it applies to and, optionally, the
cloud profiles, subscriptions, resource groups and scale-set names their resources may target, each as
shell-style patterns (``web-*``). A resource is allowed when one rule matches it on every field the rule
names. The decision uses the namespace the resource lives in, which the resource cannot choose, and
``spec.scaleSet``, which is immutable once created; never labels or annotations.

```yaml
scopePolicy:
  rules:
    - name: team-web
      namespaces: [web, web-*]
      subscriptions: ["00000000-0000-0000-0000-000000000001"]
      resourceGroups: [rg-web*]
    - name: platform
      namespaces: [platform]            # any scale set the identity reaches
```
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from typing import Any

_RULE_KEYS = {"name", "namespaces", "clouds", "subscriptions", "resourceGroups", "scaleSets"}


class ScopePolicyError(ValueError):
    """The scopePolicy section cannot be read."""


@dataclass(frozen=True)
class ScopeRule:
    name: str
    namespaces: tuple[str, ...]
    clouds: tuple[str, ...] = ()  # empty: any
    subscriptions: tuple[str, ...] = ()
    resource_groups: tuple[str, ...] = ()
    scale_sets: tuple[str, ...] = ()

    def mismatch(self, target: ScopeTarget) -> str | None:
        """The first field of ``target`` this rule does not allow (in words), or None when it allows it all."""
        for what, patterns, value in (
            ("cloud profile", self.clouds, target.cloud),
            ("subscription", self.subscriptions, target.subscription_id),
            ("resource group", self.resource_groups, target.resource_group),
            ("scale set", self.scale_sets, target.scale_set),
        ):
            if patterns and not _matches(patterns, value):
                return f"{what} {value} (allowed: {', '.join(patterns)})"
        return None


@dataclass(frozen=True)
class ScopeTarget:
    """What a resource asks for: the namespace it lives in, and the scale set it names."""

    namespace: str
    cloud: str
    subscription_id: str
    resource_group: str
    scale_set: str

    def describe(self) -> str:
        return (
            f"scale set {self.scale_set} in resource group {self.resource_group} of subscription "
            f"{self.subscription_id} (cloud profile {self.cloud})"
        )


@dataclass(frozen=True)
class ScopePolicy:
    rules: tuple[ScopeRule, ...]

    def denial(self, target: ScopeTarget) -> str | None:
        """None when a rule allows ``target``; else why not, naming the rules that apply to its namespace."""
        applying = [r for r in self.rules if _matches(r.namespaces, target.namespace)]
        if not applying:
            return (
                f"No scope rule allows namespace {target.namespace} (the operator's scopePolicy denies what no "
                f"rule allows), so it may not target {target.describe()}."
            )
        misses: list[str] = []
        for rule in applying:
            miss = rule.mismatch(target)
            if miss is None:
                return None
            misses.append(f"rule {rule.name!r} does not allow {miss}")
        return f"Namespace {target.namespace} may not target {target.describe()}: {'; '.join(misses)}."


def _matches(patterns: tuple[str, ...], value: str) -> bool:
    # Case-sensitive for namespaces (Kubernetes names are lower case); Azure names compare case-insensitively.
    return any(fnmatch.fnmatchcase(value.lower(), p.lower()) for p in patterns)


def parse_scope_policy(raw: Any) -> ScopePolicy | None:
    """The ``scopePolicy`` section; None when absent (no policy: everything is allowed)."""
    if raw is None:
        return None
    if not isinstance(raw, dict) or set(raw) - {"rules"}:
        raise ScopePolicyError("scopePolicy: expected a mapping with 'rules'")
    rules_raw = raw.get("rules") or []
    if not isinstance(rules_raw, list):
        raise ScopePolicyError("scopePolicy.rules: expected a list")
    rules: list[ScopeRule] = []
    names: set[str] = set()
    for index, item in enumerate(rules_raw):
        where = f"scopePolicy.rules[{index}]"
        if not isinstance(item, dict):
            raise ScopePolicyError(f"{where}: expected a mapping")
        unknown = set(item) - _RULE_KEYS
        if unknown:
            raise ScopePolicyError(f"{where}: unknown keys {sorted(unknown)} (allowed: {sorted(_RULE_KEYS)})")
        name = str(item.get("name") or f"rule-{index}")
        if name in names:
            raise ScopePolicyError(f"{where}: the rule name {name!r} is used twice")
        names.add(name)
        fields = {key: _patterns(item.get(key), f"{where}.{key}") for key in _RULE_KEYS - {"name"}}
        if not fields["namespaces"]:
            raise ScopePolicyError(f"{where}: namespaces is required (the namespaces the rule applies to)")
        rules.append(
            ScopeRule(
                name=name,
                namespaces=fields["namespaces"],
                clouds=fields["clouds"],
                subscriptions=fields["subscriptions"],
                resource_groups=fields["resourceGroups"],
                scale_sets=fields["scaleSets"],
            )
        )
    return ScopePolicy(tuple(rules))


def _patterns(value: Any, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise ScopePolicyError(f"{where}: expected a list of non-empty strings (shell-style patterns)")
    return tuple(value)
