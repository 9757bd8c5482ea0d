"""The old home of JointSearch, kept so ``from promptlift.optimizers.mipro import JointSearch`` still works.

JointSearch lives in :mod:`promptlift.optimizers.joint` (the module was named after MIPROv2, the
method it follows; the class and its registry name ``mipro`` are unchanged). New code imports
from ``joint``; this re-export goes when the old path has had a release of notice.
"""

from promptlift.optimizers.joint import STUDY_FILE, JointSearch, grounded_prompt

__all__ = ["STUDY_FILE", "JointSearch", "grounded_prompt"]
