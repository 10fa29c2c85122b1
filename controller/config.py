"""Operator configuration: the cloud profiles a ScaleSetImage may name, and loop timings.

A resource names a cloud profile (``spec.scaleSet.cloud``); only this file, owned by whoever installs the
operator, says where that profile's ARM endpoint is. So a resource can never send the operator's Azure
token to an endpoint of its choosing. Azure Stack Hub profiles add the credential audience and the
api-version its Microsoft.Compute speaks (``2020-06-01`` for the 2020-09-01-hybrid profile).

Example::

    defaultCloud: azure-public
    clouds:
      azure-public: {}                       # public Azure, DefaultAzureCredential
      stack-west:
        armEndpoint: https://management.west.azurestack.contoso.com
        credentialScope: https://management.adfs.azurestack.contoso.com/.default
        apiVersion: "2020-06-01"
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Literal
from urllib.parse import urlparse

import yaml

from controller.scope import ScopePolicy, ScopePolicyError, parse_scope_policy

PUBLIC_CLOUD = "azure-public"
PUBLIC_ARM_ENDPOINT = "https://management.azure.com"
PUBLIC_SCOPE = "https://management.azure.com/.default"
CredentialKind = Literal["default", "static-token"]
_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_API_VERSION = re.compile(r"^\d{4}-\d{2}-\d{2}(-preview)?$")


RequestClass = Literal["scale_set_get", "vm_list", "read", "write"]
"""What a request spends from the budget: scale-set GETs and VM listings have Compute windows of their own."""


@dataclass(frozen=True)
class WindowLimit:
    """An extra limit of the operator's own: at most ``limit`` requests of a class in any ``window`` s."""

    applies_to: RequestClass
    limit: int
    window: float


@dataclass(frozen=True)
class ComputeLimit:
    """One of Microsoft.Compute's published throttling policies: refill per minute and capacity, for each
    resource (None: counted per subscription only) and for the subscription."""

    policy: str
    resource_per_minute: float | None
    resource_capacity: int | None
    subscription_per_minute: float
    subscription_capacity: int


PUBLISHED_COMPUTE_LIMITS: tuple[ComputeLimit, ...] = (
    # MicrosoftDocs azure-compute-docs, compute-throttling-limits (2024), per region.
    ComputeLimit("VMScaleSetUpdate", 4, 12, 500, 1500),  # PUT, PATCH, manualupgrade and other scale-set POSTs
    ComputeLimit("VMScaleSetDelete", 4, 12, 175, 525),
    ComputeLimit("VMScaleSetLowCostGet", 12, 36, 800, 2400),  # GET, rollingUpgrades/latest
    ComputeLimit("VMScaleSetHighCostGet", 10, 30, 360, 1080),  # instance view, instance listing (each page)
    ComputeLimit("VMScaleSetVMGet", 12, 36, 2000, 6000),
    ComputeLimit("VMScaleSetVMUpdate", 4, 12, 500, 1500),
    ComputeLimit("VMHighCostGet", None, None, 300, 900),  # a resource group's VM listing (Flexible sets)
)


@dataclass(frozen=True)
class BudgetConfig:
    """Azure's limits (ARM's per second, Compute's per minute) and the operator's share of them."""

    enabled: bool = True
    share: float = 0.5  # of each subscription-wide limit; the rest is left to the team's other tools
    resource_share: float = 0.75  # of each per-scale-set Compute limit
    reads_per_second: float = 25.0
    read_burst: int = 250
    writes_per_second: float = 10.0
    write_burst: int = 200
    reserve: int = 0  # requests left to other clients, beyond their share, when Azure reports what remains
    compute: tuple[ComputeLimit, ...] = PUBLISHED_COMPUTE_LIMITS
    windows: tuple[WindowLimit, ...] = ()


@dataclass(frozen=True)
class Timings:
    """How often a resource is looked at again, in seconds; the one place their defaults are set."""

    poll_interval: float = 10.0
    """While a rollout is in flight (each look is one or two Azure reads)."""
    resync_interval: float = 300.0
    """When settled, to catch drift; also the age after which the cached scale-set model is re-read."""


DEFAULT_TIMINGS: Final = Timings()


