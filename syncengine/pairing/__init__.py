"""Fast initial sync: a new device gets every row, with its versions, straight from a device that has them.

:class:`Pairing` (``Device.pair``) shows a code and serves one joiner; :func:`join`
makes a database a full device from a code. See :mod:`._transfer` for the
conversation and :mod:`._channel` for the channel the code pins.
"""

from ._code import PairingCode
from ._transfer import Pairing, PairProgress, PairReport, join

__all__ = ["PairProgress", "PairReport", "Pairing", "PairingCode", "join"]
