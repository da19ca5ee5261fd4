"""Version routing of the local target: a function name and qualifier (alias, version number or $LATEST)
resolved to one published version; during a canary an alias picks its extra version by weight.

Reads the state folder (state.py); writes nothing.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from ...core.errors import NotDeployedError
from ...core.records import AliasRouting
from .state import LocalState
from .versions import AliasRoute, VersionRecord


@dataclass(frozen=True)
class Resolved:
    record: VersionRecord
    qualifier: str
    route: AliasRoute | None = None  # the alias's routing when the qualifier named an alias

    @property
    def canary(self) -> bool:
        """Whether this is the canary (extra) version of the alias it was picked from."""
        return self.route is not None and self.route.extra_version == self.record.version

    @property
    def splits_traffic(self) -> bool:
        """Whether the qualifier named an alias that sends traffic to two versions (another resolve of it
        may pick the other one)."""
        return self.route is not None and self.route.extra_version is not None


def routing(alias: str, route: AliasRoute) -> AliasRouting:
    """An alias's route as the records every target answers with."""
    return AliasRouting(
        alias=alias,
        version=str(route.version),
        extra_version=None if route.extra_version is None else str(route.extra_version),
        extra_weight=route.extra_weight,
    )


class Router:
    """Resolves qualifiers against one state folder; `rng` picks an alias's version by weight."""

    def __init__(self, state: LocalState, rng: random.Random | None = None) -> None:
        self._state = state
        self._rng = rng or random.Random()

    def resolve(self, name: str, qualifier: str) -> Resolved:
        """The version `qualifier` names now; NotDeployedError listing the choices when none."""
        routes = self._state.alias_routes(name)
        version: int | None
        if qualifier == "$LATEST":
            version = self._state.latest(name)
        elif qualifier.isdigit():
            version = int(qualifier)
        else:
            route = routes.get(qualifier)
            version = None if route is None else self.pick(route)
        record = self._state.read_version(name, version) if version is not None else None
        if record is None:
            choices = [*routes, "$LATEST", *map(str, self._state.versions(name))]
            raise NotDeployedError(
                f"{name} has no version or alias {qualifier!r}", f"use one of: {', '.join(choices)}"
            )
        return Resolved(record=record, qualifier=qualifier, route=routes.get(qualifier))

    def pick(self, route: AliasRoute) -> int:
        """The alias's extra version with probability extra_weight, else its main version."""
        if route.extra_version is not None and self._rng.random() < route.extra_weight:
            return route.extra_version
        return route.version
