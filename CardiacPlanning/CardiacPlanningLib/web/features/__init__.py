"""Browser features on top of the web server, as plain library functions (testable without a browser):
segmentation editing (:mod:`.editing`), stent comparison (:mod:`.stent_compare`) and report access
(:mod:`.report_access`). Each checks the session's role through the store's guard and audits."""
