"""CSV importers of this app, registered with core.imports when the app is ready."""
from attributes.importers import counters, customers, values  # noqa: F401  (registration)
