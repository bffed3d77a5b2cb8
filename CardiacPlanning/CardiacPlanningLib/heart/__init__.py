"""Heart segmentation: whole/left/right heart, classical engine (no weights), local deep models,
semi-automatic completion of seeds, fine-tuning edits with undo, disease presets."""

from .api import LEFT, PRESETS, RIGHT, SCOPES, apply_scope, engines, segment

__all__ = ["LEFT", "PRESETS", "RIGHT", "SCOPES", "apply_scope", "engines", "segment"]
