"""How hard a passphrase is to guess, in words a person can act on (zxcvbn's estimate)."""

from __future__ import annotations

_WORDS = ("very weak", "weak", "fair", "strong", "very strong")


def strength(passphrase: str) -> tuple[int, str]:
    """Return zxcvbn's score (0 to 4) and a short hint: how strong it is and how to make it stronger."""
    from zxcvbn import zxcvbn  # type: ignore[import-untyped]

    if not passphrase:
        return 0, "empty"
    found = zxcvbn(passphrase[:72])  # zxcvbn refuses longer input (and 72 characters tell enough)
    score = int(found["score"])
    feedback = found.get("feedback") or {}
    advice = " ".join(x for x in [feedback.get("warning") or "", *(feedback.get("suggestions") or [])] if x)
    return score, f"{_WORDS[score]}: {advice}" if advice else _WORDS[score]
