"""The scope policy (issue 16): which namespaces may target which scale sets, decided from the namespace.

Aspects: no policy allows everything; with one, what no rule allows is denied (an empty rule list denies
all); a rule must match every field it names; the denial names the namespace, the target and the rules
that apply; patterns are shell-style, Azure names compare case-insensitively; bad policies are refused
with the key at fault; the operator re-reads a changed policy from its configuration file (a mounted
ConfigMap changes in place) and fails closed on one it cannot read.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from controller.config import ConfigError, OperatorConfig, parse_config
from controller.operator import OperatorContext
from controller.scope import ScopeTarget, parse_scope_policy

SUB = "00000000-0000-0000-0000-000000000001"
OTHER_SUB = "00000000-0000-0000-0000-000000000002"
RULES = {
    "rules": [
        {"name": "team-web", "namespaces": ["web", "web-*"], "subscriptions": [SUB], "resourceGroups": ["rg-web*"]},
        {"name": "platform", "namespaces": ["platform"]},
    ]
}


def target(namespace: str = "web", sub: str = SUB, rg: str = "rg-web", name: str = "vmss-web") -> ScopeTarget:
    return ScopeTarget(namespace, "azure-public", sub, rg, name)


def test_no_policy_allows_everything() -> None:
    assert OperatorConfig().scope is None
    assert parse_scope_policy(None) is None


@pytest.mark.parametrize(
    ("t", "allowed"),
    [
        (target(), True),
        (target("web-canary", rg="RG-WEB-2"), True),  # pattern on the namespace; Azure names case-insensitive
        (target("platform", OTHER_SUB, "rg-anything", "any"), True),  # a rule with only namespaces
        (target(rg="rg-db"), False),
        (target(sub=OTHER_SUB), False),
        (target("db"), False),  # no rule for the namespace: default deny
        (target("webx"), False),
    ],
)
def test_a_rule_must_match_every_field_it_names(t: ScopeTarget, allowed: bool) -> None:
    policy = parse_scope_policy(RULES)
    assert policy is not None
    assert (policy.denial(t) is None) == allowed


def test_a_denial_says_which_rule_does_not_allow_what() -> None:
    policy = parse_scope_policy(RULES)
    assert policy is not None
    message = policy.denial(target(rg="rg-db")) or ""
    assert "rule 'team-web' does not allow resource group rg-db (allowed: rg-web*)" in message
    assert "Namespace web may not target scale set vmss-web in resource group rg-db" in message
    default = policy.denial(target("db")) or ""
    assert "No scope rule allows namespace db" in default


def test_an_empty_rule_list_denies_every_namespace() -> None:
    policy = parse_scope_policy({"rules": []})
    assert policy is not None
    assert policy.denial(target("platform")) is not None


@pytest.mark.parametrize(
    ("raw", "words"),
    [
        ({"rules": [{"name": "a"}]}, "namespaces is required"),
        ({"rules": [{"namespaces": ["a"], "scaleset": ["x"]}]}, "unknown keys ['scaleset']"),
        ({"rules": [{"name": "a", "namespaces": ["a"]}, {"name": "a", "namespaces": ["b"]}]}, "used twice"),
        ({"rules": [{"namespaces": [""]}]}, "non-empty strings"),
        ({"allow": []}, "expected a mapping with 'rules'"),
    ],
)
def test_a_bad_policy_is_refused_with_the_key_at_fault(raw: object, words: str) -> None:
    with pytest.raises(ConfigError, match="scopePolicy") as caught:
        parse_config({"scopePolicy": raw})
    assert words in str(caught.value)


def test_the_operator_reads_a_changed_policy_and_fails_closed_on_a_broken_one(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text("scopePolicy: {rules: [{name: web, namespaces: [web]}]}\n", encoding="utf-8")
    config = parse_config({"scopePolicy": {"rules": [{"name": "web", "namespaces": ["web"]}]}})
    ctx = OperatorContext(config=config, config_path=str(path))
    assert ctx.scope_denial(target()) is None

    def rewrite(text: str, tick: int) -> None:
        path.write_text(text, encoding="utf-8")
        os.utime(path, ns=(tick * 10**9, tick * 10**9))
        ctx._scope_checked = 0.0  # the next pass looks at the file again (it does, once a second)

    rewrite("scopePolicy: {rules: [{name: db, namespaces: [db]}]}\n", 10)
    assert "No scope rule allows namespace web" in (ctx.scope_denial(target()) or "")
    rewrite("scopePolicy: {rules: [{namespaces: []]}\n", 20)  # YAML that does not parse
    assert "cannot be read" in (ctx.scope_denial(target()) or "")
    rewrite("clouds: {azure-public: {}}\n", 30)  # the policy removed: no policy, everything allowed
    assert ctx.scope_denial(target("db")) is None
