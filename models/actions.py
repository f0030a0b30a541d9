"""Scripted what-if actions (``spec.actions``): at a time, do what an operator would do.

``[{at: 2h, scale: {deployment: llm, replicas: 6}}, {at: 3h, failNode: {node: h100-2}}]`` — each item
has ``at`` and exactly one action: ``scale`` a Deployment (``kubectl scale``), ``setWeights`` of an
HTTPRoute's backendRefs (a canary step), ``cordon`` / ``drain`` / ``deleteNode`` a node, ``failNode``
(the node goes NotReady and its pods fail), ``setPoolSize`` (a node pool's ``count`` now, and its
autoscaling ``minCount`` / ``maxCount``).
"""

from __future__ import annotations

from pydantic import Field, model_validator

from models.distributions import NonNegDuration
from models.k8s import K8sModel


class ScaleAction(K8sModel):
    deployment: str
    namespace: str = "default"
    replicas: int = Field(ge=0, le=100_000)


class SetWeightsAction(K8sModel):
    route: str
    namespace: str = "default"
    weights: dict[str, int] = Field(min_length=1, description="backendRef name -> weight")


class NodeRef(K8sModel):
    node: str


class SetPoolSizeAction(K8sModel):
    pool: str
    count: int | None = Field(default=None, ge=0)
    minCount: int | None = Field(default=None, ge=0)
    maxCount: int | None = Field(default=None, ge=0)


ACTIONS = ("scale", "setWeights", "cordon", "drain", "deleteNode", "failNode", "setPoolSize")


class Action(K8sModel):
    at: NonNegDuration
    scale: ScaleAction | None = None
    setWeights: SetWeightsAction | None = None
    cordon: NodeRef | None = None
    drain: NodeRef | None = None
    deleteNode: NodeRef | None = None
    failNode: NodeRef | None = None
    setPoolSize: SetPoolSizeAction | None = None

    @model_validator(mode="after")
    def _one(self) -> Action:
        got = [k for k in ACTIONS if getattr(self, k) is not None]
        if len(got) != 1:
            raise ValueError(f"give exactly one action besides at: one of {', '.join(ACTIONS)}"
                             + (f" (got {', '.join(got)})" if got else ""))
        return self

    @property
    def verb(self) -> str:
        return next(k for k in ACTIONS if getattr(self, k) is not None)
