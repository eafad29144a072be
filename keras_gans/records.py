"""The record format shared by the Beam pipeline (writer) and ``keras_gans.data`` (reader).

One ``tf.train.Example`` per image with the features

- ``image``: bytes. Either raw ``uint8`` pixels in HWC order (``encoding="raw"``, fastest to
  read: a ``decode_raw`` + reshape) or a PNG file (``encoding="png"``, 2-4x smaller on disk).
- ``condition``: bytes, present only in a paired (image-to-image) dataset: the condition image
  (pix2pix's A), same resolution and encoding as ``image`` (the target, pix2pix's B), with the
  manifest's ``condition_channels`` channels.
- ``label``: int64, present only when the dataset is labelled.
- ``key``: bytes, the stable source id of the image (relative path, or ``mnist/train/00042``),
  so any record can be traced back to its input.

Records are framed as TFRecords (length, masked CRC32C of the length, data, masked CRC32C of the
data). This module writes both the protobuf and the framing by hand so that Beam workers never
import TensorFlow (importing it costs seconds and ~1 GB per worker process); the tests check the
bytes against ``tf.io.parse_single_example`` and ``tf.data.TFRecordDataset``.
"""

from __future__ import annotations

import struct

import google_crc32c

IMAGE_FEATURE = "image"
CONDITION_FEATURE = "condition"
LABEL_FEATURE = "label"
KEY_FEATURE = "key"


# --- protobuf wire format (tensorflow/core/example/{example,feature}.proto) -------------------
def _varint(value: int) -> bytes:
    if value < 0:  # int64 negatives are encoded as 10-byte two's complement varints
        value += 1 << 64
    out = bytearray()
    while True:
        bits = value & 0x7F
        value >>= 7
        if value:
            out.append(bits | 0x80)
        else:
            out.append(bits)
            return bytes(out)


def _field(number: int, payload: bytes) -> bytes:
    """A length-delimited field (wire type 2)."""
    return _varint((number << 3) | 2) + _varint(len(payload)) + payload


def _bytes_feature(value: bytes) -> bytes:
    # Feature { BytesList bytes_list = 1 }  BytesList { repeated bytes value = 1 }
    return _field(1, _field(1, value))


def _int64_feature(value: int) -> bytes:
    # Feature { Int64List int64_list = 3 }  Int64List { repeated int64 value = 1 [packed] }
    return _field(3, _field(1, _varint(int(value))))


def encode_example(image: bytes, key: str, label: int | None = None, condition: bytes | None = None) -> bytes:
    """Serialize one record as a ``tf.train.Example`` (deterministic: features sorted by name).

    ``condition``: the condition image's bytes of a paired record (None: a single-image record).
    """
    features = {IMAGE_FEATURE: _bytes_feature(image), KEY_FEATURE: _bytes_feature(key.encode())}
    if condition is not None:
        features[CONDITION_FEATURE] = _bytes_feature(condition)
    if label is not None:
        features[LABEL_FEATURE] = _int64_feature(label)
    # Features { map<string, Feature> feature = 1 }; each map entry is {key = 1; value = 2}.
    body = b"".join(
        _field(1, _field(1, name.encode()) + _field(2, feature))
        for name, feature in sorted(features.items())
    )
    return _field(1, body)  # Example { Features features = 1 }


# --- TFRecord framing (tensorflow/core/lib/io/record_writer.cc) -----------------------------
_MASK_DELTA = 0xA282EAD8


def _masked_crc(data: bytes) -> int:
    crc = google_crc32c.value(data)
    return (((crc >> 15) | (crc << 17)) + _MASK_DELTA) & 0xFFFFFFFF


def frame_record(data: bytes) -> bytes:
    """One TFRecord: uint64 length, masked crc32c(length), data, masked crc32c(data)."""
    length = struct.pack("<Q", len(data))
    return length + struct.pack("<I", _masked_crc(length)) + data + struct.pack("<I", _masked_crc(data))


class CorruptRecordError(ValueError):
    """A TFRecord file is truncated or fails its checksum."""


def iter_records(fileobj, name: str = "<stream>"):
    """Yield the payloads of a TFRecord stream, checking both CRCs; raises CorruptRecordError."""
    offset = 0
    while True:
        header = fileobj.read(12)
        if not header:
            return
        if len(header) < 12:
            raise CorruptRecordError(f"{name}: truncated record header at byte {offset}")
        (length,) = struct.unpack("<Q", header[:8])
        (length_crc,) = struct.unpack("<I", header[8:])
        if _masked_crc(header[:8]) != length_crc:
            raise CorruptRecordError(f"{name}: bad length checksum at byte {offset}")
        data = fileobj.read(length)
        footer = fileobj.read(4)
        if len(data) < length or len(footer) < 4:
            raise CorruptRecordError(f"{name}: truncated record at byte {offset}")
        if _masked_crc(data) != struct.unpack("<I", footer)[0]:
            raise CorruptRecordError(f"{name}: bad data checksum at byte {offset}")
        offset += 16 + length
        yield data
