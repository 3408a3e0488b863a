"""Text request bodies to rows: CSV (``csv_decoder``), JSON and JSON Lines (``json_decoders``)."""

from __future__ import annotations

from ensemble_byoc.serving.codecs.csv_decoder import decode_csv
from ensemble_byoc.serving.codecs.json_decoders import decode_json, decode_jsonlines

__all__ = ["decode_csv", "decode_json", "decode_jsonlines"]
