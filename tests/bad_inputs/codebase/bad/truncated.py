"""A small inventory: the good Python file of the bad-input corpus."""

from dataclasses import dataclass


@dataclass
class Item:
    name: str
    count: int = 0

    def restock(self, amount: int) -> int:
        """Add ``amount`` and ret