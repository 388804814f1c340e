"""custom-llm-codebase: the ``codebase`` domain plugin for custom-llm.

A code repository in (git work tree or folder), a code model that completes it out. The hooks live
in :mod:`custom_llm_codebase.plugin`; this package import is kept free of heavy modules.
"""

__version__ = "0.1.0"
