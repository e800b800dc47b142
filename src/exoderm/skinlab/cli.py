"""``exoderm analyze`` and ``exoderm compare``: the engine on the command line.

``analyze_main`` and ``compare_main`` take the arguments after the sub-command and return the
exit status (0 success, 1 an image could not be analysed, 2 usage error, 130 interrupted);
``exoderm.cli`` wires them in.

Batches (several images or a folder) run on all cores with a progress bar. With ``--out DIR``
every finished image is appended at once to ``DIR/results.jsonl``; running the same command
again skips the images already there (same path, size and modification time), so an
interrupted batch resumes where it stopped.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import sys
from collections.abc import Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from pathlib import Path
from typing import Any

__all__ = ["IMAGE_SUFFIXES", "RESULTS_FILE", "analyze_main", "compare_main"]

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".tif", ".tiff", ".heic", ".heif"}
RESULTS_FILE = "results.jsonl"
_SUMMARY_KEYS = (
    ("L_median", "L*"),
    ("a_median", "a*"),
    ("b_median", "b*"),
    ("ita_deg", "ITA°"),
    ("spot_count", "spots"),
    ("red_area_pct", "red%"),
    ("wrinkle_density", "wrk/cm²"),
    ("texture_rms", "texture"),
)


class _Parser(argparse.ArgumentParser):
    """argparse that raises instead of exiting, so the mains can return a status."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        raise _UsageError(f"{self.prog}: error: {message}")


class _UsageError(Exception):
    pass


def _roi_arg(value: str) -> str:
    if value in ("face", "full"):
        return value
    if not Path(value).is_file():
        raise argparse.ArgumentTypeError(f"--roi must be face, full or a mask PNG file; {value!r} is none")
    return str(Path(value).resolve())


def _positive(value: str) -> float:
    try:
        f = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {value!r}") from None
    if not f > 0:
        raise argparse.ArgumentTypeError(f"must be positive: {value!r}")
    return f


def _expand(items: Iterable[str]) -> list[Path]:
    """Files as given; folders to their image files (sorted, not recursive)."""
    out: list[Path] = []
    for item in items:
        p = Path(item)
        if p.is_dir():
            out.extend(sorted(q for q in p.iterdir() if q.is_file() and q.suffix.lower() in IMAGE_SUFFIXES))
        else:
            out.append(p)
    return out


def _key(path: Path) -> str:
    """Identity of an input file for resuming: absolute path, size, modification time."""
    try:
        st = path.stat()
        return f"{path.resolve()}|{st.st_size}|{st.st_mtime_ns}"
    except OSError:
        return f"{path.resolve()}|missing"


def _overlay_name(path: Path, suffix: str) -> str:
    return f"{path.stem}.{suffix}.png"


def _analyze_one(
    path: str, roi: str, mm_per_px: float | None, overlay_dir: str | None, find_face: bool = True
) -> dict[str, Any]:
    """Worker: one image to its JSON record, or ``{"file", "error"}``."""
    from .io import SkinlabError
    from .overlay import region_overlay, save_png
    from .pipeline import analyze

    p = Path(path)
    try:
        result = analyze(
            p, roi=roi, mm_per_px=mm_per_px, keep_arrays=overlay_dir is not None, find_face=find_face
        )
        record = result.to_dict()
        if overlay_dir is not None and result.masks:
            save_png(region_overlay(result), Path(overlay_dir) / _overlay_name(p, "overlay"))
    except SkinlabError as exc:
        record = {"file": p.name, "error": str(exc)}
    except MemoryError:
        record = {"file": p.name, "error": "out of memory while analysing this image"}
    except Exception as exc:  # one bad image must not end a batch of thousands
        record = {"file": p.name, "error": f"internal error ({type(exc).__name__}: {exc}); please report it"}
    return record


def _init_worker() -> None:
    import cv2

    from .memory import keep_freed_memory

    cv2.setNumThreads(1)
    keep_freed_memory()


def _load_done(results: Path) -> dict[str, dict[str, Any]]:
    done: dict[str, dict[str, Any]] = {}
    if not results.exists():
        return done
    for line in results.read_text().splitlines():
        try:
            row = json.loads(line)
            done[row["key"]] = row["record"]
        except (ValueError, KeyError, TypeError):
            continue  # a line cut short by an interruption
    return done


