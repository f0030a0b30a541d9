"""The slices of core Kubernetes objects a scenario writes inline, in their own shapes.

Taints and tolerations (``core/v1`` Taint, Toleration), required node affinity
(``NodeSelectorTerm`` / ``NodeSelectorRequirement``) and a compact pod template. Only the fields the
simulator models exist; an unknown field is an error with a did-you-mean, never ignored.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from models.quantity import parse_quantity


class K8sModel(BaseModel):
    # the validator is built on first use (pydantic ``defer_build``), not at import: a scenario builds the
    # models it reaches in one go when it is validated, and the rest are never built
    model_config = ConfigDict(extra="forbid", populate_by_name=True, defer_build=True)


def _check_quantity(v: str | int | float) -> str | int | float:
    if parse_quantity(v).value < 0:
        raise ValueError(f"{v!r} is negative; requests and allocatable are amounts, >= 0 (as the API server "
                         "requires)")
    return v


#: A Kubernetes quantity as written (``"500m"``, ``8``, ``80Gi``), never negative; validated at load time.
QuantityValue = Annotated[str | int | float, AfterValidator(_check_quantity)]

TaintEffect = Literal["NoSchedule", "PreferNoSchedule", "NoExecute"]

#: a pod priority is an int32 (``PodSpec.priority``, ``PriorityClass.value``)
INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1


class Taint(K8sModel):
    key: str = Field(min_length=1)
    value: str | None = None
    effect: TaintEffect


class Toleration(K8sModel):
    key: str | None = None
    operator: Literal["Equal", "Exists"] = "Equal"
    value: str | None = None
    effect: TaintEffect | None = None
    tolerationSeconds: int | None = None

    @model_validator(mode="after")
    def _valid(self) -> Toleration:
        if self.operator == "Exists" and self.value:
            raise ValueError("a toleration with operator Exists must not have a value")
        if not self.key and self.operator != "Exists":
            raise ValueError("a toleration with an empty key must use operator Exists")
        return self


class NodeSelectorRequirement(K8sModel):
    key: str = Field(min_length=1)
    operator: Literal["In", "NotIn", "Exists", "DoesNotExist", "Gt", "Lt"]
    values: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _valid(self) -> NodeSelectorRequirement:
        op = self.operator
        if op in ("In", "NotIn") and not self.values:
            raise ValueError(f"operator {op} needs at least one value")
        if op in ("Exists", "DoesNotExist") and self.values:
            raise ValueError(f"operator {op} takes no values")
        if op in ("Gt", "Lt"):
            if len(self.values) != 1:
                raise ValueError(f"operator {op} needs exactly one value")
            try:
                int(self.values[0])
            except ValueError:
                raise ValueError(f"operator {op} needs an integer value, got {self.values[0]!r}") from None
        return self


class NodeSelectorTerm(K8sModel):
    matchExpressions: list[NodeSelectorRequirement] = Field(default_factory=list)
    matchFields: list[NodeSelectorRequirement] = Field(default_factory=list)


class NodeSelector(K8sModel):
    nodeSelectorTerms: list[NodeSelectorTerm] = Field(min_length=1)


class PreferredSchedulingTerm(K8sModel):
    """A soft node-affinity term: nodes matching ``preference`` get ``weight`` added to their score."""

    weight: int = Field(ge=1, le=100)
    preference: NodeSelectorTerm


class NodeAffinity(K8sModel):
    requiredDuringSchedulingIgnoredDuringExecution: NodeSelector | None = None
    preferredDuringSchedulingIgnoredDuringExecution: list[PreferredSchedulingTerm] = Field(default_factory=list)


class Affinity(K8sModel):
    nodeAffinity: NodeAffinity | None = None


class PodTemplate(K8sModel):
    """A compact pod template: what the scheduler needs to place a pod."""

    requests: dict[str, QuantityValue] = Field(default_factory=dict)
    nodeSelector: dict[str, str] = Field(default_factory=dict)
    tolerations: list[Toleration] = Field(default_factory=list)
    affinity: Affinity | None = None
    labels: dict[str, str] = Field(default_factory=dict)
    priorityClassName: str | None = Field(
        default=None, min_length=1,
        description="a scheduling.k8s.io/v1 PriorityClass (from spec.manifests) giving the pods' priority")
