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

# ``syncengine.reconcile`` is this function once ``syncengine`` is imported (its name
# there wins over the package's), so ``syncengine.reconcile.created_row`` would fail:
# the package's names are the function's attributes too.
for _name in __all__:
    if _name != "reconcile":
        setattr(reconcile, _name, globals()[_name])
del _name