def _print_summary(record: dict[str, Any]) -> None:
    name = record.get("file") or "(image)"
    if "error" in record:
        print(f"{name}: ERROR {record['error']}")
        return
    q = record["quality"]
    scale = record["scale"]
    cal = record["calibration"]
    mmpp = f"{scale['mm_per_px']:.4f} mm/px ({scale['source']})" if scale["mm_per_px"] else "scale unknown"
    calib = f"calibrated, ΔE00 {cal['delta_e00_mean']:.2f}" if cal["calibrated"] else "not calibrated"
    print(f"{name}: {record['width']}x{record['height']}, {mmpp}, {calib}")
    pose = q["pose"]
    pose_s = (
        ""
        if pose is None
        else f", pose yaw {pose['yaw']:+.1f}° pitch {pose['pitch']:+.1f}° roll {pose['roll']:+.1f}°"
    )
    print(f"  quality: {'usable' if q['usable'] else 'NOT USABLE'}, sharpness {q['sharpness']:.2f}{pose_s}")
    for note in q["notes"]:
        print(f"    - {note}")
    if not record["regions"]:
        return
    header = f"  {'region':<18}" + "".join(f"{label:>9}" for _, label in _SUMMARY_KEYS)
    print(header)
    for region, r in record["regions"].items():
        cells = []
        for key, _ in _SUMMARY_KEYS:
            v = r["metrics"].get(key)
            cells.append(f"{'—' if v is None else (f'{v:.1f}' if isinstance(v, float) else str(v)):>9}")
        print(f"  {region:<18}" + "".join(cells))


def _emit(records: list[dict[str, Any]], as_json: bool) -> None:
    if as_json:
        payload: Any = records[0] if len(records) == 1 else records
        print(json.dumps(payload, ensure_ascii=False, allow_nan=False))
    else:
        for r in records:
            _print_summary(r)


def _add_close_up(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--close-up",
        action="store_true",
        help="close-ups of skin, no whole face: no face is looked for (a face found in skin texture "
        "would make the photo unusable by its pose); needs --roi full or a mask",
    )


def _check_close_up(args: argparse.Namespace) -> None:
    if args.close_up and args.roi == "face":
        raise _UsageError("--close-up measures no face regions: give --roi full or a mask PNG")


def analyze_main(argv: list[str]) -> int:
    """``exoderm analyze IMAGE… [--json] [--roi face|full|MASK.png] [--mm-per-px F] [--overlay DIR]
    [--close-up]``."""
    parser = _Parser(prog="exoderm analyze", description="Measure skin in standardized photos.")
    parser.add_argument("images", nargs="+", help="image files or folders of images")
    parser.add_argument(
        "--json", action="store_true", help="print the JSON record (an array for several images)"
    )
    parser.add_argument("--roi", type=_roi_arg, default="face", help="face (default), full, or a mask PNG")
    parser.add_argument(
        "--mm-per-px", type=_positive, default=None, help="known scale, millimetres per pixel"
    )
    parser.add_argument("--overlay", metavar="DIR", default=None, help="write overlay PNGs here")
    _add_close_up(parser)
    parser.add_argument(
        "--out", metavar="DIR", default=None, help=f"append results to DIR/{RESULTS_FILE}; rerun to resume"
    )
    parser.add_argument(
        "--jobs", type=int, default=os.cpu_count() or 1, help="worker processes (default: all cores)"
    )
    try:
        args = parser.parse_args(argv)
        _check_close_up(args)
    except _UsageError as exc:
        print(exc, file=sys.stderr)
        return 2
    except SystemExit as exc:  # --help
        return int(exc.code or 0)

    paths = _expand(args.images)
    if not paths:
        print("exoderm analyze: no images found", file=sys.stderr)
        return 2
    overlay_dir = str(Path(args.overlay).resolve()) if args.overlay else None
    if overlay_dir:
        Path(overlay_dir).mkdir(parents=True, exist_ok=True)
    results_path = None
    done: dict[str, dict[str, Any]] = {}
    if args.out:
        Path(args.out).mkdir(parents=True, exist_ok=True)
        results_path = Path(args.out) / RESULTS_FILE
        done = _load_done(results_path)
    keys = [_key(p) for p in paths]
    records: dict[str, dict[str, Any]] = {k: done[k] for k in keys if k in done}
    todo = [(k, p) for k, p in zip(keys, paths, strict=True) if k not in records]
    if records:
        print(f"resuming: {len(records)} of {len(paths)} images already in {results_path}", file=sys.stderr)

    sink = results_path.open("a") if results_path else None
    if sink is not None and sink.tell() > 0:
        with results_path.open("rb") as fh:  # type: ignore[union-attr]
            fh.seek(-1, os.SEEK_END)
            if fh.read(1) != b"\n":  # the last line was cut short by an interruption
                sink.write("\n")

    def finish(key: str, record: dict[str, Any]) -> None:
        records[key] = record
        if sink is not None:
            sink.write(json.dumps({"key": key, "record": record}, ensure_ascii=False) + "\n")
            sink.flush()

    interrupted = False
    try:
        if len(todo) == 1 or args.jobs <= 1:
            if len(todo) > 1:
                _init_worker()  # this process analyses one image after another
            for key, p in _progress(todo, len(todo) > 1):
                finish(key, _analyze_one(str(p), args.roi, args.mm_per_px, overlay_dir, not args.close_up))
        elif todo:
            interrupted = _run_pool(todo, args, overlay_dir, finish)
    except KeyboardInterrupt:
        interrupted = True
    finally:
        if sink is not None:
            sink.close()
    if interrupted:
        where = f"; run the same command again to resume from {results_path}" if results_path else ""
        print(f"\ninterrupted: {len(records)} of {len(paths)} images done{where}", file=sys.stderr)
        return 130
    ordered = [records[k] for k in keys]
    _emit(ordered, args.json)
    return 1 if any("error" in r for r in ordered) else 0


