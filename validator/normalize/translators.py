"""The registry of translators: which module turns which API's objects into timeline events.

Adding an API is one new module with a ``TRANSLATORS`` table ``{(group, resource): translator}``
(see :data:`validator.normalize.core.Translator`) and one line here; the core does not change. The
group of the legacy API is ``""``.
"""

from __future__ import annotations

from validator.normalize import claims, events, gangs, kueue, nodes, pods, provreqs, slices
from validator.normalize.core import Translator

TRANSLATORS: dict[tuple[str, str], Translator] = {
    **pods.TRANSLATORS,
    **nodes.TRANSLATORS,
    **kueue.TRANSLATORS,
    **provreqs.TRANSLATORS,
    **gangs.TRANSLATORS,
    **claims.TRANSLATORS,
    **slices.TRANSLATORS,
    **events.TRANSLATORS,
}
