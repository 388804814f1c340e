"""custom-llm-automotive: crash-test data (ISO-MME, NHTSA EV5) and reports for custom-llm.

Importing this package is cheap on purpose: numpy, scipy and pypdf are imported inside the
functions that need them, so ``custom-llm --help`` does not pay for them.
"""

__version__ = "0.1.0"
