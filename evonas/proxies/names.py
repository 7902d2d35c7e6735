"""The names of the zero-cost proxies and cost metrics (no torch: the config layer reads them)."""

from __future__ import annotations

#: The zero-cost proxies :func:`evonas.proxies.compute_proxies` knows, in report order.
PROXY_NAMES: tuple[str, ...] = ("synflow", "naswot", "snip", "grad_norm", "jacov")
#: The cost metrics that come with them: parameters and FLOPs (NAS-Bench-201's convention).
COST_NAMES: tuple[str, ...] = ("params", "flops")
#: Everything :func:`evonas.proxies.compute_proxies` can compute.
METRIC_NAMES: tuple[str, ...] = PROXY_NAMES + COST_NAMES
#: The proxies that read the data (``synflow`` reads only the input's shape).
DATA_DEPENDENT: frozenset[str] = frozenset({"naswot", "snip", "grad_norm", "jacov"})
