"""snnjax.data.dvs: AEDAT 3.1 / 2.0 readers, DVS128 Gesture and CIFAR10-DVS loaders, frames.

Every fixture file is written here with ``struct`` from the published layouts
(libcaer's packet header and polarity event; jAER's AEDAT 2.0 records with the
DVS128 address bits), not with the library, so the readers are tested against
the formats. ``events_to_frames`` is compared with a plain-Python loop that
follows SpikingJelly's ``cal_fixed_frames_number_segment_index`` index
arithmetic.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import struct
from pathlib import Path

import numpy as np
import pytest

from snnjax.data import dvs

# --------------------------------------------------------------------------- encoders

AEDAT3_HEADER = b"#!AER-DAT3.1\r\n#Format: RAW\r\n#Source 1: DVS128\r\n#Start-Time: 2017-01-01\r\n#!END-HEADER\r\n"
AEDAT2_HEADER = (
    b"#!AER-DAT2.0\r\n# This is a raw AE data file - do not edit\r\n# Data format is int32 address, int32 timestamp\r\n"
)


def packet(events, *, overflow=0, etype=1, capacity=None, number=None, size=8, ts_offset=4):
    """One AEDAT 3.1 packet: 28-byte header + events as (x, y, p, ts, valid) tuples."""
    body = b""
    for x, y, p, ts, valid in events:
        data = (x << 17) | (y << 2) | (p << 1) | valid
        body += struct.pack("<II", data, ts)
    n = len(events) if number is None else number
    cap = len(events) if capacity is None else capacity
    n_valid = sum(e[4] for e in events)
    return struct.pack("<hhiiiiii", etype, 1, size, ts_offset, overflow, cap, n, n_valid) + body


def special_packet(k=2):
    """A type-0 (special event) packet the reader must skip."""
    body = b"".join(struct.pack("<II", 0xDEAD0001, 77) for _ in range(k))
    return struct.pack("<hhiiiiii", 0, 1, 8, 4, 0, k, k, k) + body


def write_aedat3(path: Path, packets, header=AEDAT3_HEADER) -> Path:
    path.write_bytes(header + b"".join(packets))
    return path


def cifar_address(x, y, p):
    """DVS128 address whose SpikingJelly decoding is (x, y, p)."""
    return ((127 - x) << 8) | ((127 - y) << 1) | (1 - p)


def write_aedat2(path: Path, records, header=AEDAT2_HEADER) -> Path:
    """records: (address, timestamp) pairs, big-endian uint32 each."""
    path.write_bytes(header + b"".join(struct.pack(">II", a, t) for a, t in records))
    return path


def as_tuples(ev):
    return [(int(e["t"]), int(e["x"]), int(e["y"]), int(e["p"])) for e in ev]


def make_events(t, x, y, p):
    ev = np.zeros(len(t), dvs.EVENT_DTYPE)
    ev["t"], ev["x"], ev["y"], ev["p"] = t, x, y, p
    return ev


# --------------------------------------------------------------------------- reference integration


def ref_frames(ev, T, split_by, H, W):
    """SpikingJelly's j_l/j_r segmentation, then a per-event counting loop; [T, H, W, 2]."""
    t = [int(v) for v in ev["t"]]
    N = len(t)
    j_l, j_r = [0] * T, [0] * T
    if split_by == "number":
        di = N // T
        for i in range(T):
            j_l[i] = i * di
            j_r[i] = j_l[i] + di
        j_r[-1] = N
    else:
        dt = (t[-1] - t[0]) // T
        for i in range(T):
            lo = t[0] + dt * i
            hi = lo + dt
            idx = [k for k in range(N) if lo <= t[k] < hi]
            j_l[i], j_r[i] = idx[0], idx[-1] + 1
        j_r[-1] = N
    out = np.zeros((T, H, W, 2), np.float32)
    for i in range(T):
        for k in range(j_l[i], j_r[i]):
            out[i, int(ev["y"][k]), int(ev["x"][k]), 0 if ev["p"][k] == 0 else 1] += 1
    return out


def random_events(rng, n, H=16, W=12, t0=1000, span=5000):
    t = np.sort(rng.integers(t0, t0 + span, n))
    t[0], t[-1] = t0, t0 + span  # fixed endpoints, span not divisible by most T
    return make_events(t, rng.integers(0, W, n), rng.integers(0, H, n), rng.integers(0, 2, n))


# --------------------------------------------------------------------------- AEDAT 3.1


