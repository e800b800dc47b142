"""The ``exoderm analyze`` / ``exoderm compare`` entry points, run for real on files."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

import cv2
import numpy as np
import pytest
from tests._signals import interruptible
from tests.skinlab._images import astronaut_face

from exoderm.skinlab.cli import RESULTS_FILE, analyze_main, compare_main
from exoderm.skinlab.phantom import Perturbation, make_phantom


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    d = tmp_path_factory.mktemp("photos")
    img = astronaut_face(1536)
    cv2.imwrite(str(d / "a.jpg"), img[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, 95])
    m = cv2.getRotationMatrix2D((768, 768), 2.0, 1.02)
    cv2.imwrite(
        str(d / "b.jpg"), cv2.warpAffine(img, m, (1536, 1536))[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, 95]
    )
    cv2.imwrite(str(d / "c.png"), cv2.GaussianBlur(img, (0, 0), 0.7)[..., ::-1])
    (d / "readme.txt").write_text("not an image, and not picked up from the folder")
    return d


def test_analyze_one_image_json(photos, capsys):
    assert analyze_main([str(photos / "a.jpg"), "--json"]) == 0
    rec = json.loads(capsys.readouterr().out)
    assert rec["file"] == "a.jpg" and rec["width"] == 1536
    assert "cheek_left" in rec["regions"] and rec["scale"]["source"] == "iris"


def test_analyze_human_summary_and_overlay(photos, tmp_path, capsys):
    assert analyze_main([str(photos / "a.jpg"), "--overlay", str(tmp_path), "--mm-per-px", "0.15"]) == 0
    out = capsys.readouterr().out
    assert "a.jpg: 1536x1536, 0.1500 mm/px (caller)" in out
    assert "cheek_left" in out and "forehead" in out
    png = tmp_path / "a.overlay.png"
    assert png.exists() and cv2.imread(str(png)) is not None


def test_full_roi_and_mask_roi(photos, tmp_path, capsys):
    mask = np.zeros((1536, 1536), np.uint8)
    mask[750:1050, 700:900] = 255
    cv2.imwrite(str(tmp_path / "m.png"), mask)
    assert analyze_main([str(photos / "a.jpg"), "--json", "--roi", str(tmp_path / "m.png")]) == 0
    assert list(json.loads(capsys.readouterr().out)["regions"]) == ["mask"]
    assert analyze_main([str(photos / "a.jpg"), "--json", "--roi", "full"]) == 0
    assert list(json.loads(capsys.readouterr().out)["regions"]) == ["full"]


def test_usage_errors(photos, capsys):
    assert analyze_main([]) == 2
    assert analyze_main([str(photos / "a.jpg"), "--roi", "nowhere.png"]) == 2
    assert analyze_main([str(photos / "a.jpg"), "--mm-per-px", "-3"]) == 2
    assert compare_main([str(photos / "a.jpg")]) == 2
    assert analyze_main(["--help"]) == 0
    capsys.readouterr()


def test_close_ups_are_measured_without_a_face(tmp_path, capsys):
    """The close-up in which the face mesh imagines a face rolled 67° (see test_pipeline): with
    ``--close-up`` no face is looked for, so it is usable and its pair comparable."""
    for name, exposure in (("before.png", 0.95), ("after.png", 1.05)):
        skin = make_phantom(
            shape=(900, 1200), seed=11, spots=30, base_lab=(62.0, 11.0, 16.0), chart=True,
            chart_pitch_mm=4.0, perturb=Perturbation(exposure=exposure, noise_sd=2.0),
        )  # fmt: skip
        cv2.imwrite(str(tmp_path / name), skin.rgb[..., ::-1])
    before, after = str(tmp_path / "before.png"), str(tmp_path / "after.png")
    common = ["--json", "--roi", "full", "--mm-per-px", "0.05"]

    assert analyze_main([before, *common]) == 0
    assert json.loads(capsys.readouterr().out)["quality"]["usable"] is False  # the false face's pose
    assert analyze_main([before, *common, "--close-up"]) == 0
    rec = json.loads(capsys.readouterr().out)
    assert rec["quality"]["usable"] is True and rec["quality"]["pose"] is None
    assert compare_main([before, after, *common, "--close-up"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["comparable"] is True, result["reasons"]

    assert analyze_main([before, "--close-up"]) == 2  # no face regions without a face
    assert compare_main([before, after, "--close-up"]) == 2
    assert "--roi full or a mask" in capsys.readouterr().err


def test_bad_image_reported_not_crashing(photos, tmp_path, capsys):
    bad = tmp_path / "broken.jpg"
    bad.write_bytes((photos / "a.jpg").read_bytes()[:3000])
    assert analyze_main([str(bad), "--json"]) == 1
    rec = json.loads(capsys.readouterr().out)
    assert rec["file"] == "broken.jpg"
    assert "truncated" in rec["error"] or "corrupt" in rec["error"]


def test_batch_folder_parallel_and_resume(photos, tmp_path, capsys):
    out = tmp_path / "out"
    assert analyze_main([str(photos), "--json", "--out", str(out), "--jobs", "2"]) == 0
    recs = json.loads(capsys.readouterr().out)
    assert [r["file"] for r in recs] == ["a.jpg", "b.jpg", "c.png"]
    lines = (out / RESULTS_FILE).read_text().splitlines()
    assert len(lines) == 3

    # simulate an interruption after the first image: one complete line and one cut short
    first = json.loads(next(line for line in lines if '"a.jpg"' in line))
    first["record"]["quality"]["notes"] = ["from the earlier run"]
    (out / RESULTS_FILE).write_text(json.dumps(first) + "\n" + lines[1][:40])
    assert analyze_main([str(photos), "--json", "--out", str(out), "--jobs", "1"]) == 0
    recs = json.loads(capsys.readouterr().out)
    assert [r["file"] for r in recs] == ["a.jpg", "b.jpg", "c.png"]
    assert recs[0]["quality"]["notes"] == ["from the earlier run"]  # skipped, not recomputed
    assert recs[1]["quality"]["notes"] != ["from the earlier run"]
    done = [json.loads(x) for x in (out / RESULTS_FILE).read_text().splitlines() if x.endswith("}")]
    assert {d["record"]["file"] for d in done} == {"a.jpg", "b.jpg", "c.png"}


def test_compare_json_and_overlay(photos, tmp_path, capsys):
    code = compare_main([str(photos / "a.jpg"), str(photos / "b.jpg"), "--json", "--overlay", str(tmp_path)])
    assert code == 0
    rec = json.loads(capsys.readouterr().out)
    assert rec["comparable"] is True and rec["reasons"] == []
    row = rec["regions"]["cheek_left"]["L_median"]
    assert set(row) == {"before", "after", "delta", "mdc", "beyond_noise"}
    assert (tmp_path / "difference_L.png").exists() and (tmp_path / "difference_a.png").exists()
    assert (tmp_path / "a.before.overlay.png").exists() and (tmp_path / "b.after.overlay.png").exists()


def test_compare_human_output(photos, capsys):
    assert compare_main([str(photos / "a.jpg"), str(photos / "b.jpg")]) == 0
    out = capsys.readouterr().out
    assert "comparable: yes" in out and "L_median" in out


def test_compare_unreadable_file(photos, tmp_path, capsys):
    (tmp_path / "x.jpg").write_text("this is a text file, not a photo\n" * 5)
    assert compare_main([str(photos / "a.jpg"), str(tmp_path / "x.jpg")]) == 1
    assert "not an image" in capsys.readouterr().err


PHOTOS_TO_INTERRUPT = 24


@pytest.mark.parametrize("jobs", [1, 2])
def test_interrupt_then_resume(photos, tmp_path, jobs):
    """Ctrl-C (SIGINT) part-way through a batch, then the same command finishes the rest.

    The batch is long enough that the signal lands while it runs even when this process is
    scheduled late on a loaded machine (with 8 photos a busy CI box once sent it to a batch that
    had finished and was exiting: return code 0)."""
    src = tmp_path / "in"
    src.mkdir()
    for i in range(PHOTOS_TO_INTERRUPT):
        (src / f"p{i}.jpg").write_bytes((photos / "a.jpg").read_bytes())
    out = tmp_path / "out"
    cmd = [
        sys.executable,
        "-c",
        "import sys; from exoderm.skinlab.cli import analyze_main; sys.exit(analyze_main(sys.argv[1:]))",
        str(src),
        "--out",
        str(out),
        "--jobs",
        str(jobs),
    ]
    proc = subprocess.Popen(
        cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, preexec_fn=interruptible
    )
    results = out / RESULTS_FILE
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if results.exists() and results.read_text().count("\n") >= 1:
            break
        time.sleep(0.05)
    assert proc.poll() is None, "the batch finished before it could be interrupted"
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "run the same command again to resume" in err
    first = [json.loads(x) for x in results.read_text().splitlines() if x.endswith("}")]
    assert 1 <= len(first) < PHOTOS_TO_INTERRUPT

    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert f"resuming: {len(first)} of {PHOTOS_TO_INTERRUPT}" in done.stderr
    final = [json.loads(x) for x in results.read_text().splitlines() if x.endswith("}")]
    assert sorted(r["record"]["file"] for r in final) == sorted(
        f"p{i}.jpg" for i in range(PHOTOS_TO_INTERRUPT)
    )
