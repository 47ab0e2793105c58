"""Downloads: a temporary file, a size cap, a video check, then the cache. Served from 127.0.0.1 only."""

import http.server
import threading

import numpy as np
import pytest

from cosmos_nb_utils.video import VideoError, probe_video, resolve_video, write_video
from cosmos_nb_utils.video import sources as video_sources


@pytest.fixture
def server(tmp_path, monkeypatch):
    """A small HTTP server on loopback: {path: (status, body)}; it counts the requests it gets."""
    monkeypatch.setenv("COSMOS_NB_CACHE", str(tmp_path / "cache"))
    frames = np.random.default_rng(0).integers(0, 255, (20, 64, 96, 3), dtype=np.uint8)
    clip = write_video(frames, tmp_path / "c.mp4", 10)
    routes = {"/clip.mp4": (200, clip.read_bytes()), "/page.mp4": (200, b"<html>Sign in to watch</html>" * 50),
              "/gone.mp4": (404, b"not found"), "/half.mp4": (200, clip.read_bytes()[: clip.stat().st_size // 2]),
              "/big.mp4": (200, b"\0" * 300_000)}
    hits = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            hits.append(self.path)
            status, body = routes.get(self.path.split("?")[0], (404, b""))
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", hits, tmp_path / "cache" / "videos"
    httpd.shutdown()
    httpd.server_close()
    thread.join(timeout=10)


def cached(folder):
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_download_is_checked_cached_once_and_upper_case_scheme_works(server):
    base, hits, folder = server
    info = probe_video(f"{base}/clip.mp4")
    assert info.num_frames == 20 and info.path.parent == folder
    assert probe_video(f"{base}/clip.mp4").path == info.path and hits == ["/clip.mp4"]
    upper = "HTTP://" + base[len("http://"):] + "/clip.mp4?v=2"
    assert resolve_video(upper).parent == folder and len(hits) == 2
    assert not [name for name in cached(folder) if "partial" in name]


@pytest.mark.parametrize(("route", "reason"), [("/page.mp4", "did not download a usable video"),
                                               ("/half.mp4", "did not download a usable video"),
                                               ("/gone.mp4", "Could not download")])
def test_failed_or_non_video_download_leaves_nothing_cached(server, route, reason):
    base, hits, folder = server
    for _ in range(2):  # and is tried again next time, not served from the cache
        with pytest.raises(VideoError, match=reason):
            probe_video(base + route)
        assert cached(folder) == []
    assert hits == [route, route]


def test_download_size_cap(server, monkeypatch):
    base, _, folder = server
    monkeypatch.setattr(video_sources, "MAX_DOWNLOAD_BYTES", 100_000)
    with pytest.raises(VideoError, match="more than the course downloads"):
        probe_video(f"{base}/big.mp4")
    assert cached(folder) == []