def test_read_aedat3_bit_layout_and_overflow(tmp_path):
    evs1 = [(0, 0, 0, 5, 1), (127, 0, 1, 6, 1), (0, 127, 1, 7, 1), (77, 33, 0, 2**31 - 1, 1)]
    evs2 = [(5, 9, 1, 3, 1), (126, 125, 0, 4, 1)]
    path = write_aedat3(tmp_path / "rec.aedat", [packet(evs1), special_packet(), packet(evs2, overflow=1)])
    ev = dvs.read_aedat3(path)
    assert ev.dtype == dvs.EVENT_DTYPE
    expected = [(ts, x, y, p) for x, y, p, ts, _ in evs1] + [(2**31 + ts, x, y, p) for x, y, p, ts, _ in evs2]
    assert as_tuples(ev) == expected
    # large 15-bit coordinates are decoded too (DAVIS-size sensors)
    path2 = write_aedat3(tmp_path / "big.aedat", [packet([(32767, 32767, 1, 9, 1)], overflow=3)])
    assert as_tuples(dvs.read_aedat3(path2)) == [(3 * 2**31 + 9, 32767, 32767, 1)]


def test_read_aedat3_validity_and_capacity(tmp_path):
    evs = [(1, 2, 1, 10, 1), (3, 4, 0, 11, 0), (5, 6, 1, 12, 1)]
    # capacity 4 > number 3: a fourth (garbage) slot is stored but not decoded
    raw = bytearray(packet(evs, capacity=4))
    raw += struct.pack("<II", (9 << 17) | 1, 99)
    path = write_aedat3(tmp_path / "v.aedat", [bytes(raw), packet([(7, 8, 0, 13, 1)])])
    assert as_tuples(dvs.read_aedat3(path)) == [(10, 1, 2, 1), (12, 5, 6, 1), (13, 7, 8, 0)]
    assert as_tuples(dvs.read_aedat3(path, valid_only=False)) == [
        (10, 1, 2, 1),
        (11, 3, 4, 0),
        (12, 5, 6, 1),
        (13, 7, 8, 0),
    ]


def test_read_aedat3_empty(tmp_path):
    assert dvs.read_aedat3(write_aedat3(tmp_path / "e.aedat", [])).shape == (0,)
    assert dvs.read_aedat3(write_aedat3(tmp_path / "s.aedat", [special_packet()])).dtype == dvs.EVENT_DTYPE


@pytest.mark.parametrize(
    "name, content, pattern",
    [
        (
            "trunc.aedat",
            AEDAT3_HEADER + packet([(1, 1, 1, 1, 1)] * 3)[:-5],
            r"truncated.*claims 3 events",
        ),
        (
            "hdr.aedat",
            AEDAT3_HEADER + packet([(1, 1, 1, 1, 1)]) + b"\x01" * 10,
            r"truncated.*packet header",
        ),
        (
            "noend.aedat",
            b"#!AER-DAT3.1\r\n#Format: RAW\r\n" + packet([(1, 1, 1, 1, 1)]),
            r"END-HEADER",
        ),
        ("onlyhdr.aedat", b"#!AER-DAT3.1\r\n#Format: RAW\r\n", r"END-HEADER"),
        ("ver.aedat", b"#!AER-DAT2.0\r\n#!END-HEADER\r\n", r"AEDAT 2\.0, expected AEDAT 3"),
        (
            "num.aedat",
            AEDAT3_HEADER + packet([(1, 1, 1, 1, 1)], capacity=1, number=2),
            r"eventNumber",
        ),
        (
            "size.aedat",
            AEDAT3_HEADER + packet([(1, 1, 1, 1, 1)], size=8, ts_offset=0),
            r"eventTSOffset",
        ),
    ],
)
def test_read_aedat3_corrupted_names_file(tmp_path, name, content, pattern):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(ValueError, match=re.escape(str(path)) + ".*" + pattern):
        dvs.read_aedat3(path)


