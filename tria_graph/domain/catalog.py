"""Matching free text to catalog products.

"12 inch pizza box", "12in pizza boxes" and '12" pizza box' all normalise to the same
words, so they match the same SKU. A segment of the message that names a quantity or a
packaging word but matches no product is returned as an unknown item, so the reply can
name it back instead of silently dropping it.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from decimal import Decimal


@dataclass(frozen=True)
class Product:
    sku: str
    name: str
    category: str
    unit: str
    price: Decimal
    stock: int
    min_order_qty: int
    size: str = ""
    aliases: tuple[str, ...] = field(default=())


@dataclass(frozen=True)
class RequestedItem:
    sku: str
    quantity: int | None
    text: str


@dataclass
class MatchResult:
    items: list[RequestedItem]
    unknown: list[str]


_SEPARATORS = re.compile(r"\s*(?:[,;\n+&/]|\band\b|\bplus\b|\balso\b|\bthen\b)\s*", re.I)
_QUANTITY = re.compile(r"(?<![\w.])(\d{1,3}(?:,\d{3})+|\d+(?:\.\d+)?)\s*(k\b)?", re.I)
_PACKAGING_WORDS = re.compile(
    r"\b(box|cup|lid|bag|fork|spoon|knife|knive|chopstick|container|tray|straw|napkin|"
    r"cutlery|plate|bowl|pouch|wrap|carton|sleeve|tub)\b"
)
_FILLER = re.compile(
    r"\b(i|we|need|needs|want|wanna|would|like|to|order|please|pls|plz|can|could|"
    r"you|send|me|us|get|give|the|a|an|of|for|by|on|this|next|week|delivery|deliver|"
    r"monday|tuesday|wednesday|thursday|friday|saturday|sunday|tomorrow|tmr|"
    r"lah|leh|hor|boss|ah|ya|hi|hello|thanks|thank|pcs|pc|piece|pieces|unit|units|"
    r"x|qty|quantity|more|some|also|add|another|make|it|instead|change|to|only|just)\b"
)


def normalise(text: str) -> str:
    """Lower-case, unify sizes (12" / 12in / 12-inch -> 12 inch) and singularise."""
    t = text.lower().replace("\u201d", '"').replace("\u2033", '"').replace("''", '"')
    t = re.sub(r"(\d+)\s*(?:\"|-?\s*inch(?:es)?\b|-?\s*in\b)", r"\1 inch", t)
    t = re.sub(r"(\d+)\s*-?\s*(oz|ounce|ounces)\b", r"\1oz", t)
    t = re.sub(r"(\d+)\s*-?\s*(ml)\b", r"\1ml", t)
    words = []
    for w in re.findall(r"[a-z0-9]+(?:\.\d+)?|\"", t):
        if w.endswith("xes") or w.endswith("ches"):
            w = w[:-2]
        elif w.endswith("ies") and len(w) > 4:
            w = w[:-3] + "y"
        elif w.endswith("s") and not w.endswith("ss") and len(w) > 3 and not w[:-1].isdigit():
            w = w[:-1]
        words.append(w)
    return " ".join(words)


class CatalogMatcher:
    """Finds catalog products and their quantities in a customer's message."""

    def __init__(self, products: list[Product]) -> None:
        self.products = {p.sku: p for p in products}
        names: dict[str, str] = {}
        for p in products:
            for alias in (p.name, *p.aliases):
                norm = normalise(alias)
                if norm:
                    names.setdefault(norm, p.sku)
        # Longest names first so "12 inch pizza box" wins over "pizza box".
        self._names = sorted(names.items(), key=lambda kv: -len(kv[0]))
        self._patterns = [
            (re.compile(rf"(?<![\w]){re.escape(name)}(?![\w])"), sku) for name, sku in self._names
        ]

    def match(self, text: str) -> MatchResult:
        items: list[RequestedItem] = []
        unknown: list[str] = []
        text = re.sub(r"(\d),(\d{3})\b", r"\1\2", text)  # 1,000 is one number, not a list
        for raw_segment in _SEPARATORS.split(text):
            if not raw_segment or not raw_segment.strip():
                continue
            segment = normalise(raw_segment)
            sku, rest = self._find_product(segment)
            quantity = _quantity(rest if sku else segment)
            # Words the product name does not explain ("golden ... holders") mean the
            # customer asked for something else that merely contains a product name.
            unexplained = re.findall(r"[a-z]{3,}", _FILLER.sub(" ", _QUANTITY.sub(" ", rest)))
            if sku and len(unexplained) < 2:
                items.append(RequestedItem(sku=sku, quantity=quantity, text=raw_segment.strip()))
                continue
            if sku:
                unknown.append(raw_segment.strip())
                continue
            leftover = " ".join(_FILLER.sub(" ", _QUANTITY.sub(" ", segment)).split())
            if not leftover or not re.search(r"[a-z]{3,}", leftover):
                continue
            fuzzy = difflib.get_close_matches(leftover, [n for n, _ in self._names], n=1, cutoff=0.85)
            if fuzzy:
                sku = dict(self._names)[fuzzy[0]]
                items.append(RequestedItem(sku=sku, quantity=quantity, text=raw_segment.strip()))
            elif quantity is not None or _PACKAGING_WORDS.search(leftover):
                unknown.append(raw_segment.strip())
        return MatchResult(items=items, unknown=unknown)

    def find_products(self, text: str) -> list[Product]:
        """Products named anywhere in the text (for product questions)."""
        found: list[Product] = []
        segment = normalise(text)
        for pattern, sku in self._patterns:
            if pattern.search(segment) and self.products[sku] not in found:
                found.append(self.products[sku])
                segment = pattern.sub(" ", segment)
        return found

    def _find_product(self, segment: str) -> tuple[str | None, str]:
        for pattern, sku in self._patterns:
            if pattern.search(segment):
                return sku, pattern.sub(" ", segment, count=1)
        return None, segment


def _quantity(text: str) -> int | None:
    for number, thousands in _QUANTITY.findall(text):
        value = float(number.replace(",", ""))
        if thousands:
            value *= 1000
        if value >= 1:
            return int(value)
    return None
