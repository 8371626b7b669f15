"""Digits typed on the on-screen keypad: bounded, editable, and wiped with the session."""

from __future__ import annotations


class DigitEntry:
    def __init__(self, max_digits: int) -> None:
        self.max_digits = max_digits
        self.digits = ""

    def press(self, key: str) -> None:
        if key.isdigit() and len(key) == 1 and len(self.digits) < self.max_digits:
            self.digits += key

    def backspace(self) -> None:
        self.digits = self.digits[:-1]

    def clear(self) -> None:
        self.digits = ""

    @property
    def full(self) -> bool:
        return len(self.digits) == self.max_digits
