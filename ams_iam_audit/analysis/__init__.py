"""Principal-level analysis: what each user and role can do with all its policies together, and who
can become administrator (``escalation``), by the published methods of ``catalogue``. Computed from
the inventory alone, so a live run, a snapshot and a raw GAAD file give the same answer."""

from .catalogue import CatalogueError, Method, Need, catalogue_services, methods
from .escalation import ADMIN, Enabled, EscalationAnalysis, Step, Verdict, analyse
from .permissions import Permissions, Proof, SourcedDocument

__all__ = [
    "ADMIN",
    "CatalogueError",
    "Enabled",
    "EscalationAnalysis",
    "Method",
    "Need",
    "Permissions",
    "Proof",
    "SourcedDocument",
    "Step",
    "Verdict",
    "analyse",
    "catalogue_services",
    "methods",
]