def test_read_aedat3_missing(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.aedat"):
        dvs.read_aedat3(tmp_path / "nope.aedat")


# --------------------------------------------------------------------------- AEDAT 2 / CIFAR10-DVS


def test_read_aedat2_raw_and_cifar_decoding(tmp_path):
    path = write_aedat2(tmp_path / "c.aedat", [(0x0000, 5), (0x0507, 6), (0xFFFFFFFF, 2**32 - 1)])
    addr, t = dvs.read_aedat2_raw(path)
    assert addr.dtype == np.uint32 and addr.tolist() == [0, 0x0507, 0xFFFFFFFF]
    assert t.dtype == np.int64 and t.tolist() == [5, 6, 2**32 - 1]
    ev = dvs.read_cifar10_dvs_file(path)
    # by hand: addr 0 -> x = 127 - 0, y = 127 - 0, p = 1 - 0;
    # addr 0x507: (a >> 8) & 0x7F = 5, (a >> 1) & 0x7F = 3, a & 1 = 1 -> (122, 124, 0)
    # addr 0xFFFFFFFF: 127 - 127 = 0 for both, p = 0 (upper bits ignored)
    assert as_tuples(ev) == [(5, 127, 127, 1), (6, 122, 124, 0), (2**32 - 1, 0, 0, 0)]


def test_cifar_decoding_roundtrip(tmp_path):
    rng = np.random.default_rng(3)
    xs, ys, ps = rng.integers(0, 128, 50), rng.integers(0, 128, 50), rng.integers(0, 2, 50)
    ts = np.cumsum(rng.integers(0, 100, 50))
    path = write_aedat2(
        tmp_path / "r.aedat",
        [(cifar_address(x, y, p), t) for x, y, p, t in zip(xs, ys, ps, ts, strict=True)],
    )
    ev = dvs.read_cifar10_dvs_file(path)
    assert as_tuples(ev) == list(zip(ts.tolist(), xs.tolist(), ys.tolist(), ps.tolist(), strict=True))


def test_read_aedat2_no_header(tmp_path):
    path = write_aedat2(tmp_path / "n.aedat", [(1, 2)], header=b"")
    assert dvs.read_aedat2_raw(path)[1].tolist() == [2]


@pytest.mark.parametrize(
    "extra, pattern",
    [(b"\x00" * 4, r"odd number \(3\) of 32-bit words"), (b"\x00" * 3, r"not a whole")],
)
def test_read_aedat2_truncated_names_file(tmp_path, extra, pattern):
    path = tmp_path / "bad.aedat"
    path.write_bytes(AEDAT2_HEADER + struct.pack(">II", 1, 2) + extra)
    with pytest.raises(ValueError, match=re.escape(str(path)) + ".*" + pattern):
        dvs.read_cifar10_dvs_file(path)


def test_read_aedat2_rejects_aedat3(tmp_path):
    path = write_aedat3(tmp_path / "three.aedat", [packet([(1, 1, 1, 1, 1)])])
    with pytest.raises(ValueError, match=re.escape(str(path)) + ".*expected AEDAT 2.0"):
        dvs.read_aedat2_raw(path)


# --------------------------------------------------------------------------- events_to_frames


@pytest.mark.parametrize("split_by", ["number", "time"])
@pytest.mark.parametrize("n, T", [(203, 4), (203, 5), (203, 7), (200, 8), (37, 1)])
def test_events_to_frames_matches_reference(split_by, n, T):
    ev = random_events(np.random.default_rng(n * 10 + T), n)
    got = dvs.events_to_frames(ev, T, split_by=split_by, height=16, width=12)
    assert got.dtype == np.float32 and got.shape == (T, 16, 12, 2)
    np.testing.assert_array_equal(got, ref_frames(ev, T, split_by, 16, 12))
    assert got.sum() == n


def test_number_split_remainder_goes_to_last_frame():
    # 7 events, T=3: d = 2 -> frames hold events [0,1], [2,3], [4,5,6]
    ev = make_events(np.arange(7), np.arange(7), np.zeros(7), np.ones(7))
    f = dvs.events_to_frames(ev, 3, split_by="number", height=1, width=7)
    assert f[:, 0, :, 1].tolist() == [
        [1, 1, 0, 0, 0, 0, 0],
        [0, 0, 1, 1, 0, 0, 0],
        [0, 0, 0, 0, 1, 1, 1],
    ]
    assert f[..., 0].sum() == 0  # all ON
    # fewer events than frames: d = 0, everything in the last frame
    f = dvs.events_to_frames(ev[:2], 4, split_by="number", height=1, width=7)
    assert f.sum(axis=(1, 2, 3)).tolist() == [0, 0, 0, 2]
    np.testing.assert_array_equal(f, ref_frames(ev[:2], 4, "number", 1, 7))


def test_time_split_boundaries():
    # t0 = 0, t1 = 10, T = 3 -> dt = 3: [0,3) [3,6) and t >= 6 (incl. 9, 10 past 3*dt)
    t = np.array([0, 2, 3, 5, 6, 9, 10])
    ev = make_events(t, np.arange(7), np.zeros(7), [0, 1, 0, 1, 0, 1, 0])
    f = dvs.events_to_frames(ev, 3, split_by="time", height=1, width=7)
    per_frame = (f.sum(axis=(1, 3)) > 0).astype(int).tolist()
    assert per_frame == [[1, 1, 0, 0, 0, 0, 0], [0, 0, 1, 1, 0, 0, 0], [0, 0, 0, 0, 1, 1, 1]]
    np.testing.assert_array_equal(f, ref_frames(ev, 3, "time", 1, 7))
    # an empty window (SpikingJelly raises there) gives an empty frame
    ev2 = make_events([0, 0, 10, 10], [0, 1, 2, 3], [0, 0, 0, 0], [1, 1, 1, 1])
    f2 = dvs.events_to_frames(ev2, 3, split_by="time", height=1, width=4)
    assert f2.sum(axis=(1, 2, 3)).tolist() == [2, 0, 2]
    # dt = 0 (span < T): everything in the last frame
    f3 = dvs.events_to_frames(make_events([5, 6], [0, 1], [0, 0], [0, 1]), 4, split_by="time", height=1, width=2)
    assert f3.sum(axis=(1, 2, 3)).tolist() == [0, 0, 0, 2]
    # time binning does not depend on the order of the events
    perm = np.random.default_rng(0).permutation(7)
    np.testing.assert_array_equal(dvs.events_to_frames(ev[perm], 3, split_by="time", height=1, width=7), f)


def test_polarity_channels_and_counts():
    ev = make_events([0, 1, 2, 3, 4], [1, 1, 1, 0, 2], [2, 2, 2, 0, 1], [0, 0, 1, 1, 1])
    f = dvs.events_to_frames(ev, 1, height=3, width=3)
    assert f[0, 2, 1, 0] == 2 and f[0, 2, 1, 1] == 1  # frames[k, y, x, c], c 0 = OFF
    assert f[0, 0, 0, 1] == 1 and f[0, 1, 2, 1] == 1
    assert f.sum() == 5
    # a mapping of arrays is accepted too
    d = {k: ev[k] for k in "txyp"}
    np.testing.assert_array_equal(dvs.events_to_frames(d, 1, height=3, width=3), f)


def test_downsampling_by_binning():
    # width 4 -> 3: x' = x*3//4: 0->0, 1->0, 2->1, 3->2 ; height 4 -> 2: y' = y//2
    x = np.array([0, 1, 2, 3, 3, 0])
    y = np.array([0, 1, 2, 3, 0, 3])
    ev = make_events(np.arange(6), x, y, [1, 1, 0, 1, 1, 0])
    f = dvs.events_to_frames(ev, 1, height=4, width=4, size=(2, 3))
    expected = np.zeros((1, 2, 3, 2), np.float32)
    expected[0, 0, 0, 1] = 2  # (0,0) and (1,1)
    expected[0, 1, 1, 0] = 1  # (x=2, y=2)
    expected[0, 1, 2, 1] = 1  # (3, 3)
    expected[0, 0, 2, 1] = 1  # (3, 0)
    expected[0, 1, 0, 0] = 1  # (0, 3)
    np.testing.assert_array_equal(f, expected)
    # 128 -> 48 on a full row: the column blocks have widths 3, 3, 2, ... and cover 0..47
    row = make_events(np.arange(128), np.arange(128), np.zeros(128), np.ones(128))
    g = dvs.events_to_frames(row, 1, height=128, width=128, size=48)
    widths = g[0, 0, :, 1]
    assert g.shape == (1, 48, 48, 2) and widths.sum() == 128
    assert widths.tolist() == [len([x for x in range(128) if x * 48 // 128 == j]) for j in range(48)]
    assert widths[:3].tolist() == [3, 3, 2]
    # an integer factor equals sum pooling of the full frames
    ev = random_events(np.random.default_rng(5), 300, H=128, W=128)
    full = dvs.events_to_frames(ev, 3, height=128, width=128)
    small = dvs.events_to_frames(ev, 3, height=128, width=128, size=64)
    np.testing.assert_array_equal(small, full.reshape(3, 64, 2, 64, 2, 2).sum(axis=(2, 4)))


def test_events_to_frames_empty_and_errors():
    empty = np.zeros(0, dvs.EVENT_DTYPE)
    assert dvs.events_to_frames(empty, 2, height=4, width=5).shape == (2, 4, 5, 2)
    ev = make_events([0, 1], [0, 4], [0, 0], [0, 1])
    with pytest.raises(ValueError, match=r"events x must be in \[0, 4\).*\[0, 4\]"):
        dvs.events_to_frames(ev, 1, height=4, width=4)
    for bad, exc in ((0, ValueError), (-1, ValueError), (1.5, TypeError), (True, TypeError), ("2", TypeError)):
        with pytest.raises(exc, match="T must be a positive int"):
            dvs.events_to_frames(ev, bad, height=8, width=8)
    with pytest.raises(ValueError, match=r"split_by must be one of \('number', 'time'\), got 'bogus'"):
        dvs.events_to_frames(ev, 1, split_by="bogus", height=8, width=8)
    for bad, exc in ((0, ValueError), ((4,), ValueError), ((4, 0), ValueError), (9, ValueError), ("4", TypeError)):
        with pytest.raises(exc, match="size"):
            dvs.events_to_frames(ev, 1, height=8, width=8, size=bad)
    with pytest.raises(ValueError, match="height"):
        dvs.events_to_frames(ev, 1, height=0, width=8)
    with pytest.raises(ValueError, match="fields t, x, y, p"):
        dvs.events_to_frames(np.zeros(3), 1, height=8, width=8)


# --------------------------------------------------------------------------- DVS128 Gesture


def gesture_recording(rng, n=400, t_end=10_000, overflow_at=None):
    """Random events over [0, t_end) split into 3 packets; returns (packets, [(t, x, y, p)])."""
    ts = np.sort(rng.integers(0, t_end, n))
    xs, ys, ps = rng.integers(0, 128, n), rng.integers(0, 128, n), rng.integers(0, 2, n)
    truth = list(zip(ts.tolist(), xs.tolist(), ys.tolist(), ps.tolist(), strict=True))
    packets = []
    for chunk in np.array_split(np.arange(n), 3):
        packets.append(packet([(int(xs[i]), int(ys[i]), int(ps[i]), int(ts[i]), 1) for i in chunk]))
    packets.insert(1, special_packet())
    return packets, truth


def make_gesture_dir(root: Path, seed=0) -> dict:
    """A tiny DvsGesture folder: 2 train recordings, 1 test recording."""
    d = root / "DvsGesture"
    d.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    spec = {
        "user01_fluorescent.aedat": [(1, 500, 3000), (2, 3000, 6000), (11, 7000, 9500)],
        "user01_lab.aedat": [(5, 0, 4000), (5, 3500, 8000)],  # overlapping rows share events
        "user24_led.aedat": [(3, 1000, 2000), (10, 2500, 9999)],
    }
    truth = {}
    for name, rows in spec.items():
        packets, events = gesture_recording(rng)
        write_aedat3(d / name, packets)
        csv = "class,startTime_usec,endTime_usec\r\n" + "".join(f"{c},{s},{e}\r\n" for c, s, e in rows)
        (d / name.replace(".aedat", "_labels.csv")).write_text(csv)
        truth[name] = (rows, events)
    (d / "trials_to_train.txt").write_text("user01_fluorescent.aedat\nuser01_lab.aedat\n\n")
    (d / "trials_to_test.txt").write_text("user24_led.aedat\n")
    return truth


def expected_samples(truth, names):
    out = []
    for name in names:
        rows, events = truth[name]
        for c, s, e in rows:
            seg = [ev for ev in events if s <= ev[0] < e]
            out.append((seg, c - 1))
    return out


def test_read_labels_csv(tmp_path):
    p = tmp_path / "a_labels.csv"
    p.write_text("class,startTime_usec,endTime_usec\n1,80048239,85092709\n11\t180675853\t187389051\n\n")
    assert dvs.read_dvs_gesture_labels(p).tolist() == [
        [1, 80048239, 85092709],
        [11, 180675853, 187389051],
    ]
    p.write_text("\n\nclass,startTime_usec,endTime_usec\n3,5,9\n")  # header after blank lines
    assert dvs.read_dvs_gesture_labels(p).tolist() == [[3, 5, 9]]
    p.write_text("class,startTime_usec,endTime_usec\n12,1,2\n")
    with pytest.raises(ValueError, match=re.escape(str(p)) + r", line 2: class must be in 1..11"):
        dvs.read_dvs_gesture_labels(p)
    p.write_text("class,startTime_usec,endTime_usec\n1,2\n")
    with pytest.raises(ValueError, match=re.escape(str(p)) + r", line 2: expected"):
        dvs.read_dvs_gesture_labels(p)


def test_gesture_trials_and_segments(tmp_path):
    truth = make_gesture_dir(tmp_path)
    assert dvs.dvs_gesture_trials(tmp_path, "train") == [
        "user01_fluorescent.aedat",
        "user01_lab.aedat",
    ]
    assert dvs.dvs_gesture_trials(tmp_path / "DvsGesture", "test") == ["user24_led.aedat"]
    for split, names in (
        ("train", ["user01_fluorescent.aedat", "user01_lab.aedat"]),
        ("test", ["user24_led.aedat"]),
    ):
        got = list(dvs.iter_dvs_gesture_samples(tmp_path, split))
        want = expected_samples(truth, names)
        assert [label for _, label, _ in got] == [label for _, label in want]
        for (ev, _, _), (seg, _) in zip(got, want, strict=True):
            assert as_tuples(ev) == seg
    got = list(dvs.iter_dvs_gesture_samples(tmp_path, "train"))
    assert [lab for _, lab, _ in got] == [0, 1, 10, 4, 4]
    assert [src for _, _, src in got] == ["user01_fluorescent.aedat"] * 3 + ["user01_lab.aedat"] * 2


@pytest.mark.parametrize("split_by", ["number", "time"])
def test_load_dvs_gesture_frames(tmp_path, split_by):
    truth = make_gesture_dir(tmp_path)
    frames, labels = dvs.load_dvs_gesture(tmp_path, "train", T=3, split_by=split_by)
    assert frames.dtype == np.float32 and frames.shape == (5, 3, 128, 128, 2)
    assert labels.dtype == np.int32 and labels.tolist() == [0, 1, 10, 4, 4]
    for f, (seg, _) in zip(
        frames,
        expected_samples(truth, ["user01_fluorescent.aedat", "user01_lab.aedat"]),
        strict=True,
    ):
        t, x, y, p = zip(*seg, strict=True)
        np.testing.assert_array_equal(f, ref_frames(make_events(t, x, y, p), 3, split_by, 128, 128))
    small, _ = dvs.load_dvs_gesture(tmp_path, "test", T=2, size=32)
    full, _ = dvs.load_dvs_gesture(tmp_path, "test", T=2)
    assert small.shape == (2, 2, 32, 32, 2)
    np.testing.assert_array_equal(small, full.reshape(2, 2, 32, 4, 32, 4, 2).sum(axis=(3, 5)))


def test_load_dvs_gesture_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="trials_to_train.txt"):
        dvs.load_dvs_gesture(tmp_path, "train", T=2)
    make_gesture_dir(tmp_path)
    with pytest.raises(ValueError, match=r"split must be one of \('train', 'test'\), got 'val'"):
        dvs.load_dvs_gesture(tmp_path, "val", T=2)
    with pytest.raises(ValueError, match="T must be a positive int, got 0"):
        dvs.load_dvs_gesture(tmp_path, "train", T=0)
    with pytest.raises(ValueError, match="split_by"):
        dvs.load_dvs_gesture(tmp_path, "train", T=2, split_by="duration")
    with pytest.raises(ValueError, match="size"):
        dvs.load_dvs_gesture(tmp_path, "train", T=2, size=256)
    d = tmp_path / "DvsGesture"
    (d / "user01_lab_labels.csv").unlink()
    with pytest.raises(FileNotFoundError, match="user01_lab_labels.csv"):
        dvs.load_dvs_gesture(tmp_path, "train", T=2)


def test_load_dvs_gesture_truncated_recording_names_file(tmp_path):
    make_gesture_dir(tmp_path)
    path = tmp_path / "DvsGesture" / "user24_led.aedat"
    path.write_bytes(path.read_bytes()[:-13])
    with pytest.raises(ValueError, match=re.escape(str(path)) + ".*truncated"):
        dvs.load_dvs_gesture(tmp_path, "test", T=2)


def test_gesture_sha256sums(tmp_path):
    make_gesture_dir(tmp_path)
    d = tmp_path / "DvsGesture"
    name = "user24_led.aedat"
    digest = hashlib.sha256((d / name).read_bytes()).hexdigest()
    (d / "SHA256SUMS").write_text(f"{digest}  {name}\n")
    assert dvs.load_dvs_gesture(tmp_path, "test", T=2)[0].shape[0] == 2
    raw = bytearray((d / name).read_bytes())
    raw[-1] ^= 0xFF  # same length, different bytes: only the checksum notices
    (d / name).write_bytes(bytes(raw))
    with pytest.raises(ValueError, match=re.escape(str(d / name)) + ".*expected sha256 " + digest):
        dvs.load_dvs_gesture(tmp_path, "test", T=2)
    assert dvs.load_dvs_gesture(tmp_path, "test", T=2, verify=False)[0].shape[0] == 2


# --------------------------------------------------------------------------- cache


def test_cache_hit_rebuild_and_staleness(tmp_path, monkeypatch):
    make_gesture_dir(tmp_path / "data")
    cache = tmp_path / "cache"
    f1, l1 = dvs.load_dvs_gesture(tmp_path / "data", "train", T=2, cache_dir=cache)
    npzs = sorted(cache.glob("*.npz"))
    metas = sorted(cache.glob("*.json"))
    assert len(npzs) == 1 and len(metas) == 1 and not list(cache.glob("*.tmp"))
    info = json.loads(metas[0].read_text())
    assert info["key"]["T"] == 2 and info["key"]["split_by"] == "number" and info["num_samples"] == 5
    assert [s[0] for s in info["sources"]] == [
        "trials_to_train.txt",
        "user01_fluorescent.aedat",
        "user01_fluorescent_labels.csv",
        "user01_lab.aedat",
        "user01_lab_labels.csv",
    ]
    with np.load(npzs[0]) as z:
        assert z["frames"].dtype == np.uint8  # counts stored compactly

    calls = []
    real = dvs.read_aedat3

    def spy(path, **kw):
        calls.append(Path(path).name)
        return real(path, **kw)

    monkeypatch.setattr(dvs, "read_aedat3", spy)
    f2, l2 = dvs.load_dvs_gesture(tmp_path / "data", "train", T=2, cache_dir=cache)
    assert calls == []  # read from the npz
    assert f2.dtype == np.float32 and l2.dtype == np.int32
    np.testing.assert_array_equal(f2, f1)
    np.testing.assert_array_equal(l2, l1)

    f3, _ = dvs.load_dvs_gesture(tmp_path / "data", "train", T=2, split_by="time", cache_dir=cache)
    assert len(calls) == 2 and len(list(cache.glob("*.npz"))) == 2  # a changed option builds another file
    np.testing.assert_array_equal(f3, dvs.load_dvs_gesture(tmp_path / "data", "train", T=2, split_by="time")[0])

    # a changed source file makes the entry stale
    calls.clear()
    src = tmp_path / "data" / "DvsGesture" / "user01_lab.aedat"
    rng = np.random.default_rng(99)
    packets, _ = gesture_recording(rng, n=50)
    write_aedat3(src, packets)
    st = src.stat()
    os.utime(src, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    f4, _ = dvs.load_dvs_gesture(tmp_path / "data", "train", T=2, cache_dir=cache)
    assert calls == ["user01_fluorescent.aedat", "user01_lab.aedat"]
    assert f4[3:].sum() < f1[3:].sum()
    calls.clear()
    dvs.load_dvs_gesture(tmp_path / "data", "train", T=2, cache_dir=cache)
    assert calls == []

    # a damaged npz is rebuilt, not trusted
    npz = next(p for p in cache.glob("*.npz") if "number" in p.name)
    npz.write_bytes(b"not a zip")
    f5, _ = dvs.load_dvs_gesture(tmp_path / "data", "train", T=2, cache_dir=cache)
    assert len(calls) == 2
    np.testing.assert_array_equal(f5, f4)


# --------------------------------------------------------------------------- CIFAR10-DVS


def make_cifar_dir(root: Path, per_class: int) -> None:
    """File i of class c holds i + 1 ON events at (x=c, y=i) and one OFF event at (x=c+10, y=i)."""
    for c, cls in enumerate(dvs.CIFAR10_DVS_CLASSES):
        (root / cls).mkdir(parents=True)
        for i in range(per_class):
            recs = [(cifar_address(c, i, 1), 10 * k) for k in range(i + 1)]
            recs.append((cifar_address(c + 10, i, 0), 10 * (i + 1)))
            write_aedat2(root / cls / f"cifar10_{cls}_{i}.aedat", recs)
    (root / "airplane" / "notes.txt").write_text("ignored")


def test_cifar10_dvs_split_order(tmp_path):
    make_cifar_dir(tmp_path, 12)
    lexicographic = ["0", "1", "10", "11", "2", "3", "4", "5", "6", "7", "8", "9"]
    train = dvs.cifar10_dvs_split(tmp_path, "train")
    test = dvs.cifar10_dvs_split(tmp_path, "test")
    n_train = math.ceil(12 * 0.9)  # 11
    assert len(train) == 10 * n_train and len(test) == 10
    assert [rel for rel, _ in train[:n_train]] == [
        f"airplane/cifar10_airplane_{i}.aedat" for i in lexicographic[:n_train]
    ]
    assert test[0] == ("airplane/cifar10_airplane_9.aedat", 0)
    assert [lab for _, lab in test] == list(range(10))
    assert [lab for _, lab in train] == [c for c in range(10) for _ in range(n_train)]
    half = dvs.cifar10_dvs_split(tmp_path, "test", train_ratio=0.5)
    assert [rel for rel, _ in half[:6]] == [f"airplane/cifar10_airplane_{i}.aedat" for i in lexicographic[6:]]
    for bad, exc in (
        (0, ValueError),
        (1.0, ValueError),
        (1.5, ValueError),
        (-0.1, ValueError),
        (True, TypeError),
        ("0.9", TypeError),
    ):
        with pytest.raises(exc, match="train_ratio"):
            dvs.cifar10_dvs_split(tmp_path, "train", train_ratio=bad)


def test_load_cifar10_dvs(tmp_path):
    make_cifar_dir(tmp_path / "c", 3)
    frames, labels = dvs.load_cifar10_dvs(tmp_path / "c", "train", T=2, train_ratio=0.5)
    assert frames.shape == (20, 2, 128, 128, 2) and frames.dtype == np.float32
    assert labels.dtype == np.int32 and labels.tolist() == [c for c in range(10) for _ in range(2)]
    # sample 2*c + j is file j (names 0, 1) of class c: i+1 ON at (x=c, y=i), 1 OFF at (x=c+10, y=i)
    for c in range(10):
        for i in range(2):
            f = frames[2 * c + i].sum(axis=0)
            assert f[i, c, 1] == i + 1 and f[i, c + 10, 0] == 1 and f.sum() == i + 2
    test_frames, test_labels = dvs.load_cifar10_dvs(tmp_path / "c", "test", T=1, train_ratio=0.5, size=48)
    assert test_frames.shape == (10, 1, 48, 48, 2) and test_labels.tolist() == list(range(10))
    for c in range(10):  # file 2: 3 ON at (c, 2) and 1 OFF at (c + 10, 2), binned x*48//128
        f = test_frames[c, 0]
        assert f[2 * 48 // 128, c * 48 // 128, 1] == 3 and f[2 * 48 // 128, (c + 10) * 48 // 128, 0] == 1


def test_load_cifar10_dvs_cache_and_errors(tmp_path, monkeypatch):
    with pytest.raises(FileNotFoundError, match="airplane"):
        dvs.load_cifar10_dvs(tmp_path / "absent", "train", T=2)
    make_cifar_dir(tmp_path / "c", 2)
    cache = tmp_path / "cache"
    f1, _ = dvs.load_cifar10_dvs(tmp_path / "c", "test", T=2, train_ratio=0.5, cache_dir=cache)
    monkeypatch.setattr(dvs, "read_cifar10_dvs_file", lambda p: pytest.fail(f"read {p} on a cache hit"))
    f2, _ = dvs.load_cifar10_dvs(tmp_path / "c", "test", T=2, train_ratio=0.5, cache_dir=cache)
    np.testing.assert_array_equal(f1, f2)
    monkeypatch.undo()
    # another option, another cache file (0.4 keeps one test file per class: ceil(2 * 0.4) = 1)
    dvs.load_cifar10_dvs(tmp_path / "c", "test", T=2, train_ratio=0.4, cache_dir=cache)
    assert len(list(cache.glob("*.npz"))) == 2
    bad = tmp_path / "c" / "dog" / "cifar10_dog_1.aedat"
    bad.write_bytes(bad.read_bytes() + b"\x00\x00\x00\x01")
    with pytest.raises(ValueError, match=re.escape(str(bad)) + ".*odd number"):
        dvs.load_cifar10_dvs(tmp_path / "c", "test", T=2, train_ratio=0.5, cache_dir=cache)
    (tmp_path / "c" / "ship").rename(tmp_path / "c" / "boat")
    with pytest.raises(FileNotFoundError, match="ship"):
        dvs.load_cifar10_dvs(tmp_path / "c", "test", T=2)


def test_cifar_sha256sums(tmp_path):
    make_cifar_dir(tmp_path, 2)
    rel = "cat/cifar10_cat_1.aedat"
    digest = hashlib.sha256((tmp_path / rel).read_bytes()).hexdigest()
    (tmp_path / "SHA256SUMS").write_text(f"{digest}  {rel}\n")
    assert dvs.load_cifar10_dvs(tmp_path, "test", T=1, train_ratio=0.5)[0].shape[0] == 10
    raw = bytearray((tmp_path / rel).read_bytes())
    raw[-1] ^= 0x01
    (tmp_path / rel).write_bytes(bytes(raw))
    with pytest.raises(ValueError, match=re.escape(str(tmp_path / rel)) + ".*expected sha256"):
        dvs.load_cifar10_dvs(tmp_path, "test", T=1, train_ratio=0.5)
    assert dvs.load_cifar10_dvs(tmp_path, "test", T=1, train_ratio=0.5, verify=False)[0].shape[0] == 10
