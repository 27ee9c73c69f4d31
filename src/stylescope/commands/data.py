"""`stylescope data`: write synthfaces archives and check image datasets.

Archive layout (an uncompressed zip, readable by `--data PATH` and by StyleGAN2-ADA's loader):

    images/00000/img00000000.png ...   RGB images, 1000 per folder
    dataset.json                        {"labels": [[name, [attributes...]], ...],
                                         "label_names": [...]}
    attributes.json                     attribute names, ranges, region names, seed, resolution
    regions.npy                         uint8 [N, R, R] region label maps, rows in image order
"""

from __future__ import annotations

import argparse
import io
import json
import zipfile
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm import tqdm

from stylescope.commands import CommandError
from stylescope.data import DatasetError, scan_dataset
from stylescope.data.synthfaces import (
    ATTRIBUTE_NAMES,
    ATTRIBUTE_RANGES,
    REGION_NAMES,
    check_resolution,
    iterate_synthfaces,
)


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("data", help="write synthfaces archives, check datasets")
    sub = parser.add_subparsers(dest="data_command", metavar="ACTION", required=True)

    write = sub.add_parser(
        "synthfaces",
        help="render synthfaces into a zip archive",
        description="Render procedural portraits with attributes and region maps into a zip.",
    )
    write.add_argument("--count", type=int, required=True, help="number of images")
    write.add_argument("--resolution", type=int, default=64, help="power of two in [16, 256]")
    write.add_argument("--seed", type=int, default=0, help="dataset seed")
    write.add_argument("--out", required=True, help="output .zip path")
    write.set_defaults(func=run_synthfaces)

    check = sub.add_parser(
        "check",
        help="scan a folder or zip and report problems",
        description="Decode every file and report counts, sizes, modes, duplicates, label "
        "consistency and every unreadable file. Exits with 1 when no image is usable.",
    )
    check.add_argument("path", help="folder or zip")
    check.add_argument("--json", action="store_true", help="machine-readable output")
    check.set_defaults(func=run_check)


def run_synthfaces(args: argparse.Namespace) -> int:
    if args.count < 1:
        raise CommandError(f"--count must be positive, got {args.count}")
    if args.seed < 0:
        raise CommandError(f"--seed must be >= 0, got {args.seed}")
    try:
        resolution = check_resolution(args.resolution)
    except ValueError as error:
        raise CommandError(f"--resolution: {error}") from error
    out = Path(args.out)
    if out.suffix.lower() != ".zip":
        raise CommandError(f"--out must end in .zip, got {out}")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")

    labels, regions = [], []
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_STORED) as archive:
        bar = tqdm(total=args.count, unit="img", desc="synthfaces")
        for batch in iterate_synthfaces(args.count, resolution, args.seed):
            for image, index, row in zip(
                batch.images, batch.indices, batch.attribute_matrix, strict=True
            ):
                name = f"images/{index // 1000:05d}/img{index:08d}.png"
                buffer = io.BytesIO()
                Image.fromarray(image).save(buffer, format="PNG")
                archive.writestr(name, buffer.getvalue())
                labels.append([name, [round(float(v), 6) for v in row]])
            regions.append(batch.regions)
            bar.update(len(batch.images))
        bar.close()
        archive.writestr(
            "dataset.json", json.dumps({"labels": labels, "label_names": ATTRIBUTE_NAMES})
        )
        meta = {
            "dataset": "synthfaces", "seed": args.seed, "resolution": resolution,
            "count": args.count, "attribute_names": ATTRIBUTE_NAMES,
            "attribute_ranges": {k: list(v) for k, v in ATTRIBUTE_RANGES.items()},
            "region_names": REGION_NAMES,
        }  # fmt: skip
        archive.writestr("attributes.json", json.dumps(meta, indent=2))
        buffer = io.BytesIO()
        np.save(buffer, np.concatenate(regions))
        archive.writestr("regions.npy", buffer.getvalue())
    tmp.replace(out)
    size_mib = out.stat().st_size / 2**20
    print(f"data synthfaces: {args.count} images at {resolution}px -> {out} ({size_mib:.1f} MiB)")
    return 0


def run_check(args: argparse.Namespace) -> int:
    try:
        report = scan_dataset(args.path)
    except DatasetError as error:
        raise CommandError(str(error)) from error
    if args.json:
        print(json.dumps(report.to_dict(), indent=2))
        return 0 if report.usable else 1

    print(f"{report.path}: {report.files} files, {report.images} usable images")
    sizes = ", ".join(f"{w}x{h}: {n}" for (w, h), n in report.sizes.most_common(5))
    print(f"  sizes    {sizes or '-'}")
    print(f"  modes    {dict(report.modes.most_common()) or '-'}")
    print(f"  formats  {dict(report.formats.most_common()) or '-'}")
    print(f"  labels   {report.labels}")
    print(f"  duplicates {len(report.duplicates)} groups")
    for group in report.duplicates[:10]:
        print(f"    {', '.join(group)}")
    print(f"  problems {len(report.problems)}")
    for name, reason in report.problems:
        print(f"    {name}: {reason}")
    return 0 if report.usable else 1
