"""Pure reconciliation: entries and row states in, a plan of writes out."""

from ._conflicts import ConflictKind, Finding, base_versions, detect, same
from ._plan import Action, DoubleCreate, Plan, PlanProcessor, Reconciler, RowPlan, created_row, reconcile
from ._state import Merge, RowState, merge

__all__ = [
    "Action",
    "ConflictKind",
    "DoubleCreate",
    "Finding",
    "Merge",
    "Plan",
    "PlanProcessor",
    "Reconciler",
    "RowPlan",
    "RowState",
    "base_versions",
    "created_row",
    "detect",
    "merge",
    "reconcile",
    "same",
]
