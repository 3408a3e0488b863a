"""What a Parquet column chunk's own page headers say it decompresses to.

The footer's ``total_uncompressed_size`` is only a sum the writer claims; the reader allocates what each
page header says (``uncompressed_page_size``). So the headers are walked here, before any page is read:
each is a Thrift compact-protocol struct followed by its ``compressed_page_size`` bytes of data.
"""

from __future__ import annotations

import pyarrow.parquet as pq

from ensemble_byoc.errors import UserError

_STOP, _TRUE, _FALSE, _BYTE, _I16, _I32, _I64, _DOUBLE, _BINARY, _LIST, _SET, _MAP, _STRUCT = range(13)
_MAX_DEPTH = 16


class _Reader:
    def __init__(self, data: bytes, position: int, end: int) -> None:
        self.data, self.position, self.end = data, position, end

    def byte(self) -> int:
        if self.position >= self.end:
            msg = "A Parquet page header runs past its column chunk."
            raise UserError(msg)
        self.position += 1
        return self.data[self.position - 1]

    def varint(self) -> int:
        value, shift = 0, 0
        while True:
            byte = self.byte()
            value |= (byte & 0x7F) << shift
            if not byte & 0x80:
                return value
            shift += 7
            if shift > 63:
                msg = "A Parquet page header holds a malformed number."
                raise UserError(msg)

    def zigzag(self) -> int:
        value = self.varint()
        return (value >> 1) ^ -(value & 1)

    def skip(self, kind: int, depth: int, *, element: bool = False) -> None:
        """Skip one value of ``kind``; a boolean that is a container's element takes one byte (in a struct
        field its value is in the field header)."""
        if depth > _MAX_DEPTH:
            msg = "A Parquet page header is nested too deeply."
            raise UserError(msg)
        if kind in (_TRUE, _FALSE):
            if element:
                self.byte()
            return
        if kind == _BYTE:
            self.byte()
        elif kind in (_I16, _I32, _I64):
            self.varint()
        elif kind == _DOUBLE:
            self.position += 8
        elif kind == _BINARY:
            length = self.varint()  # read before the position moves past it
            self.position += length
        elif kind in (_LIST, _SET):
            header = self.byte()
            size = self.elements(header >> 4 if header >> 4 != 15 else self.varint())
            for _ in range(size):
                self.skip(header & 0x0F, depth + 1, element=True)
        elif kind == _MAP:
            size = self.elements(self.varint())
            types = self.byte() if size else 0
            for _ in range(size):
                self.skip(types >> 4, depth + 1, element=True)
                self.skip(types & 0x0F, depth + 1, element=True)
        elif kind == _STRUCT:
            self.fields(depth + 1)
        else:
            msg = "A Parquet page header holds an unknown field type."
            raise UserError(msg)

    def elements(self, size: int) -> int:
        """A container's element count, refused when the bytes left could not hold that many elements
        (each takes at least one byte), so a header cannot make the walk loop without reading."""
        if size > self.end - self.position:
            msg = "A Parquet page header announces more elements than its bytes can hold."
            raise UserError(msg)
        return size

    def fields(self, depth: int) -> dict[int, int]:
        """A struct's integer fields by id (the rest skipped), up to its STOP."""
        found: dict[int, int] = {}
        field = 0
        while True:
            header = self.byte()
            kind = header & 0x0F
            if kind == _STOP:
                return found
            field = field + (header >> 4) if header >> 4 else self.zigzag()
            if kind in (_I16, _I32, _I64) and depth == 0:
                found[field] = self.zigzag()
            else:
                self.skip(kind, depth)


def column_chunk_pages(body: bytes, column: pq.ColumnChunkMetaData) -> int:
    """The uncompressed size the pages of ``column`` announce, headers included (what the footer's
    ``total_uncompressed_size`` claims for an honest file).

    Raises:
        UserError: a header cannot be read, or a size is negative or runs past the chunk.
    """
    start = column.dictionary_page_offset if column.has_dictionary_page else column.data_page_offset
    end = start + column.total_compressed_size
    if not 0 <= start <= end <= len(body):
        msg = f"A Parquet column chunk of {column.path_in_schema} lies outside the file."
        raise UserError(msg)
    total, position = 0, start
    while position < end:
        reader = _Reader(body, position, end)
        header = reader.fields(0)
        uncompressed, compressed = header.get(2, -1), header.get(3, -1)
        if uncompressed < 0 or compressed < 0 or reader.position + compressed > end:
            msg = f"A Parquet page header of {column.path_in_schema} is malformed."
            raise UserError(msg)
        total += reader.position - position + uncompressed  # counted as the footer counts: headers too
        position = reader.position + compressed
    return total
