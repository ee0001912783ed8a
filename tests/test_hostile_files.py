"""hf.load on files that net.save did not write: every one is refused with a
ValueError that names the file (and the field), in bounded memory, without
pickle."""

import json
import tracemalloc
import zipfile

import numpy as np
import pytest
from numpy.lib import format as npy

import hessianfree as hf
from hessianfree.nets import architecture


def small_net():
    return hf.FFNet([2, 3, 1], rng=0)


def write_npz(path, description, W):
    """An archive like net.save's, with the given description and weights."""
    np.savez(path, architecture=np.array(json.dumps(description)), W=W)


def write_member(zf, name, header, chunks=()):
    """A zip member holding an .npy header (``header``, a dict) and data
    written in pieces, so that the test itself never holds the array."""
    with zf.open(name, "w", force_zip64=True) as f:
        npy.write_array_header_1_0(f, header)
        for chunk in chunks:
            f.write(chunk)


def architecture_member(zf, description):
    text = np.array(json.dumps(description))
    with zf.open("architecture.npy", "w") as f:
        npy.write_array(f, text, allow_pickle=False)


def peak_memory(call):
    """Peak traced memory (bytes) while ``call()`` runs; its exception."""
    tracemalloc.start()
    try:
        with pytest.raises(ValueError) as info:
            call()
        return tracemalloc.get_traced_memory()[1], info
    finally:
        tracemalloc.stop()


def test_npy_weights_file_says_what_it_is(tmp_path):
    net = small_net()
    np.save(tmp_path / "w.npy", net.W)
    with pytest.raises(ValueError, match="w.npy") as info:
        hf.load(tmp_path / "w.npy")
    message = str(info.value)
    assert "weight vector" in message and "load_weights=" in message