class ConfigError(ValueError):
    """The operator configuration is invalid; the message names the key."""


@dataclass(frozen=True)
class CloudProfile:
    name: str
    arm_endpoint: str = PUBLIC_ARM_ENDPOINT
    credential_scope: str = PUBLIC_SCOPE
    api_version: str | None = None
    credential: CredentialKind = "default"
    static_token_env: str | None = None
    allow_http: bool = False

    def __post_init__(self) -> None:
        if not _NAME.match(self.name):
            raise ConfigError(f"clouds.{self.name}: a profile name is lowercase letters, digits and '-'")
        url = urlparse(self.arm_endpoint)
        if url.scheme not in ("https", "http") or not url.netloc:
            raise ConfigError(f"clouds.{self.name}.armEndpoint: {self.arm_endpoint!r} is not an absolute URL")
        if url.scheme == "http" and not (self.allow_http and _is_loopback(url.hostname or "")):
            raise ConfigError(
                f"clouds.{self.name}.armEndpoint: plain http is allowed only for a loopback emulator "
                "(set allowHttp: true)"
            )
        if self.api_version is not None and not _API_VERSION.match(self.api_version):
            raise ConfigError(f"clouds.{self.name}.apiVersion: {self.api_version!r} is not an api-version")
        if self.credential == "static-token" and not self.static_token_env:
            raise ConfigError(f"clouds.{self.name}: credential static-token needs staticTokenEnv")


def _is_loopback(host: str) -> bool:
    return host in ("localhost", "::1") or host.startswith("127.")


@dataclass(frozen=True)
class PrometheusServer:
    """A Prometheus the analysis of a resource may query (``prometheus.servers.<name>``).

    Credentials are read from files (a mounted Secret) at each query, so a rotated token is used at once.
    ``namespaces`` lists the namespaces whose resources may use this server (``*``: every namespace).
    """

    name: str
    url: str
    bearer_token_file: str | None = None
    username_file: str | None = None
    password_file: str | None = None
    timeout: float = 10.0
    namespaces: tuple[str, ...] = ("*",)

    def allows(self, namespace: str) -> bool:
        return "*" in self.namespaces or namespace in self.namespaces


@dataclass(frozen=True)
class Webhook:
    """A webhook URL a resource's hooks may name (``webhooks.<name>``), with an optional bearer token file."""

    name: str
    url: str
    bearer_token_file: str | None = None
    namespaces: tuple[str, ...] = ("*",)

    def allows(self, namespace: str) -> bool:
        return "*" in self.namespaces or namespace in self.namespaces


@dataclass(frozen=True)
class DeliveryConfig:
    """Where analysis queries and webhooks go: only the configuration says, never a resource."""

    prometheus: dict[str, PrometheusServer] = field(default_factory=dict)
    default_prometheus: str | None = None
    webhooks: dict[str, Webhook] = field(default_factory=dict)

    def prometheus_for(self, name: str | None, namespace: str) -> PrometheusServer | str:
        """The server a resource of ``namespace`` asks for by ``name`` (None: the default), or why not."""
        chosen = name or self.default_prometheus
        if chosen is None:
            return "no Prometheus is configured for analysis (prometheus.servers in the operator configuration)"
        server = self.prometheus.get(chosen)
        if server is None:
            defined = ", ".join(sorted(self.prometheus)) or "none"
            return f"Prometheus {chosen!r} is not defined in the operator configuration (defined: {defined})"
        if not server.allows(namespace):
            return (
                f"Prometheus {chosen!r} may not be used from namespace {namespace!r} "
                f"(prometheus.servers.{chosen}.namespaces)"
            )
        return server


DEFAULT_MAX_CONCURRENT_PASSES = 64
"""Passes at once by default: far more than one subscription's request budget keeps busy (ARM reads at 12.5/s at
the default share, a pass a few reads), few enough that a fleet of thousands starting together does not hold
thousands of requests, their bodies and the SDK's objects in memory at the same moment."""


