"""Make the course's video clips: small, synthetic, deterministic and license-clean.

    python scripts/make_assets.py [OUT_DIR]   (default: assets/)

Every clip is drawn frame by frame with Pillow from simple physics, then encoded
as H.264 by PyAV. Same code, same library versions -> same frames.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from cosmos_nb_utils.video import write_video  # noqa: E402

W, H = 448, 252


def _canvas(color=(235, 235, 235)):
    image = Image.new("RGB", (W, H), color)
    return image, ImageDraw.Draw(image)


def _font(size):
    try:
        return ImageFont.load_default(size=size)
    except TypeError:
        return ImageFont.load_default()


def road_turn(fps: int = 12, seconds: float = 8.0) -> np.ndarray:
    """Driver's view nearing a crossing; the light is red for the right turn and a pedestrian crosses on the right."""
    frames = []
    n = int(fps * seconds)
    for i in range(n):
        t = i / fps
        speed = max(0.0, 1.0 - t / 6.0)  # the car slows to a stop
        img, d = _canvas((135, 190, 235))
        d.rectangle((0, H // 2, W, H), fill=(90, 140, 80))
        d.polygon([(W // 2 - 20, H // 2), (W // 2 + 20, H // 2), (W, H), (0, H)], fill=(70, 70, 75))
        d.rectangle((0, H // 2 + 8, W, H // 2 + 22), fill=(70, 70, 75))  # the cross street
        for k in range(6):  # crosswalk stripes across the right side of the junction
            d.rectangle((W // 2 + 40 + k * 18, H // 2 + 26, W // 2 + 50 + k * 18, H // 2 + 40), fill=(240, 240, 240))
        offset = (t * 40 * speed) % 40
        for k in range(6):  # lane dashes moving toward the viewer while the car rolls
            y = H // 2 + 30 + ((k * 40 + offset) % 200) * 0.6
            w = 2 + (y - H // 2) / 25
            d.rectangle((W // 2 - w, y, W // 2 + w, y + 8), fill=(250, 220, 60))
        d.rectangle((W // 2 + 120, H // 2 - 70, W // 2 + 138, H // 2 - 20), fill=(30, 30, 30))
        d.ellipse((W // 2 + 122, H // 2 - 66, W // 2 + 136, H // 2 - 52), fill=(230, 30, 30))  # red
        d.ellipse((W // 2 + 122, H // 2 - 36, W // 2 + 136, H // 2 - 22), fill=(40, 60, 40))
        d.rectangle((W // 2 + 127, H // 2 - 20, W // 2 + 133, H // 2 + 8), fill=(60, 60, 60))
        px = W // 2 + 150 - t * 14  # a pedestrian walks across the right-hand crosswalk
        d.ellipse((px - 5, H // 2 + 2, px + 5, H // 2 + 12), fill=(250, 200, 160))
        d.rectangle((px - 5, H // 2 + 12, px + 5, H // 2 + 32), fill=(200, 40, 120))
        d.rectangle((0, H - 30, W, H), fill=(25, 25, 30))  # dashboard
        frames.append(np.asarray(img))
    return np.stack(frames)


def ball_bounce(fps: int = 12, seconds: float = 6.0) -> np.ndarray:
    """A ball dropped on the floor: each bounce lower than the last (energy is lost)."""
    g, restitution, r = 400.0, 0.85, 14
    y, v, dt = 20.0, 0.0, 1.0 / (fps * 20)
    frames = []
    floor = H - 30
    for _i in range(int(fps * seconds)):
        for _ in range(20):
            v += g * dt
            y += v * dt
            if y > floor - r:
                y, v = floor - r, -v * restitution
        img, d = _canvas()
        d.rectangle((0, floor, W, H), fill=(120, 90, 60))
        d.ellipse((W // 2 - r, y - r, W // 2 + r, y + r), fill=(220, 60, 40))
        frames.append(np.asarray(img))
    return np.stack(frames)


def ball_roll(fps: int = 12, seconds: float = 6.0) -> np.ndarray:
    """A ball rolls down a ramp, then slows to a stop on the flat floor (friction)."""
    frames = []
    x, v, r = 30.0, 0.0, 12
    ramp_end, floor = 180, H - 40
    dt = 1.0 / (fps * 20)
    for _i in range(int(fps * seconds)):
        for _ in range(20):
            a = 160.0 if x < ramp_end else -120.0
            v = max(0.0, v + a * dt)
            x += v * dt
        ramp_y = floor - max(0.0, (ramp_end - x)) * 0.6
        img, d = _canvas()
        d.polygon([(0, floor - ramp_end * 0.6), (ramp_end, floor), (0, floor)], fill=(150, 150, 160))
        d.rectangle((0, floor, W, H), fill=(120, 90, 60))
        d.ellipse((x - r, ramp_y - 2 * r, x + r, ramp_y), fill=(40, 90, 200))
        angle = x / r
        spoke = (x + r * math.cos(angle), ramp_y - r + r * math.sin(angle))
        d.line((x, ramp_y - r, *spoke), fill=(255, 255, 255), width=2)
        frames.append(np.asarray(img))
    return np.stack(frames)


def ink_spread(fps: int = 12, seconds: float = 6.0) -> np.ndarray:
    """A drop of ink falls into water and spreads out (diffusion only goes one way)."""
    frames = []
    yy, xx = np.mgrid[0:H, 0:W]
    for i in range(int(fps * seconds)):
        t = i / fps
        img = np.full((H, W, 3), (225, 238, 245), np.float32)
        if t < 1.0:  # the drop falls
            cy = 20 + 150 * t * t
            mask = ((xx - W / 2) ** 2 + (yy - cy) ** 2) < 36
            img[mask] = (40, 40, 140)
        else:
            s = 6 + 30 * math.sqrt(t - 1.0)
            cloud = np.exp(-(((xx - W / 2) ** 2) / (2 * (1.6 * s) ** 2) + ((yy - 170) ** 2) / (2 * s**2)))
            strength = min(1.0, 14 / s)
            for c, ink in enumerate((40, 40, 140)):
                img[..., c] = img[..., c] * (1 - strength * cloud) + ink * strength * cloud
        frames.append(img.clip(0, 255).astype(np.uint8))
    return np.stack(frames)


def agent_pick(fps: int = 12, seconds: float = 7.0) -> np.ndarray:
    """Seen from above: a robot gripper takes the green package from a shelf; the cart waits beside it."""
    frames = []
    shelf = [(60, 40, (200, 60, 60)), (120, 40, (60, 170, 80)), (180, 40, (60, 90, 200))]
    cart = (300, 150, 410, 230)
    start, target, lift = np.array([380.0, 60.0]), np.array([140.0, 60.0]), np.array([220.0, 150.0])
    n = int(fps * seconds)
    for i in range(n):
        u = i / (n - 1)
        if u < 0.45:  # reach the green package
            p, carrying = start + (target - start) * (u / 0.45), False
        elif u < 0.6:  # close the gripper on it
            p, carrying = target, True
        else:  # lift it and carry it part of the way toward the cart
            p, carrying = target + (lift - target) * ((u - 0.6) / 0.4), True
        img, d = _canvas((215, 210, 200))
        d.rectangle((40, 20, 220, 80), outline=(90, 70, 50), width=4)
        for x, y, color in shelf:
            if color == (60, 170, 80) and carrying:
                continue
            d.rectangle((x, y, x + 40, y + 26), fill=color)
        d.rectangle(cart, outline=(80, 80, 80), width=5)
        d.line((cart[0], cart[1], cart[0] - 25, cart[1] - 20), fill=(80, 80, 80), width=5)
        d.text((cart[0] + 32, cart[3] + 4), "cart", fill=(40, 40, 40), font=_font(12))
        d.line((430, 240, p[0], p[1] + 20), fill=(110, 110, 120), width=10)  # the arm
        if carrying:
            d.rectangle((p[0] - 20, p[1] - 13, p[0] + 20, p[1] + 13), fill=(60, 170, 80))
        gap = 12 if carrying else 22
        d.rectangle((p[0] - gap - 6, p[1] - 16, p[0] - gap, p[1] + 16), fill=(50, 50, 55))
        d.rectangle((p[0] + gap, p[1] - 16, p[0] + gap + 6, p[1] + 16), fill=(50, 50, 55))
        frames.append(np.asarray(img))
    return np.stack(frames)


def ad(fps: int = 8, seconds_per_shot: float = 3.0) -> np.ndarray:
    """A 12 s four-shot ad for a made-up drink, FIZZ: reveal, open, pour, slogan."""
    frames = []
    n = int(fps * seconds_per_shot)
    big, small = _font(40), _font(18)
    for shot in range(4):
        for i in range(n):
            u = i / n
            if shot == 0:  # a can lit slowly out of the dark
                light = int(20 + 120 * u)
                img, d = _canvas((10, 10, 14))
                d.rectangle((W // 2 - 30, 60, W // 2 + 30, 200), fill=(light, light // 4, light // 5))
                d.text((W // 2 - 22, 120), "FIZZ", fill=(light + 80, light + 80, light + 80), font=small)
            elif shot == 1:  # a hand opens it, drops spray out
                img, d = _canvas((30, 30, 40))
                d.rectangle((W // 2 - 30, 60, W // 2 + 30, 200), fill=(180, 40, 40))
                d.rectangle((W // 2 - 40, 30 - 10 * u, W // 2 + 10, 55 - 10 * u), fill=(230, 190, 160))
                for k in range(int(12 * u)):
                    d.ellipse((W // 2 + 10 * math.sin(k) * 4, 50 - 6 * k * u, W // 2 + 10 * math.sin(k) * 4 + 5,
                               55 - 6 * k * u), fill=(200, 220, 255))
            elif shot == 2:  # a glass with ice and rising bubbles
                img, d = _canvas((240, 240, 250))
                d.rectangle((W // 2 - 45, 70, W // 2 + 45, 220), outline=(120, 120, 140), width=3)
                d.rectangle((W // 2 - 42, 100, W // 2 + 42, 217), fill=(120, 40, 30))
                for k in range(10):
                    y = 215 - ((k * 23 + i * 9) % 110)
                    d.ellipse((W // 2 - 35 + k * 7, y, W // 2 - 31 + k * 7, y + 4), fill=(250, 230, 220))
            else:  # the slogan
                img, d = _canvas((180, 20, 30))
                d.text((W // 2 - 60, 70), "FIZZ", fill=(255, 255, 255), font=big)
                if u > 0.3:
                    d.text((W // 2 - 80, 140), "better together", fill=(255, 230, 230), font=small)
            frames.append(np.asarray(img))
    return np.stack(frames)


CLIPS = {
    "road_turn.mp4": (road_turn, 12),
    "ball_bounce.mp4": (ball_bounce, 12),
    "ball_roll.mp4": (ball_roll, 12),
    "ink_spread.mp4": (ink_spread, 12),
    "agent_pick.mp4": (agent_pick, 12),
    "ad_fizz.mp4": (ad, 8),
}


def main() -> None:
    parser = argparse.ArgumentParser(description="Make the course's synthetic clips.")
    parser.add_argument("out_dir", nargs="?", default=str(Path(__file__).resolve().parents[1] / "assets"))
    out = Path(parser.parse_args().out_dir)
    for name, (make, fps) in CLIPS.items():
        path = write_video(make(), out / name, fps)
        print(f"{path} {path.stat().st_size / 1024:.0f} KB")


if __name__ == "__main__":
    main()
