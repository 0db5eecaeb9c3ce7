"""The articulated person renderer: a pose and a body drawn with an exact part-label map.

A person is drawn as head, torso, two two-segment arms, two two-segment legs and two feet, in a pose
(view, walking phase, stride, arm swing). Every shape is painted into the canvas' layer map with the
body part it belongs to (ogfr.parts ids + an offset), so the part-label map is exact. Hair and hats
count as head, carried bags as torso.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np

from ogfr.data.synth.canvas import Canvas, Point, clip_band, mix, scale_color
from ogfr.data.synth.identity import Identity

HEAD, L_ARM, R_ARM, TORSO, L_LEG, R_LEG, L_FOOT, R_FOOT = range(1, 9)  # ogfr.parts.PART_NAMES[1:]

View = Literal["front", "back", "left", "right"]  # "left" / "right": walking towards image left / right


@dataclass(frozen=True)
class Pose:
    view: View
    phase: float  # walking cycle phase in radians
    stride: float  # leg swing amplitude in radians (0 = standing)
    arm_swing: float  # arm swing amplitude as a share of the stride
    hold: float = 0.0  # front / back views: -1 / +1 bends the forearm on that image side, 0 = none


def sample_pose(rng: np.random.Generator, view: View, variation: float) -> Pose:
    stride = float(rng.uniform(0.05, 0.45) * min(variation, 1.5)) if rng.random() < 0.85 else 0.02
    hold = float(rng.choice([-1.0, 1.0])) if rng.random() < 0.2 * min(variation, 1.0) else 0.0
    return Pose(view, float(rng.uniform(0, 2 * math.pi)), stride, float(rng.uniform(0.5, 1.0)), hold)


def _limb(start: Point, angle: float, length: float) -> Point:
    """End point of a segment hanging from ``start`` at ``angle`` from straight down (positive = +x)."""
    return (start[0] + math.sin(angle) * length, start[1] + math.cos(angle) * length)


def draw_person(
    canvas: Canvas, ident: Identity, pose: Pose, cx: float, foot_y: float, height: float, offset: int = 0
) -> None:
    """Draw ``ident`` standing on ``foot_y`` centred on ``cx``, ``height`` pixels tall.

    Layer ids are the part ids + ``offset`` (0 for the target person, another range for passers-by).
    """
    h = height * ident.height
    top = foot_y - h
    wf = ident.width
    hip_y = top + h * (1.0 - 0.47 * ident.leg_ratio)
    sh_y = top + 0.185 * h
    leg_len = foot_y - 0.035 * h - hip_y
    thigh, shin = 0.5 * leg_len, 0.5 * leg_len
    upper_arm, fore_arm = 0.17 * h, 0.15 * h
    side = pose.view in ("left", "right")
    d = 1.0 if pose.view == "right" else -1.0  # facing direction in side views

    def ids(part: int) -> int:
        return part + offset

    # Which image side holds the person's left limbs (front: image right; back: image left).
    left_sign = 1.0 if pose.view == "front" else -1.0
    swing = math.sin(pose.phase) * pose.stride
    lower_col = ident.lower_color
    leg_top_col = lower_col if ident.lower_kind != "skirt" else ident.skin
    leg_low_col = lower_col if ident.lower_kind == "trousers" else ident.skin
    sleeve_col = ident.upper_color

    # ---- legs and feet -------------------------------------------------------------------------------
    def leg(hip: Point, knee: Point, ankle: Point, part: int, foot_part: int, toe_dir: float) -> None:
        r_hip, r_knee, r_ankle = 0.06 * h * wf, 0.044 * h * wf, 0.03 * h
        canvas.capsule(knee, ankle, r_knee, r_ankle, leg_low_col, ids(part))
        canvas.capsule(hip, knee, r_hip, r_knee, leg_top_col, ids(part))
        if ident.lower_kind == "shorts":  # shorts end above the knee
            mid = (hip[0] + 0.55 * (knee[0] - hip[0]), hip[1] + 0.55 * (knee[1] - hip[1]))
            canvas.capsule(hip, mid, r_hip * 1.05, r_hip * 0.95, lower_col, ids(part))
        shoe = ident.shoe_color
        fx = ankle[0] + toe_dir * 0.035 * h
        canvas.ellipse(
            fx, ankle[1] + 0.02 * h, 0.028 * h + abs(toe_dir) * 0.02 * h, 0.022 * h, shoe, ids(foot_part)
        )

    if side:
        near_leg, far_leg = (R_LEG, L_LEG) if d > 0 else (L_LEG, R_LEG)
        near_foot, far_foot = (R_FOOT, L_FOOT) if d > 0 else (L_FOOT, R_FOOT)
        legs = []
        for sign, part, fpart in ((-1.0, far_leg, far_foot), (1.0, near_leg, near_foot)):
            theta = sign * swing  # thigh angle, positive = forward
            bend = 0.25 + 0.9 * max(0.0, -theta) if pose.stride > 0.04 else 0.08
            hip = (cx - d * 0.01 * h, hip_y)
            knee = _limb(hip, d * theta, thigh)
            ankle = _limb(knee, d * (theta - bend * 0.6), shin)
            legs.append((hip, knee, ankle, part, fpart))
        lowest = max(ankle[1] for _, _, ankle, _, _ in legs)
        lift = (foot_y - 0.035 * h) - lowest  # keep the lowest foot on the ground
        for hip, knee, ankle, part, fpart in legs:
            hip, knee, ankle = ((p[0], p[1] + lift) for p in (hip, knee, ankle))
            leg(hip, knee, ankle, part, fpart, d)
        top, hip_y, sh_y = top + lift, hip_y + lift, sh_y + lift  # the whole body sinks with the legs
    else:
        spread = 0.052 * h * wf
        for sign in (-1.0, 1.0):
            part = L_LEG if sign == left_sign else R_LEG
            fpart = L_FOOT if sign == left_sign else R_FOOT
            lift = 0.03 * h * max(0.0, sign * swing) / max(pose.stride, 1e-3) * min(pose.stride * 3, 1.0)
            hip = (cx + sign * spread, hip_y)
            ankle = (cx + sign * spread * 1.15, foot_y - 0.035 * h - lift)
            knee = ((hip[0] + ankle[0]) / 2 + sign * 0.004 * h, (hip[1] + ankle[1]) / 2)
            leg(hip, knee, ankle, part, fpart, 0.0)
    if ident.lower_kind == "skirt":
        knee_y = hip_y + 0.55 * leg_len
        flare = 0.02 * h
        if side:
            near = R_LEG if d > 0 else L_LEG
            canvas.polygon(
                [(cx - 0.07 * h * wf, hip_y - 0.01 * h), (cx + 0.07 * h * wf, hip_y - 0.01 * h),
                 (cx + 0.08 * h * wf + flare, knee_y), (cx - 0.08 * h * wf - flare, knee_y)],
                lower_col, ids(near),
            )  # fmt: skip
        else:
            for sign in (-1.0, 1.0):
                part = L_LEG if sign == left_sign else R_LEG
                outer_top, outer_bot = cx + sign * 0.1 * h * wf, cx + sign * (0.115 * h * wf + flare)
                canvas.polygon(
                    [(cx, hip_y - 0.01 * h), (outer_top, hip_y - 0.01 * h), (outer_bot, knee_y), (cx, knee_y)],
                    lower_col, ids(part),
                )  # fmt: skip

    # ---- torso, bag, arms --------------------------------------------------------------------------------
    if side:
        chest, waist = 0.072 * h * wf, 0.064 * h * wf
        torso = [
            (cx - d * chest * 0.8, sh_y - 0.01 * h), (cx + d * chest, sh_y + 0.01 * h),
            (cx + d * waist, hip_y + 0.02 * h), (cx - d * waist, hip_y + 0.02 * h),
        ]  # fmt: skip
    else:
        sw, hw = 0.135 * h * wf, 0.1 * h * wf
        half = [
            (0.05 * h, sh_y - 0.016 * h), (sw * 0.82, sh_y - 0.006 * h), (sw, sh_y + 0.03 * h),
            (sw * 0.93, sh_y + 0.11 * h), (hw * 0.92, hip_y - 0.08 * h), (hw, hip_y + 0.025 * h),
        ]  # fmt: skip
        torso = [(cx + x, y) for x, y in half] + [(cx - x, y) for x, y in reversed(half)]
    hold = 0.0  # side (+1 / -1 on the image) of a forearm bent in front of the body, 0 = none
    if not side and pose.hold:
        hold = 1.0 if pose.hold > 0 else -1.0

    def arm(shoulder: Point, swing_angle: float, part: int, bent: bool = False) -> None:
        bend = 0.15 + 0.5 * max(0.0, swing_angle * (d if side else 1.0)) if side else 0.05
        if bent:  # forearm raised across the body (phone, bag strap, cup)
            out = 1.0 if shoulder[0] > cx else -1.0
            elbow = (shoulder[0] + out * 0.01 * h, shoulder[1] + upper_arm * 0.95)
            wrist = (elbow[0] - out * fore_arm * 0.75, elbow[1] - fore_arm * 0.45)
        elif side:
            elbow = _limb(shoulder, d * swing_angle, upper_arm)
            wrist = _limb(elbow, d * (swing_angle + bend), fore_arm)
        else:
            out = 1.0 if shoulder[0] > cx else -1.0
            fs = math.cos(swing_angle)  # foreshortening of an arm swinging towards / away from the camera
            elbow = (shoulder[0] + out * 0.018 * h, shoulder[1] + upper_arm * fs)
            wrist = (elbow[0] + out * 0.008 * h, elbow[1] + fore_arm * math.cos(swing_angle * 1.4))
        r_up, r_fore = 0.034 * h * wf, 0.028 * h * wf
        if ident.long_sleeves:
            canvas.capsule(elbow, wrist, r_fore, r_fore * 0.85, sleeve_col, ids(part))
        else:
            canvas.capsule(elbow, wrist, r_fore * 0.9, r_fore * 0.75, ident.skin, ids(part))
        canvas.capsule(
            shoulder, elbow, r_up, r_fore, sleeve_col if ident.long_sleeves else ident.skin, ids(part)
        )
        if not ident.long_sleeves:
            mid = (shoulder[0] + 0.5 * (elbow[0] - shoulder[0]), shoulder[1] + 0.5 * (elbow[1] - shoulder[1]))
            canvas.capsule(shoulder, mid, r_up * 1.1, r_up * 1.05, sleeve_col, ids(part))
        hand = (wrist[0] + (d * 0.006 * h if side else 0.0), wrist[1] + 0.018 * h)
        canvas.ellipse(hand[0], hand[1], 0.02 * h, 0.024 * h, ident.skin, ids(part))

    arm_angle = -swing * (0.8 * pose.arm_swing + 0.2)
    shoulder_y = sh_y + 0.02 * h
    if side:
        near_arm, far_arm = (R_ARM, L_ARM) if d > 0 else (L_ARM, R_ARM)
        arm((cx - d * 0.005 * h, shoulder_y), arm_angle, far_arm)  # far arm: behind the torso
    _draw_bag_behind(canvas, ident, pose, cx, torso, sh_y, hip_y, h, ids(TORSO), d)
    canvas.polygon(torso, ident.upper_color, ids(TORSO))
    _draw_pattern(canvas, ident, pose, cx, torso, sh_y, hip_y, h)
    _draw_bag_front(canvas, ident, pose, cx, sh_y, hip_y, h, wf, ids(TORSO), d, left_sign)
    if side:
        arm((cx + d * 0.005 * h, shoulder_y), -arm_angle, near_arm)
    else:
        sw = 0.135 * h * wf
        for sign in (-1.0, 1.0):
            part = L_ARM if sign == left_sign else R_ARM
            arm((cx + sign * (sw - 0.028 * h), shoulder_y), sign * arm_angle, part, bent=sign == hold)

    # ---- head -------------------------------------------------------------------------------------------
    hs = ident.head_size
    hry, hrx = 0.066 * h * hs, 0.05 * h * hs
    hcy, hcx = top + hry, cx + (d * 0.01 * h if side else 0.0)
    canvas.rect(
        cx - 0.022 * h, hcy + 0.5 * hry, cx + 0.022 * h, sh_y + 0.005 * h, ident.skin, ids(HEAD)
    )  # neck
    hair = ident.hair_color
    if ident.hair_style == "long" and pose.view != "front":
        back_x = hcx - d * 0.02 * h if side else hcx
        bottom = sh_y + 0.07 * h
        canvas.polygon(
            [(back_x - hrx * 0.95, hcy), (back_x + hrx * 0.95, hcy), (back_x + hrx * 1.1, bottom),
             (back_x - hrx * 1.1, bottom)],
            hair, ids(HEAD),
        )  # fmt: skip
        canvas.ellipse(back_x, bottom, hrx * 1.1, 0.02 * h, hair, ids(HEAD))
    elif ident.hair_style == "long":  # front: strands beside the face
        canvas.rect(hcx - hrx * 1.05, hcy - 0.2 * hry, hcx + hrx * 1.05, hcy + 1.25 * hry, hair, ids(HEAD))
    canvas.ellipse(hcx, hcy, hrx, hry, ident.skin, ids(HEAD))
    if ident.hair_style != "bald":
        if pose.view == "back":
            canvas.ellipse(hcx, hcy - 0.05 * hry, hrx * 1.04, hry * 1.0, hair, ids(HEAD))
        elif side:
            canvas.ellipse(hcx - d * 0.3 * hrx, hcy - 0.18 * hry, hrx * 0.95, hry * 0.85, hair, ids(HEAD))
        else:
            canvas.ellipse(hcx, hcy - 0.3 * hry, hrx * 1.04, hry * 0.75, hair, ids(HEAD))
            canvas.ellipse(hcx, hcy + 0.18 * hry, hrx * 0.88, hry * 0.78, ident.skin, ids(HEAD))
    if ident.hat is not None:
        canvas.ellipse(hcx, hcy - 0.45 * hry, hrx * 1.08, hry * 0.6, ident.hat, ids(HEAD))
        brim_x = hcx + (d * 0.6 * hrx if side else 0.0)
        canvas.ellipse(
            brim_x,
            hcy - 0.25 * hry,
            hrx * (1.1 if side else 1.2),
            hry * 0.14,
            scale_color(ident.hat, 0.8),
            ids(HEAD),
        )
    if pose.view == "front" or side:  # eyes as faint dark marks
        eye = mix(ident.skin, (40, 30, 30), 0.55)
        ex = [hcx - 0.4 * hrx, hcx + 0.4 * hrx] if not side else [hcx + d * 0.5 * hrx]
        for x in ex:
            canvas.ellipse(x, hcy + 0.05 * hry, 0.12 * hrx, 0.08 * hry, eye, ids(HEAD))


def _draw_pattern(canvas: Canvas, ident: Identity, pose: Pose, cx: float, torso: list[Point], sh_y: float,
                  hip_y: float, h: float) -> None:  # fmt: skip
    """Colour-only detail inside the torso polygon (the layer map keeps 'torso')."""
    from ogfr.data.synth.canvas import SKIP

    col = ident.pattern_color
    if ident.upper_pattern == "stripes":
        period = 0.045 * h
        y = sh_y + 0.01 * h
        while y < hip_y + 0.02 * h:
            band = clip_band(torso, y, y + period * 0.45)
            canvas.polygon(band, col, SKIP)
            y += period
    elif ident.upper_pattern == "two_tone":
        canvas.polygon(clip_band(torso, sh_y + 0.45 * (hip_y - sh_y), hip_y + 0.03 * h), col, SKIP)
    elif ident.upper_pattern == "logo" and pose.view == "front":
        cy = sh_y + 0.3 * (hip_y - sh_y)
        canvas.ellipse(cx, cy, 0.04 * h, 0.035 * h, col, SKIP)
        canvas.ellipse(cx, cy, 0.018 * h, 0.015 * h, mix(col, ident.upper_color, 0.6), SKIP)
    elif ident.upper_pattern == "logo" and pose.view in ("left", "right"):
        d = 1.0 if pose.view == "right" else -1.0
        canvas.ellipse(cx + d * 0.035 * h, sh_y + 0.3 * (hip_y - sh_y), 0.012 * h, 0.03 * h, col, SKIP)


def _draw_bag_behind(canvas: Canvas, ident: Identity, pose: Pose, cx: float, torso: list[Point], sh_y: float,
                     hip_y: float, h: float, layer: int, d: float) -> None:  # fmt: skip
    """Backpack sticking out behind a side-view torso."""
    if ident.bag == "backpack" and pose.view in ("left", "right"):
        x_back = cx - d * 0.06 * h
        x0, x1 = sorted((x_back, x_back - d * 0.07 * h))
        canvas.rect(x0, sh_y + 0.02 * h, x1, sh_y + 0.22 * h, ident.bag_color, layer)


def _draw_bag_front(canvas: Canvas, ident: Identity, pose: Pose, cx: float, sh_y: float, hip_y: float, h: float,
                    wf: float, layer: int, d: float, left_sign: float) -> None:  # fmt: skip
    from ogfr.data.synth.canvas import SKIP

    bag = ident.bag_color
    if ident.bag == "backpack":
        if pose.view == "back":
            canvas.rect(
                cx - 0.085 * h * wf, sh_y + 0.02 * h, cx + 0.085 * h * wf, sh_y + 0.25 * h, bag, layer
            )
            canvas.rect(
                cx - 0.06 * h * wf,
                sh_y + 0.15 * h,
                cx + 0.06 * h * wf,
                sh_y + 0.2 * h,
                scale_color(bag, 0.75),
                SKIP,
            )
        elif pose.view == "front":
            for sign in (-1.0, 1.0):
                x = cx + sign * 0.07 * h * wf
                canvas.line(
                    (x, sh_y - 0.005 * h), (x - sign * 0.01 * h, sh_y + 0.18 * h), 0.014 * h, bag, layer
                )
        else:
            canvas.line((cx, sh_y), (cx + d * 0.01 * h, sh_y + 0.17 * h), 0.014 * h, bag, layer)
    elif ident.bag == "shoulder":
        # strap across the chest/back, bag at the hip on the person's left side
        side_x = {"front": left_sign, "back": left_sign, "left": 0.3, "right": -0.3}[pose.view]
        top_x = cx - side_x * 0.08 * h * wf
        bag_x = cx + side_x * 0.125 * h * wf
        canvas.line((top_x, sh_y), (bag_x, hip_y - 0.04 * h), 0.012 * h, scale_color(bag, 0.9), layer)
        canvas.rect(bag_x - 0.045 * h, hip_y - 0.06 * h, bag_x + 0.045 * h, hip_y + 0.04 * h, bag, layer)