@dataclass(frozen=True)
class OperatorConfig:
    clouds: dict[str, CloudProfile] = field(default_factory=lambda: {PUBLIC_CLOUD: CloudProfile(PUBLIC_CLOUD)})
    default_cloud: str = PUBLIC_CLOUD
    poll_interval: float = DEFAULT_TIMINGS.poll_interval
    resync_interval: float = DEFAULT_TIMINGS.resync_interval
    # The operator's own per-subscription request budget, kept under Azure's throttling limits.
    budget: BudgetConfig = field(default_factory=BudgetConfig)
    # Which namespaces may target which scale sets; None: no policy, everything allowed.
    scope: ScopePolicy | None = None
    # Prometheus servers for analysis and webhooks for hooks (progressive delivery).
    delivery: DeliveryConfig = field(default_factory=DeliveryConfig)
    # How many ScaleSetImage passes talk to Azure at once; the others queue for a slot (first come, first served).
    max_concurrent_passes: int = DEFAULT_MAX_CONCURRENT_PASSES

    @property
    def timings(self) -> Timings:
        return Timings(poll_interval=self.poll_interval, resync_interval=self.resync_interval)

    def cloud(self, name: str | None) -> CloudProfile | None:
        return self.clouds.get(name or self.default_cloud)


def parse_config(data: dict[str, Any]) -> OperatorConfig:
    if not isinstance(data, dict):
        raise ConfigError("the configuration must be a mapping")
    clouds: dict[str, CloudProfile] = {}
    raw_clouds = data.get("clouds") or {PUBLIC_CLOUD: {}}
    if not isinstance(raw_clouds, dict):
        raise ConfigError("clouds: expected a mapping of profile name to settings")
    for name, raw in raw_clouds.items():
        raw = raw or {}
        if not isinstance(raw, dict):
            raise ConfigError(f"clouds.{name}: expected a mapping")
        unknown = set(raw) - {
            "armEndpoint",
            "credentialScope",
            "apiVersion",
            "credential",
            "staticTokenEnv",
            "allowHttp",
        }
        if unknown:
            raise ConfigError(f"clouds.{name}: unknown keys {sorted(unknown)}")
        credential = raw.get("credential", "default")
        if credential not in ("default", "static-token"):
            raise ConfigError(f"clouds.{name}.credential: must be 'default' or 'static-token'")
        endpoint = str(raw.get("armEndpoint", PUBLIC_ARM_ENDPOINT)).rstrip("/")
        clouds[str(name)] = CloudProfile(
            name=str(name),
            arm_endpoint=endpoint,
            credential_scope=str(raw.get("credentialScope", PUBLIC_SCOPE)),
            api_version=str(raw["apiVersion"]) if raw.get("apiVersion") else None,
            credential=credential,
            static_token_env=raw.get("staticTokenEnv"),
            allow_http=bool(raw.get("allowHttp", False)),
        )
    default = str(data.get("defaultCloud", PUBLIC_CLOUD if PUBLIC_CLOUD in clouds else next(iter(clouds))))
    if default not in clouds:
        raise ConfigError(f"defaultCloud: {default!r} is not one of the profiles {sorted(clouds)}")
    try:
        poll = float(data.get("pollInterval", DEFAULT_TIMINGS.poll_interval))
        resync = float(data.get("resyncInterval", DEFAULT_TIMINGS.resync_interval))
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"pollInterval/resyncInterval: {exc}") from exc
    if poll <= 0 or resync <= 0:
        raise ConfigError("pollInterval and resyncInterval must be > 0")
    passes = data.get("maxConcurrentPasses", DEFAULT_MAX_CONCURRENT_PASSES)
    if isinstance(passes, bool) or not isinstance(passes, int) or passes < 1:
        raise ConfigError(f"maxConcurrentPasses: expected a whole number >= 1, got {passes!r}")
    budget = _parse_budget(data.get("azureBudget") or {})
    try:
        scope = parse_scope_policy(data.get("scopePolicy"))
    except ScopePolicyError as exc:
        raise ConfigError(str(exc)) from exc
    return OperatorConfig(
        clouds=clouds,
        default_cloud=default,
        poll_interval=poll,
        resync_interval=resync,
        budget=budget,
        scope=scope,
        delivery=_parse_delivery(data.get("prometheus") or {}, data.get("webhooks") or {}),
        max_concurrent_passes=passes,
    )


