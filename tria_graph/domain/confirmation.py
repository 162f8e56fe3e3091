"""Reading a customer's answer to "shall I place this order?"."""

from __future__ import annotations

import re
from typing import Literal

Answer = Literal["yes", "no", "other"]

_PARTICLES = re.compile(
    r"\b(lah|la|leh|lor|hor|ah|boss|pls|please|plz|thanks|thank you|thx|ty|ya|yah|sir|"
    r"madam|just|then|then)\b"
)
_YES = re.compile(
    r"^(yes|y|yeah|yea|yep|yup|ok|okay|okey|k|kk|confirm|confirmed|i confirm|"
    r"go ahead|go|proceed|sure|can|correct|right|place it|place the order|"
    r"place order|do it|sounds good|looks good|good|all good|alright|agreed|approve|"
    r"yes confirm|yes please|ok confirm|ok go ahead|confirm order|confirm the order|"
    r"yes place it|ok can|can can|yes can|\U0001F44D)$"
)
_NO = re.compile(
    r"^(no|n|nope|nah|cancel|cancel it|cancel order|cancel the order|don'?t|do not|"
    r"dont place|don'?t place it|never ?mind|forget it|stop|not now|no need|"
    r"no thanks|no don'?t|scrap it|no cancel|don'?t want|dont want)$"
)


def interpret_answer(text: str) -> Answer:
    """'yes'/'no' when the message is plainly one of them, else 'other'."""
    t = text.lower().strip()
    t = re.sub(r"[!.?,~]+", " ", t)
    t = " ".join(_PARTICLES.sub(" ", t).split())
    if _YES.match(t):
        return "yes"
    if _NO.match(t):
        return "no"
    return "other"
