"""Every LevelDB key the node writes is built here, so the key space can be read in one place.

Heights are 8-byte big-endian so that keys sort by height. Application keys live under b"a/" and the
provenance app's keys are listed here too.
"""

from __future__ import annotations

import struct


def height_bytes(height: int) -> bytes:
    return struct.pack(">Q", height)


def height_from(key_suffix: bytes) -> int:
    return struct.unpack(">Q", key_suffix)[0]


# --- block store ---
BLOCK = b"b/"            # height -> encoded Block
BLOCK_HASH = b"bh/"      # block hash -> height
COMMIT = b"c/"           # height -> encoded Commit certifying that height's block
TX = b"tx/"              # tx hash -> [height, index, code, log]
EVIDENCE = b"ev/"        # evidence hash -> height it was committed at
CHAIN_STATE = b"s/state"  # [height, app_hash, last_block_hash, last_block_time_ms]


def block_key(height: int) -> bytes:
    return BLOCK + height_bytes(height)


def block_hash_key(block_hash: bytes) -> bytes:
    return BLOCK_HASH + block_hash


def commit_key(height: int) -> bytes:
    return COMMIT + height_bytes(height)


def tx_key(tx_hash: bytes) -> bytes:
    return TX + tx_hash


def evidence_key(evidence_hash: bytes) -> bytes:
    return EVIDENCE + evidence_hash


# --- application state ---
APP = b"a/"
APP_STATE = b"a/state"             # [height, app_hash]
NONCE = b"a/nonce/"                # sender pubkey -> next nonce
NOTE = b"a/note/"                  # minimal app: tx hash -> note body
RECORD = b"a/rec/"                 # record id -> encoded record + its location
RECORD_SEQ = b"a/recseq"           # number of records (record sequence numbers are dense, from 0)
RECORD_BY_SEQ = b"a/seq/"          # seq (8 bytes) -> record id
BY_FILE_SHA = b"a/file/"           # file sha256 -> record id
BY_FRAMES_SHA = b"a/frames/"       # frames sha256 -> record id
BY_CREATOR = b"a/creator/"         # creator pubkey + seq (8 bytes) -> record id
VALSET = b"a/vals/"                # height (8 bytes) -> that height's validator set, or the height holding it
VALSET_SEQ = b"a/valseq"           # validator updates applied so far (the next update's seq)


def nonce_key(sender: bytes) -> bytes:
    return NONCE + sender


# --- event index (tx_search / block_search): rebuilt from the block store if lost -----------------
# keys are <event key> 0x00 <value> 0x00 <position>, so one event key (or key=value) is one prefix scan
IX_TX = b"ix/t/"             # "type.attr" \0 value \0 height (8) + tx index (4) -> b""
IX_BLOCK = b"ix/b/"          # "type.attr" \0 value \0 height (8) -> b""
IX_HEIGHT = b"ix/height"     # the last height whose events are indexed


def ix_tx_position(height: int, index: int) -> bytes:
    return height_bytes(height) + struct.pack(">I", index)


def ix_tx_key(event_key: str, value: str, position: bytes) -> bytes:
    return IX_TX + event_key.encode() + b"\0" + value.encode() + b"\0" + position


def ix_block_key(event_key: str, value: str, height: int) -> bytes:
    return IX_BLOCK + event_key.encode() + b"\0" + value.encode() + b"\0" + height_bytes(height)
