"""custom-llm domain plugin ``public_sector``: legislation and government documents.

This package stays light on import (no lxml, pypdf or docx here) so that ``custom-llm --help``
and plugin discovery stay fast; parsers import their libraries when a file is read.
"""

__version__ = "0.1.0"
