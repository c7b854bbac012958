"""What every detector reads."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cranewatch.decode.events import Event
    from cranewatch.inventory.model import Asset, Flow
    from cranewatch.inventory.site import Site


@dataclass
class DetectContext:
    site: Site | None
    assets: list[Asset]
    flows: list[Flow]
    events: list[Event]
    knowledge: Any = None
    extra: dict[str, Any] = field(default_factory=dict)