def _progress(items: list[Any], show: bool) -> Iterable[Any]:
    if not show:
        return items
    from tqdm import tqdm

    return tqdm(items, unit="img", file=sys.stderr)


def _run_pool(
    todo: list[tuple[str, Path]], args: argparse.Namespace, overlay_dir: str | None, finish: Any
) -> bool:
    """Analyse ``todo`` on ``args.jobs`` processes; True if interrupted (Ctrl-C)."""
    from tqdm import tqdm

    ctx = multiprocessing.get_context("spawn")
    pool = ProcessPoolExecutor(
        max_workers=min(args.jobs, len(todo)), mp_context=ctx, initializer=_init_worker
    )
    futures: dict[Future[dict[str, Any]], str] = {}
    try:
        for key, p in todo:
            job = (str(p), args.roi, args.mm_per_px, overlay_dir, not args.close_up)
            futures[pool.submit(_analyze_one, *job)] = key
        pending = set(futures)
        with tqdm(total=len(todo), unit="img", file=sys.stderr) as bar:
            while pending:
                finished, pending = wait(pending, return_when=FIRST_COMPLETED)
                for fut in finished:
                    finish(futures[fut], fut.result())
                    bar.update(1)
    except KeyboardInterrupt:
        for fut in futures:
            fut.cancel()
        pool.shutdown(wait=False, cancel_futures=True)
        return True
    pool.shutdown()
    return False


def compare_main(argv: list[str]) -> int:
    """``exoderm compare BEFORE AFTER [--json] [--overlay DIR] [--roi …] [--mm-per-px F] [--close-up]``."""
    parser = _Parser(prog="exoderm compare", description="Compare a follow-up photo with its baseline.")
    parser.add_argument("before")
    parser.add_argument("after")
    parser.add_argument("--json", action="store_true", help="print the comparison as JSON")
    parser.add_argument(
        "--overlay", metavar="DIR", default=None, help="write overlays and the ΔL* heat map here"
    )
    parser.add_argument("--roi", type=_roi_arg, default="face", help="face (default), full, or a mask PNG")
    parser.add_argument("--mm-per-px", type=_positive, default=None, help="known scale of both photos")
    _add_close_up(parser)
    try:
        args = parser.parse_args(argv)
        _check_close_up(args)
    except _UsageError as exc:
        print(exc, file=sys.stderr)
        return 2
    except SystemExit as exc:
        return int(exc.code or 0)

    from .compare import compare
    from .io import SkinlabError
    from .overlay import difference_overlay, region_overlay, save_png
    from .pipeline import analyze

    try:
        before, after = (
            analyze(path, roi=args.roi, mm_per_px=args.mm_per_px, find_face=not args.close_up)
            for path in (args.before, args.after)
        )
    except SkinlabError as exc:
        print(f"exoderm compare: {exc}", file=sys.stderr)
        return 1
    result = compare(before, after)
    if args.overlay:
        out = Path(args.overlay)
        for tag, a, src in (("before", before, args.before), ("after", after, args.after)):
            if a.masks:
                save_png(region_overlay(a), out / _overlay_name(Path(src), f"{tag}.overlay"))
        if result.delta_L is not None:
            save_png(difference_overlay(result, channel="L"), out / "difference_L.png")
            save_png(difference_overlay(result, channel="a"), out / "difference_a.png")
    record = result.to_dict()
    if args.json:
        print(json.dumps(record, ensure_ascii=False, allow_nan=False))
        return 0
    print(f"before: {args.before}\nafter:  {args.after}")
    print(f"comparable: {'yes' if result.comparable else 'NO'}")
    for r in result.reasons:
        print(f"  - {r}")
    for n in result.notes:
        print(f"  note: {n}")
    region = "face" if "face" in result.regions else next(iter(result.regions), None)
    if region is not None:
        print(f"  {region}: {'metric':<18}{'before':>10}{'after':>10}{'delta':>10}{'mdc':>8}  change")
        for key, row in result.regions[region].items():
            if row["delta"] is None:
                continue
            verdict = {True: "beyond noise", False: "within noise", None: "not judged"}[row["beyond_noise"]]
            mdc = "—" if row["mdc"] is None else f"{row['mdc']:.2f}"
            print(
                f"  {'':<{len(region) + 1}} {key:<18}{row['before']:>10.2f}{row['after']:>10.2f}"
                f"{row['delta']:>+10.2f}{mdc:>8}  {verdict}"
            )
    return 0
