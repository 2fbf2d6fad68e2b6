"""Fast initial sync: a new device gets every row, with its versions, straight from a device that has them.

:class:`Pairing` (``Device.pair``) shows a code and serves one joiner; :func:`join`
(:mod:`._join`) makes a database a full device from a code. See :mod:`._transfer`
for the conversation, :mod:`._file` for a new database that arrives as one file, and
:mod:`._channel` for the channel the code pins.
"""

from ._code import PairingCode
from ._join import join
from ._transfer import Pairing, PairProgress, PairReport

__all__ = ["PairProgress", "PairReport", "Pairing", "PairingCode", "join"]
