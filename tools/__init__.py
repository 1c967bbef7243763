"""Controller-side developer tooling of fleetsec.vmscape (not shipped in the collection)."""
