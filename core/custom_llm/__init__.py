"""custom-llm: turn an organization's own data into a custom language model.

Plugin authors import ``hookimpl`` from here and the records from ``custom_llm.records``. This
module stays light: importing it must not import torch or transformers.
"""

from custom_llm.hookspecs import hookimpl
from custom_llm.records import BaseModel, Cases, Document, Domain, EvalContext, Evaluator, Example, Preparer, Recipe, StageReport

__version__ = "0.1.0"

__all__ = [
    "BaseModel",
    "Cases",
    "Document",
    "Domain",
    "EvalContext",
    "Evaluator",
    "Example",
    "Preparer",
    "Recipe",
    "StageReport",
    "__version__",
    "hookimpl",
]
