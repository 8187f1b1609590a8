"""Browser-playable MP4s (queue videos, evaluation replays): H.264 in 4:2:0, index first, every frame at its time."""

from __future__ import annotations

import functools
import http.server
import threading
from pathlib import Path

import av
import numpy as np
import pandas as pd
import pytest
from helpers import texture, write_clip

from vision_assets.core.video.browser_mp4 import BrowserMp4Writer, transcode_for_browser


def probe(path: Path) -> dict:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        frames = [f.to_ndarray(format="bgr24") for f in container.decode(stream)]
        return {"codec": stream.codec_context.name, "pix_fmt": stream.codec_context.pix_fmt,
                "fps": stream.average_rate, "frames": frames, "size": (stream.width, stream.height),
                "seconds": float(stream.duration * stream.time_base)}


def atom_order(path: Path) -> list[str]:
    data, at, atoms = path.read_bytes(), 0, []
    while at + 8 <= len(data):
        size = int.from_bytes(data[at:at + 4], "big")
        atoms.append(data[at + 4:at + 8].decode("latin-1"))
        if size < 8:
            break
        at += size
    return atoms


def test_a_real_clip_keeps_every_frame_at_its_non_integer_rate(tmp_path, material):
    """realshort.mp4: 36 frames at 45000/1499 fps (about 30.02)."""
    out = tmp_path / "copy.mp4"
    written = transcode_for_browser(material / "videos" / "realshort.mp4", out, 45000 / 1499)

    found = probe(out)
    assert (found["codec"], found["pix_fmt"]) == ("h264", "yuv420p")
    assert written["frames"] == len(found["frames"]) == 36
    assert found["fps"] == pytest.approx(45000 / 1499) and found["seconds"] == pytest.approx(36 * 1499 / 45000)
    assert atom_order(out).index("moov") < atom_order(out).index("mdat")  # +faststart: playable while loading
    assert not list(tmp_path.glob(".*partial"))


def test_frames_stay_in_order_and_odd_sizes_are_padded_not_scaled(tmp_path):
    images = [texture(seed, (81, 47)) for seed in range(12)]
    with BrowserMp4Writer(tmp_path / "odd.mp4", 10, 81, 47) as writer:
        for image in images:
            writer.write(image)

    found = probe(tmp_path / "odd.mp4")
    assert found["size"] == (82, 48) and len(found["frames"]) == 12
    # Each decoded frame is nearest to the image written at its position (lossy, but never another frame).
    for index, decoded in enumerate(found["frames"]):
        errors = [np.abs(decoded[:47, :81].astype(int) - image.astype(int)).mean() for image in images]
        assert int(np.argmin(errors)) == index


def test_a_failed_write_leaves_no_file(tmp_path):
    with pytest.raises(ValueError, match="is 10x10"):
        with BrowserMp4Writer(tmp_path / "bad.mp4", 10, 16, 16) as writer:
            writer.write(texture(1, (16, 16)))
            writer.write(texture(2, (10, 10)))
    assert list(tmp_path.iterdir()) == []


def test_a_replay_keeps_frames_qc_skipped_marked_so_its_time_stays_true(tmp_path):
    from vision_assets.core.evaluation.video_tracking import TestVideo, write_replay

    clip = write_clip(tmp_path / "clip.mp4", [texture(seed, (96, 64)) for seed in range(20)], fps=10)
    truth = pd.DataFrame([{"frame": f, "track_id": 1, "class_name": "car", "x1": 10.0, "y1": 10.0, "x2": 40.0,
                           "y2": 40.0} for f in range(3, 15) if f != 8])
    video = TestVideo(video_sha256="v" * 64, scene="cam-a", day="2026-11-18", lighting="day", stored_path="clip.mp4",
                      fps=10.0, width=96, height=64, ground_truth=truth, first_frame=3, last_frame=14,
                      skipped_frames={8})
    predictions = pd.DataFrame(columns=["frame", "track_id", "x1", "y1", "x2", "y2"])

    write_replay(clip, video, predictions, pd.DataFrame(), tmp_path / "replay.mp4")

    found = probe(tmp_path / "replay.mp4")
    assert (found["codec"], found["pix_fmt"], found["fps"]) == ("h264", "yuv420p", 10)
    assert len(found["frames"]) == 12  # frames 3..14, the skipped frame 8 included: 1.2 s, as in the video
    brightness = [frame[:40].mean() for frame in found["frames"]]
    assert brightness[8 - 3] < 0.7 * min(brightness[7 - 3], brightness[9 - 3])  # dimmed and marked


