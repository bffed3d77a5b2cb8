"""Browser review of the store's cases (``cardiac-planning serve``): a trame-slicer front end behind
the security module's login. See ``README.md`` in this folder for the extension points."""
