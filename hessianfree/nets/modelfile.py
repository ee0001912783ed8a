"""Reading the ``.npz`` file that ``net.save`` writes, whatever the file
turns out to hold.

:func:`hessianfree.nets.architecture.load` (``hf.load``) opens the archive with
:func:`open_archive` and reads its two arrays with :func:`read_description`
and :func:`read_weights`.  Each array's ``.npy`` header is read from the zip
member first and checked -- the description must be one string of at most
:data:`MAX_DESCRIPTION_CHARS` characters, the weights exactly the
``n_params`` floats the description's layout needs -- before any data is
read or decompressed, so a lying header or a compressed array that would
inflate allocates nothing.  Nothing is unpickled.  Every refusal is a
:class:`ValueError` naming the file and the array.
"""

import json
import zipfile
import zlib

import numpy as np

from hessianfree.nets import layout
from hessianfree.base import validation as val

#: Most characters of architecture text :func:`read_description` reads.
MAX_DESCRIPTION_CHARS = 2 ** 22
_NPY_MAGIC = b"\x93NUMPY"
_ZIP_MAGICS = (b"PK\x03\x04", b"PK\x05\x06")
#: Errors of the zip module and its decompressors on a damaged archive.
_DAMAGED = (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError,
            RuntimeError, ValueError)


class Refused(ValueError):
    """An array of a model file that is not what ``net.save`` writes."""


def open_archive(path):
    """The zip archive at ``path``; ValueError saying what the file is
    instead (a bare weight vector, not an archive, truncated)."""
    with open(path, "rb") as f:
        start = f.read(64)
    if start.startswith(_NPY_MAGIC):
        raise ValueError(f"{path!r} is a bare weight vector (a .npy file, as "
                         f"np.save(path, net.W) writes), not a model written by "
                         f"net.save(): build the network in code and load the weights "
                         f"with FFNet(..., load_weights={path!r}) (or RNNet)")
    if not start.startswith(_ZIP_MAGICS):
        kind = ("it looks like a text file" if start and start.isascii()
                else "it is empty" if not start else "its first bytes are not a zip header")
        raise ValueError(f"{path!r} is not a model written by net.save() (an .npz "
                         f"archive): {kind}")
    try:
        return zipfile.ZipFile(path)
    except _DAMAGED as e:
        raise ValueError(f"{path!r} is truncated or damaged: it is not a readable "
                         f".npz archive ({type(e).__name__}: {e})") from None


def read_array(archive, path, name, check):
    """The array ``name`` of ``archive`` (the file ``path``).

    Its ``.npy`` header is read first and passed to ``check(shape, dtype)``,
    which raises :class:`Refused` for an array that is not wanted, before any
    data is read or decompressed.
    """
    try:
        with archive.open(f"{name}.npy") as f:
            shape, dtype = layout._npy_header(f)
            check(tuple(shape), dtype)
            n_bytes = int(np.prod(shape, dtype=object)) * dtype.itemsize
            data = f.read(n_bytes)
    except _DAMAGED as e:
        raise ValueError(f"{path!r}: {name!r} {e}" if isinstance(e, Refused) else
                         f"{path!r} is truncated or damaged: cannot read {name!r} "
                         f"({type(e).__name__}: {e})") from None
    if len(data) != n_bytes:
        raise ValueError(f"{path!r} is truncated: {name!r} has {len(data)} of "
                         f"{n_bytes} bytes")
    return np.frombuffer(data, dtype=dtype).reshape(shape)


def _check_description_header(shape, dtype):
    if shape != () or dtype.kind != "U":
        raise Refused(f"holds an array of shape {shape} and dtype {dtype}; net.save "
                      f"writes the architecture as one string (JSON)")
    if dtype.itemsize // 4 > MAX_DESCRIPTION_CHARS:
        raise Refused(f"claims {dtype.itemsize // 4} characters, more than the "
                      f"{MAX_DESCRIPTION_CHARS} an architecture may have")


def read_description(archive, path):
    """The description (a dict, not yet checked) stored in the archive;
    ValueError unless the archive holds exactly ``architecture.npy`` and
    ``W.npy`` and the first is one string of JSON text for an object."""
    if set(archive.namelist()) != {"architecture.npy", "W.npy"}:
        raise ValueError(f"{path!r} was not written by net.save(): it holds "
                         f"{sorted(archive.namelist())}, not 'architecture.npy' and "
                         f"'W.npy'")
    text = str(read_array(archive, path, "architecture", _check_description_header)[()])
    try:
        description = json.loads(text)
    except (ValueError, RecursionError) as e:
        raise ValueError(f"{path!r}: 'architecture' is not JSON text "
                         f"({type(e).__name__}: {e})") from None
    if not isinstance(description, dict):
        raise ValueError(f"{path!r}: 'architecture' must be a JSON object from "
                         f"describe(), got {val.describe(description)}")
    return description


def read_weights(archive, path, n_params):
    """The ``(n_params,)`` weights stored in the archive; ValueError for
    another shape or dtype (from the header, before reading) and for NaN or
    inf."""
    def check(shape, dtype):
        if shape != (n_params,) or dtype.kind != "f":
            raise Refused(f"holds an array of shape {shape} and dtype {dtype}; the "
                          f"architecture needs {n_params} floating point weights")
    W = read_array(archive, path, "W", check)
    bad = np.flatnonzero(~np.isfinite(W))
    if bad.size:
        raise ValueError(f"{path!r}: 'W' holds NaN or inf ({bad.size} of {W.size} "
                         f"weights, the first W[{bad[0]}]); net.save never writes such "
                         f"weights")
    return W
