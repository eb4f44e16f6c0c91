"""trustledger's core: the signed, hash-chained Merkle log of an estate.

The modules directly in this package are pure: they take bytes and values and
return values. They import only the standard library and ``cryptography`` (and
``rfc8785`` for canonical JSON) and never touch a database, a file or the
network. Storage lives in :mod:`ledger.storage` behind small interfaces.
"""