CHROMIUM = Path("/usr/bin/chromium")
PLAYS = """() => new Promise(done => {
    const v = document.getElementById("v");
    const report = () => done(v.error ? {plays: false, error: v.error.code}
                                      : {plays: v.readyState >= 2, width: v.videoWidth, duration: v.duration});
    if (v.error || v.readyState >= 2) report();
    v.onloadeddata = report; v.onerror = report; setTimeout(report, 30000);
})"""
GREY_AT = """t => new Promise(done => {
    const v = document.getElementById("v");
    v.onseeked = () => {
        try {
            const c = document.createElement("canvas"); c.width = v.videoWidth; c.height = v.videoHeight;
            const g = c.getContext("2d"); g.drawImage(v, 0, 0);
            done(g.getImageData(c.width / 2, c.height / 2, 1, 1).data[1]);
        } catch (error) { done(String(error)); }
    };
    setTimeout(() => done("no seeked event"), 30000);
    v.currentTime = t;
})"""


def test_chromium_plays_it_and_shows_frame_n_at_n_over_fps(tmp_path):
    """What Label Studio's player and the report page run on: Chromium plays the H.264 file and, seeked to a frame's
    time, shows that frame; OpenCV's mp4v, which the queue and replays used to be, it refuses."""
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed (apt-get install -y chromium; .ci/run does)")
    import cv2
    from playwright.sync_api import sync_playwright

    greys = [20 + 10 * i for i in range(20)]
    with BrowserMp4Writer(tmp_path / "h264.mp4", 10, 96, 64) as writer:
        for grey in greys:
            writer.write(np.full((64, 96, 3), grey, np.uint8))
    old = cv2.VideoWriter(str(tmp_path / "mp4v.mp4"), cv2.VideoWriter_fourcc(*"mp4v"), 10, (96, 64))
    for grey in greys:
        old.write(np.full((64, 96, 3), grey, np.uint8))
    old.release()

    # Served over HTTP, as Label Studio serves it: a page may read back the pixels of a same-origin video only.
    class Ranged(http.server.SimpleHTTPRequestHandler):
        """Byte ranges, as Label Studio serves media: Chromium seeks only in a source that has them."""

        def do_GET(self):
            wanted = self.headers.get("Range", "")
            if not wanted.startswith("bytes="):
                return super().do_GET()
            data = (tmp_path / self.path.lstrip("/")).read_bytes()
            first, _, last = wanted.removeprefix("bytes=").partition("-")
            first, last = int(first or 0), min(int(last) if last else len(data) - 1, len(data) - 1)
            self.send_response(206)
            self.send_header("Content-Type", "video/mp4")
            self.send_header("Accept-Ranges", "bytes")
            self.send_header("Content-Range", f"bytes {first}-{last}/{len(data)}")
            self.send_header("Content-Length", str(last - first + 1))
            self.end_headers()
            self.wfile.write(data[first:last + 1])

        def log_message(self, *args):
            pass

    handler = functools.partial(Ranged, directory=str(tmp_path))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    found = {}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox", "--disable-gpu"])
        try:
            page = browser.new_page()
            for name in ("mp4v.mp4", "h264.mp4"):
                (tmp_path / f"{name}.html").write_text(f'<video id="v" muted preload="auto" src="{name}"></video>')
                page.goto(f"{base}/{name}.html")
                found[name] = page.evaluate(PLAYS)
            shown = {frame: page.evaluate(GREY_AT, (frame + 0.5) / 10) for frame in (0, 7, 13, 19)}
        finally:
            browser.close()
            server.shutdown()

    assert found["mp4v.mp4"] == {"plays": False, "error": 4}  # MEDIA_ERR_SRC_NOT_SUPPORTED
    assert found["h264.mp4"] == {"plays": True, "width": 96, "duration": pytest.approx(2.0)}
    assert all(abs(grey - greys[frame]) <= 4 for frame, grey in shown.items()), shown