def test_truncated_file_names_the_file(tmp_path):
    small_net().save(tmp_path / "m.npz")
    data = (tmp_path / "m.npz").read_bytes()
    for size in (10, len(data) // 2, len(data) - 10):
        (tmp_path / "cut.npz").write_bytes(data[:size])
        with pytest.raises(ValueError, match=r"cut\.npz.*(truncated|damaged)"):
            hf.load(tmp_path / "cut.npz")


def test_damaged_member_data_names_the_file(tmp_path):
    net = hf.FFNet([20, 30, 10], rng=0)
    np.savez_compressed(tmp_path / "m.npz",
                        architecture=np.array(json.dumps(architecture.describe(net))),
                        W=net.W)
    data = bytearray((tmp_path / "m.npz").read_bytes())
    for i in range(200, 400):
        data[i] ^= 0x55
    (tmp_path / "bad.npz").write_bytes(bytes(data))
    with pytest.raises(ValueError, match=r"bad\.npz"):
        hf.load(tmp_path / "bad.npz")


@pytest.mark.parametrize("content", [b"hello world\n", b"1.0 2.0 3.0\n" * 10, b"",
                                     bytes(range(256))],
                         ids=["text", "numbers", "empty", "bytes"])
def test_other_files_are_not_npz_archives(tmp_path, content):
    (tmp_path / "m.npz").write_bytes(content)
    with pytest.raises(ValueError, match=r"m\.npz.*net\.save") as info:
        hf.load(tmp_path / "m.npz")
    assert "allow_pickle" not in str(info.value)


def test_pickled_members_are_refused(tmp_path):
    net = small_net()
    np.savez(tmp_path / "m.npz", architecture=np.array([{"a": 1}], dtype=object), W=net.W)
    with pytest.raises(ValueError, match=r"m\.npz.*architecture") as info:
        hf.load(tmp_path / "m.npz")
    assert "allow_pickle" not in str(info.value)


def test_header_claiming_a_trillion_weights_allocates_nothing(tmp_path):
    net = small_net()
    with zipfile.ZipFile(tmp_path / "m.npz", "w") as zf:
        architecture_member(zf, architecture.describe(net))
        write_member(zf, "W.npy", {"descr": "<f4", "fortran_order": False,
                                   "shape": (10 ** 12,)}, [b"\0" * 64])
    peak, info = peak_memory(lambda: hf.load(tmp_path / "m.npz"))
    assert peak < 2 ** 20
    message = str(info.value)
    assert "m.npz" in message and "W" in message and str(net.n_params) in message


def test_compressed_weights_are_checked_before_they_inflate(tmp_path):
    """40 MB of zeros compress to about 40 KB; the size is refused from the
    header, before anything is decompressed."""
    net = small_net()
    chunk = b"\0" * 2 ** 20
    with zipfile.ZipFile(tmp_path / "m.npz", "w", compression=zipfile.ZIP_DEFLATED) as zf:
        architecture_member(zf, architecture.describe(net))
        write_member(zf, "W.npy", {"descr": "<f4", "fortran_order": False,
                                   "shape": (10 * 2 ** 20,)}, [chunk] * 40)
    assert (tmp_path / "m.npz").stat().st_size < 200_000
    peak, info = peak_memory(lambda: hf.load(tmp_path / "m.npz"))
    assert peak < 2 ** 20
    assert "W" in str(info.value) and str(net.n_params) in str(info.value)


def test_huge_architecture_text_is_refused_from_its_header(tmp_path):
    net = small_net()
    with zipfile.ZipFile(tmp_path / "m.npz", "w", compression=zipfile.ZIP_DEFLATED) as zf:
        write_member(zf, "architecture.npy", {"descr": "<U100000000",
                                              "fortran_order": False, "shape": ()},
                     [b"\0" * 2 ** 20] * 8)
        with zf.open("W.npy", "w") as f:
            npy.write_array(f, net.W)
    peak, info = peak_memory(lambda: hf.load(tmp_path / "m.npz"))
    assert peak < 2 ** 20
    assert "architecture" in str(info.value)


@pytest.mark.parametrize("W, field", [
    (np.zeros((2, 13), np.float32), "W"), (np.zeros(13, np.int64), "W"),
    (np.zeros(5, np.float32), "W"), (np.array(3.0), "W")])
def test_weights_of_the_wrong_kind_name_the_field(tmp_path, W, field):
    write_npz(tmp_path / "m.npz", architecture.describe(small_net()), W)
    with pytest.raises(ValueError, match=rf"m\.npz.*'{field}'"):
        hf.load(tmp_path / "m.npz")


def set_field(**fields):
    return lambda d: d.update(fields)


@pytest.mark.parametrize("change, field", [
    (set_field(layers=5), "layers"),
    (set_field(layers=[5, 5, 5]), "layers"),
    (set_field(conns={"x": [1], "1": [2]}), "conns"),
    (set_field(conns={"0": 1, "1": [2]}), "conns"),
    (set_field(conns=[[1], [2]]), "conns"),
    (set_field(debug="false"), "debug"),
    (set_field(debug=0), "debug"),
    (set_field(shape="abc"), "shape"),
    (set_field(shape=[2, -3, 1]), "shape"),
    (set_field(dtype="int32"), "dtype"),
    (set_field(dtype=["float32"]), "dtype"),
    (set_field(loss=3), "loss"),
    (set_field(loss={"type": "SquaredError", "params": {"bogus": 1}}), "loss"),
    (lambda d: d["layers"][1]["params"].update(bogus=1), "layers"),
    (lambda d: d.pop("dtype"), "dtype"),
])
def test_malformed_fields_are_named(tmp_path, change, field):
    net = small_net()
    description = json.loads(json.dumps(architecture.describe(net)))
    change(description)
    write_npz(tmp_path / "m.npz", description, net.W)
    with pytest.raises(ValueError, match=rf"m\.npz.*{field}"):
        hf.load(tmp_path / "m.npz")
    with pytest.raises(ValueError, match=field):
        architecture.build(description)


@pytest.mark.parametrize("change, field", [
    (set_field(rec_layers=[7]), "rec_layers"),
    (set_field(rec_layers="1"), "rec_layers"),
    (set_field(truncation=[3]), "truncation"),
    (set_field(truncation="ab"), "truncation"),
])
def test_malformed_recurrent_fields_are_named(tmp_path, change, field):
    net = hf.RNNet([2, 3, 1], rng=0)
    description = json.loads(json.dumps(architecture.describe(net)))
    change(description)
    write_npz(tmp_path / "m.npz", description, net.W)
    with pytest.raises(ValueError, match=rf"m\.npz.*{field}"):
        hf.load(tmp_path / "m.npz")


def test_debug_false_in_a_file_is_false(tmp_path):
    net = small_net()
    net.save(tmp_path / "m.npz")
    assert hf.load(tmp_path / "m.npz").debug is False


@pytest.mark.parametrize("text", ["{not json", "[1, 2]", "[" * 100_000 + "]" * 100_000],
                         ids=["not-json", "a-list", "deeply-nested"])
def test_architecture_that_is_not_a_description(tmp_path, text):
    np.savez(tmp_path / "m.npz", architecture=np.array(text), W=small_net().W)
    with pytest.raises(ValueError, match=r"m\.npz.*architecture"):
        hf.load(tmp_path / "m.npz")


def test_nan_weights_in_a_file_are_refused_with_its_name(tmp_path):
    net = small_net()
    W = net.W.copy()
    W[3] = np.nan
    write_npz(tmp_path / "m.npz", architecture.describe(net), W)
    with pytest.raises(ValueError, match=r"m\.npz.*NaN"):
        hf.load(tmp_path / "m.npz")


def test_extra_and_missing_members(tmp_path):
    net = small_net()
    np.savez(tmp_path / "m.npz", architecture=np.array(json.dumps(architecture.describe(net))),
             W=net.W, extra=np.zeros(2))
    with pytest.raises(ValueError, match=r"m\.npz.*net\.save"):
        hf.load(tmp_path / "m.npz")