def _http_url(where: str, value: Any) -> str:
    url = urlparse(str(value or ""))
    if url.scheme not in ("http", "https") or not url.netloc:
        raise ConfigError(f"{where}: {value!r} is not an absolute http(s) URL")
    return str(value)


def _namespaces(where: str, raw: Any) -> tuple[str, ...]:
    if raw is None:
        return ("*",)
    if not isinstance(raw, list) or not all(isinstance(n, str) and n for n in raw):
        raise ConfigError(f"{where}.namespaces: expected a list of namespace names (or '*')")
    return tuple(raw)


def _parse_delivery(prometheus: Any, webhooks: Any) -> DeliveryConfig:
    """``prometheus: {default, servers: {<name>: {url, bearerTokenFile, basicAuth, timeoutSeconds, namespaces}}}``
    and ``webhooks: {<name>: {url, bearerTokenFile, namespaces}}``."""
    if not isinstance(prometheus, dict) or not isinstance(webhooks, dict):
        raise ConfigError("prometheus and webhooks: expected mappings")
    unknown = set(prometheus) - {"default", "servers"}
    if unknown:
        raise ConfigError(f"prometheus: unknown keys {sorted(unknown)}")
    servers: dict[str, PrometheusServer] = {}
    for name, raw in (prometheus.get("servers") or {}).items():
        where = f"prometheus.servers.{name}"
        if not isinstance(raw, dict) or not _NAME.match(str(name)):
            raise ConfigError(f"{where}: a lowercase name with a mapping (url, bearerTokenFile, basicAuth, ...)")
        unknown = set(raw) - {"url", "bearerTokenFile", "basicAuth", "timeoutSeconds", "namespaces"}
        if unknown:
            raise ConfigError(f"{where}: unknown keys {sorted(unknown)}")
        basic = raw.get("basicAuth") or {}
        if not isinstance(basic, dict) or set(basic) - {"usernameFile", "passwordFile"}:
            raise ConfigError(f"{where}.basicAuth: expected usernameFile and passwordFile")
        if bool(basic) and not (basic.get("usernameFile") and basic.get("passwordFile")):
            raise ConfigError(f"{where}.basicAuth: both usernameFile and passwordFile are needed")
        if basic and raw.get("bearerTokenFile"):
            raise ConfigError(f"{where}: bearerTokenFile and basicAuth exclude each other")
        try:
            timeout = float(raw.get("timeoutSeconds", 10.0))
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"{where}.timeoutSeconds: {exc}") from exc
        if not 0 < timeout <= 120:
            raise ConfigError(f"{where}.timeoutSeconds: must be in (0, 120]")
        servers[str(name)] = PrometheusServer(
            name=str(name),
            url=_http_url(f"{where}.url", raw.get("url")).rstrip("/"),
            bearer_token_file=raw.get("bearerTokenFile"),
            username_file=basic.get("usernameFile"),
            password_file=basic.get("passwordFile"),
            timeout=timeout,
            namespaces=_namespaces(where, raw.get("namespaces")),
        )
    default = prometheus.get("default")
    if default is None and len(servers) == 1:
        default = next(iter(servers))
    if default is not None and default not in servers:
        raise ConfigError(f"prometheus.default: {default!r} is not one of the servers {sorted(servers)}")
    hooks: dict[str, Webhook] = {}
    for name, raw in webhooks.items():
        where = f"webhooks.{name}"
        if not isinstance(raw, dict) or not _NAME.match(str(name)):
            raise ConfigError(f"{where}: a lowercase name with a mapping (url, bearerTokenFile, namespaces)")
        unknown = set(raw) - {"url", "bearerTokenFile", "namespaces"}
        if unknown:
            raise ConfigError(f"{where}: unknown keys {sorted(unknown)}")
        hooks[str(name)] = Webhook(
            name=str(name),
            url=_http_url(f"{where}.url", raw.get("url")),
            bearer_token_file=raw.get("bearerTokenFile"),
            namespaces=_namespaces(where, raw.get("namespaces")),
        )
    return DeliveryConfig(prometheus=servers, default_prometheus=default, webhooks=hooks)


