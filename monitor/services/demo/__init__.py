"""The demo world: a deterministic synthetic registry and declarations.

`generate(directory, placements=..., seed=...)` writes contract files
(`registry/*.csv`, `declarations/<CC>/{placements,fees}.csv`) for Nepal
and seven partner corridors, with a few percent of rows breaking each
audit rule; `load(session, directory, home_country="NP")` imports them
through the ordinary import services and creates demo accounts (password
`demo-password`).
"""

from monitor.services.demo.generator import DemoManifest, generate
from monitor.services.demo.loader import DEMO_ACCOUNTS, DEMO_PASSWORD, load

__all__ = ["DEMO_ACCOUNTS", "DEMO_PASSWORD", "DemoManifest", "generate", "load"]
