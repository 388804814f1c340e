"""A small inventory: the good Python file of the bad-input corpus."""

from dataclasses import dataclass


@dataclass
class Item:
    name: str
    count: int = 0

    def restock(self, amount: int) -> int:
        """Add ``amount`` and return the new count."""
        self.count += amount
        return self.count


def total(items: list[Item]) -> int:
    return sum(item.count for item in items)
