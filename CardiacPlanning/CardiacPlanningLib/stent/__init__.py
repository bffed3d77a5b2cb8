"""Stent and transcatheter valve-frame reconstruction from CT: region input and metal detection
(:mod:`.region`), three reconstruction algorithms (:mod:`.algorithms`), the structure matching score
(:mod:`.score`) and the run-all/ranking pipeline with its writers (:mod:`.pipeline`). Points are LPS mm."""
