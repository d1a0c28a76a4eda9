"""Before/after-adaptation rollouts of one task: a side-by-side GIF, or a trajectory plot.

``metarl evaluate RUN_DIR --video`` (or ``evaluation.video: true``) records the first held-out
task once with the meta-learned policy and once after adaptation, taking the mode action at
every step. MuJoCo families are rendered offscreen, which needs an OpenGL backend
(``MUJOCO_GL=egl`` or ``osmesa``); :func:`check_offscreen_rendering` finds out before any work
is done. Navigation2D, which has no renderer, gets a plot of both trajectories and the goal.
"""

from __future__ import annotations

import gc
import os
import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch

from metarl.core.functional import Params
from metarl.rl.policies import Policy

RENDER_HELP = (
    "MuJoCo's offscreen renderer needs an OpenGL backend: set MUJOCO_GL=egl (an NVIDIA or Mesa "
    "EGL driver, the default tried here) or MUJOCO_GL=osmesa (software, e.g. apt-get install "
    "libosmesa6) before running `metarl evaluate RUN_DIR --video`"
)


def check_offscreen_rendering(env_id: str) -> None:
    """Render one small frame of ``env_id`` offscreen, or say how to make that work.

    Called before any rollout or evaluation, so a missing OpenGL backend stops a ``--video`` run
    at once instead of after the work. Envs without a renderer (Navigation2D) pass: their
    rollouts are plotted. ``MUJOCO_GL`` defaults to ``egl``.

    Raises:
        RuntimeError: no offscreen OpenGL context could be made, with :data:`RENDER_HELP`.
    """
    import gymnasium

    import envs

    if "rgb_array" not in envs.ENV_IDS[env_id].metadata.get("render_modes", []):
        return
    os.environ.setdefault("MUJOCO_GL", "egl")
    failure = None
    # A viewer that failed to start fails again in its __del__; that second error says nothing.
    unraisable_hook, sys.unraisablehook = sys.unraisablehook, lambda _: None
    try:
        env = gymnasium.make(env_id, render_mode="rgb_array", width=8, height=8)
        try:
            env.reset(seed=0)
            env.render()
        finally:
            env.close()
    except Exception as error:  # the GL backends fail in many ways (AttributeError, FatalError)
        failure = f"{type(error).__name__}: {error}"
    finally:
        gc.collect()
        sys.unraisablehook = unraisable_hook
    if failure is not None:
        raise RuntimeError(
            f"cannot render {env_id} offscreen with MUJOCO_GL={os.environ['MUJOCO_GL']} "
            f"({failure}); {RENDER_HELP}"
        )


def _deterministic_rollout(
    policy: Policy, params: Params, env: Any, task: Any, seed: int, render: bool
) -> tuple[list[np.ndarray], list[np.ndarray], float]:
    """Observations, frames (if ``render``) and return of one episode with the mode action."""
    obs, _ = env.reset(seed=seed, options={"task": task})
    observations, frames, total = [obs], [], 0.0
    reference = next(iter(params.values()))
    with torch.no_grad():
        while True:
            if render:
                frames.append(env.render())
            obs_t = torch.as_tensor(obs, dtype=reference.dtype, device=reference.device)
            action = policy.make_distribution(policy.dist_params(params, obs_t)).mode
            obs, reward, terminated, truncated, _ = env.step(action.cpu().numpy())
            observations.append(obs)
            total += float(reward)
            if terminated or truncated:
                break
    return observations, frames, total


def record_rollouts(
    policy: Policy,
    before: Params,
    after: Params,
    env_id: str,
    task: Any,
    horizon: int,
    out_dir: str | Path,
    seed: int,
) -> Path:
    """One episode of ``task`` before and after adaptation, with the mode action at each step.

    MuJoCo families are rendered offscreen side by side into ``rollout.gif``; Navigation2D, which
    has no renderer, gets a plot of both trajectories and the goal, ``rollout.png``.

    Raises:
        RuntimeError: offscreen rendering is unavailable, with how to enable it.
    """
    import gymnasium

    import envs

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    env_class = envs.ENV_IDS[env_id]
    if "rgb_array" not in env_class.metadata.get("render_modes", []):
        env = gymnasium.make(env_id, max_episode_steps=horizon)
        paths = {
            label: np.stack(_deterministic_rollout(policy, p, env, task, seed, False)[0])
            for label, p in (("before adaptation", before), ("after adaptation", after))
        }
        env.close()
        return _plot_trajectories(paths, task, out_dir / "rollout.png")

    check_offscreen_rendering(env_id)
    env = gymnasium.make(
        env_id, max_episode_steps=horizon, render_mode="rgb_array", width=320, height=240
    )
    runs = [_deterministic_rollout(policy, p, env, task, seed, True) for p in (before, after)]
    env.close()
    labels = ("before adaptation", "after adaptation")
    captions = [f"{label}: return {run[2]:.1f}" for label, run in zip(labels, runs, strict=True)]
    return _write_gif([frames for _, frames, _ in runs], captions, out_dir / "rollout.gif")


def _write_gif(videos: list[list[np.ndarray]], captions: list[str], path: Path) -> Path:
    """Videos side by side, each captioned (a shorter one holds its last frame), every second
    frame, 25 fps."""
    from PIL import Image, ImageDraw

    length = max(len(frames) for frames in videos)
    padded = [frames + [frames[-1]] * (length - len(frames)) for frames in videos]
    width = videos[0][0].shape[1]
    images = []
    for t in range(0, length, 2):
        image = Image.fromarray(np.concatenate([frames[t] for frames in padded], axis=1))
        draw = ImageDraw.Draw(image)
        for index, caption in enumerate(captions):
            corner = (index * width + 6, 6)
            draw.rectangle(draw.textbbox(corner, caption), fill=(255, 255, 255))
            draw.text(corner, caption, fill=(0, 0, 0))
        images.append(image)
    images[0].save(path, save_all=True, append_images=images[1:], duration=80, loop=0)
    return path


def _plot_trajectories(paths: dict[str, np.ndarray], task: Any, path: Path) -> Path:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(4.5, 4.5), layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    for label, positions in paths.items():
        axes.plot(positions[:, 0], positions[:, 1], marker=".", markersize=3, label=label)
    goal = np.asarray(task.to_array(), dtype=float)
    axes.scatter([goal[0]], [goal[1]], marker="*", s=150, color="black", label="goal", zorder=3)
    axes.scatter([0.0], [0.0], marker="o", s=40, color="gray", label="start", zorder=3)
    axes.set_aspect("equal")
    axes.grid(alpha=0.3)
    axes.legend()
    figure.savefig(path, dpi=120)
    return path