def _parse_budget(raw: dict[str, Any]) -> BudgetConfig:
    """``azureBudget``: enabled, operatorShare, resourceShare, readsPerSecond, readBurst, writesPerSecond,
    writeBurst, reserve, computeLimits, windows."""
    if not isinstance(raw, dict):
        raise ConfigError("azureBudget: expected a mapping")
    unknown = set(raw) - {
        "enabled",
        "operatorShare",
        "resourceShare",
        "readsPerSecond",
        "readBurst",
        "writesPerSecond",
        "writeBurst",
        "reserve",
        "computeLimits",
        "windows",
    }
    if unknown:
        raise ConfigError(f"azureBudget: unknown keys {sorted(unknown)}")
    default = BudgetConfig()
    try:
        windows = default.windows
        if "windows" in raw:
            windows = tuple(
                WindowLimit(applies_to=w["appliesTo"], limit=int(w["limit"]), window=float(w["windowSeconds"]))
                for w in raw["windows"] or []
            )
            for w in windows:
                if w.applies_to not in ("scale_set_get", "vm_list", "read", "write"):
                    raise ConfigError(
                        f"azureBudget.windows: appliesTo {w.applies_to!r} is not one of "
                        "scale_set_get, vm_list, read, write"
                    )
        compute = default.compute
        if "computeLimits" in raw:
            compute = tuple(_compute_limit(c) for c in raw["computeLimits"] or [])
        budget = BudgetConfig(
            enabled=bool(raw.get("enabled", True)),
            share=float(raw.get("operatorShare", default.share)),
            resource_share=float(raw.get("resourceShare", default.resource_share)),
            reads_per_second=float(raw.get("readsPerSecond", default.reads_per_second)),
            read_burst=int(raw.get("readBurst", default.read_burst)),
            writes_per_second=float(raw.get("writesPerSecond", default.writes_per_second)),
            write_burst=int(raw.get("writeBurst", default.write_burst)),
            reserve=int(raw.get("reserve", default.reserve)),
            compute=compute,
            windows=windows,
        )
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ConfigError(f"azureBudget: {exc}") from exc
    if budget.reads_per_second <= 0 or budget.writes_per_second <= 0 or budget.read_burst < 1 or budget.write_burst < 1:
        raise ConfigError("azureBudget: rates must be > 0 and bursts >= 1")
    if not (0 < budget.share <= 1 and 0 < budget.resource_share <= 1):
        raise ConfigError("azureBudget: operatorShare and resourceShare must be > 0 and <= 1")
    for c in budget.compute:
        if c.subscription_capacity * budget.share < 1 or (
            c.resource_capacity is not None and c.resource_capacity * budget.resource_share < 1
        ):
            raise ConfigError(f"azureBudget.computeLimits: {c.policy}: the operator's share is less than one request")
    return budget


def _compute_limit(raw: dict[str, Any]) -> ComputeLimit:
    """``{policy, resource: {refillPerMinute, capacity}, subscription: {refillPerMinute, capacity}}``."""
    resource = raw.get("resource")
    subscription = raw["subscription"]
    limit = ComputeLimit(
        policy=str(raw["policy"]),
        resource_per_minute=float(resource["refillPerMinute"]) if resource else None,
        resource_capacity=int(resource["capacity"]) if resource else None,
        subscription_per_minute=float(subscription["refillPerMinute"]),
        subscription_capacity=int(subscription["capacity"]),
    )
    if limit.subscription_per_minute <= 0 or (limit.resource_per_minute is not None and limit.resource_per_minute <= 0):
        raise ConfigError(f"azureBudget.computeLimits: {limit.policy}: refillPerMinute must be > 0")
    return limit


def load_config(path: str | Path | None) -> OperatorConfig:
    """Read the configuration file; no file means public Azure only."""
    if path is None:
        return OperatorConfig()
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot read operator configuration {path}: {exc}") from exc
    return parse_config(data)


def static_token(profile: CloudProfile) -> str:
    """The token a static-token profile sends (only meant for emulators)."""
    assert profile.static_token_env is not None
    value = os.environ.get(profile.static_token_env, "")
    if not value:
        raise ConfigError(
            f"clouds.{profile.name}: environment variable {profile.static_token_env} is empty or unset; "
            f"export {profile.static_token_env}=<the token to send> (staticTokenEnv names it)"
        )
    return value
