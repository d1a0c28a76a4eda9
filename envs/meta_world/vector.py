"""Meta-World's Sawyer environments batched: one ``mujoco.batch.Batch`` per environment class.

:class:`MetaWorldVector` is the batched env of every Meta-World family (``envs.batched``). It
groups its N slots by the class of their tasks. The slots of a class with a vectorised reward
(:data:`envs.meta_world.rewards.SAWYER_CLASSES`) are stepped by a :class:`SawyerBatch`: the
physics of all of them in one multi-threaded call on Meta-World's own model (its XML and assets,
with the compatibility patch of ``envs.meta_world.compat``), and the observation, reward and
success as array operations. The slots of any other class run as Meta-World's own environments,
one after another, and the env says so once (a ``UserWarning`` naming the classes).

A Sawyer batch follows ``SawyerXYZEnv`` step for step:

- reset: ``mj_resetData``, the model fields the class places for the task (``setup``: bodies
  such as the door or the drawer, which Meta-World's first ``reset_model`` call moves), the hand
  driven to its start with the mocap (50 steps of ``frame_skip`` substeps, fingers open), then
  the class's ``reset`` (goal and object placed, the state written as ``reset_model`` writes
  it); the first observation stacks the current frame twice. ``init_tcp`` and the class's other
  readings after the hand reset are taken as Meta-World takes them: from ``MjData``'s derived
  fields, which after ``mj_step`` describe the state before the last substep. For a class that
  changes no model field between tasks the hand reset ends in the same state and readings every
  time, so it runs once per batch and later resets write its final state (saving 250 of every
  2,750 substeps of a 500-step episode).
- step: the mocap moves by ``clip(action[:3], -1, 1) * action_scale`` (clipped to the class's
  mocap box), the fingers get ``(action[3], -action[3])``, ``frame_skip`` substeps run, then the
  kinematics at the new state (all of ``mj_forward`` that the observation and reward read); the
  observation (this frame, the previous frame, a zero goal as in the ML benchmarks) is clipped to
  Meta-World's observation space, and the reward reads the clipped observation.

Meta-World also writes the goal site's position into the model; no observation or reward reads
it, so the batch leaves the goal site where the model puts it (it matters only for rendering).
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import mujoco
import numpy as np
from gymnasium.vector import AutoresetMode
from mujoco import batch as mj_batch

from envs.base import TaskEnv
from envs.batched.mujoco_vector import resolve_threads
from envs.batched.vector import Seeding, StepInfo, TaskVectorEnv
from envs.meta_world.classes import SAWYER_CLASSES
from envs.meta_world.compat import load_metaworld
from envs.meta_world.sawyer import VIEW_FIELDS, SawyerStep, SawyerView, Start
from envs.meta_world.splits import metaworld_task
from envs.tasks import MetaWorldTask, Task

HAND_RESET_STEPS = 50
"""``SawyerXYZEnv._reset_hand``'s default number of steps."""
MOCAP_QUAT = np.array([1.0, 0.0, 1.0, 0.0])
"""The hand orientation every Meta-World step writes to the mocap body."""
FRAME_SIZE = 18
"""One frame of the observation: hand (3), finger gap (1), object position and quaternion (7),
zero padding (7)."""


def _make_inner(env_name: str, task: MetaWorldTask) -> Any:
    """Meta-World's own environment of ``env_name`` with ``task`` set."""
    env = load_metaworld().env_dict.ALL_V3_ENVIRONMENTS[env_name]()
    env.set_task(metaworld_task(task))
    return env


@dataclasses.dataclass(frozen=True)
class _Settled:
    """The outcome of the hand reset of a class that changes no model field between tasks."""

    state: np.ndarray
    """The batch's state row (``mjSTATE_INTEGRATION``) after it."""
    readings: Start
    """``init_tcp`` and the class's ``hand_readings``, one row: from the derived fields, which
    after ``mj_step`` describe the state before the last substep."""


class SawyerBatch:
    """The environments of one Meta-World class with a vectorised reward, in one MuJoCo batch.

    Args:
        env_name: the class, a key of ``SAWYER_CLASSES``.
        inner: Meta-World's environment of the class (its model, scales and bounds are used).
        num_envs: n.
        threads: MuJoCo threads.
    """

    def __init__(self, env_name: str, inner: Any, num_envs: int, threads: int) -> None:
        self.env_name = env_name
        self._sawyer_class = SAWYER_CLASSES[env_name]
        model: mujoco.MjModel = inner.model
        self.model = model
        if model.nmocap != 1:
            raise ValueError(f"a Sawyer batch needs one mocap body, the model has {model.nmocap}")
        self.num_envs = num_envs
        self.frame_skip = int(inner.frame_skip)
        self.action_scale = float(inner.action_scale)
        self.mocap_low = np.asarray(inner.mocap_low, dtype=np.float64)
        self.mocap_high = np.asarray(inner.mocap_high, dtype=np.float64)
        self.hand_init_pos = np.asarray(inner.hand_init_pos, dtype=np.float64)
        space = inner.sawyer_observation_space  # the partially observable one: task set
        self.obs_low, self.obs_high = space.low, space.high
        self.batch = mj_batch.Batch(model, num_envs, nthread=threads)
        for name in VIEW_FIELDS:
            self.batch.bind(name)
        self._ctrl = self.batch.bind("ctrl")
        self._mocap_pos, self._mocap_quat = (
            self.batch.bind("mocap_pos"),
            self.batch.bind("mocap_quat"),
        )
        self._xpos = self.batch.bind("xpos")

        def body(name: str) -> int:
            return mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_BODY, name)

        self._hand = body("hand")
        self._claws = (body("rightclaw"), body("leftclaw"))
        self._rand_vec = np.zeros((num_envs, 0))
        self._previous_frame = np.zeros((num_envs, FRAME_SIZE))
        self._start: Start = {}
        self._settled: _Settled | None = None
        self.obs = np.zeros((num_envs, space.shape[0]))

    def set_rand_vecs(self, rand_vec: np.ndarray) -> None:
        """The tasks' goal vectors ``(n, k)``; they apply from the next reset, as in Meta-World."""
        self._rand_vec = rand_vec

    def _frame(self, view: SawyerView) -> np.ndarray:
        """``_get_curr_obs_combined_no_goal`` of the view's rows, ``(n, 18)``."""
        xpos = self._xpos[view.rows]
        right, left = self._claws
        gap = np.linalg.norm(xpos[:, right] - xpos[:, left], axis=-1)
        frame = np.empty((xpos.shape[0], FRAME_SIZE))
        frame[:, 0:3] = xpos[:, self._hand]
        frame[:, 3] = np.clip(gap / 0.1, 0.0, 1.0)
        frame[:, 4:18] = self._sawyer_class.objects(view)
        return frame

    def reset(self, ids: np.ndarray | None) -> None:
        """New episodes for the local rows ``ids`` (None: all); their observations in ``obs``."""
        view = SawyerView(self.batch, self.model, ids)
        rows, sawyer_class = view.rows, self._sawyer_class
        rand_vec = self._rand_vec[rows]
        self.batch.reset(ids, stage=mujoco.mjtStage.mjSTAGE_NONE)
        if sawyer_class.setup is not None:
            sawyer_class.setup(view, rand_vec)
            after_hand = self._reset_hand(view)
        elif self._settled is None:
            after_hand = self._reset_hand(view)
            self._settled = _Settled(
                self.batch.state[0 if ids is None else int(ids[0])].copy(),
                {name: value[0] for name, value in after_hand.items()},
            )
        else:  # the hand reset ends in the same state for every episode of the class
            self.batch.state[rows] = self._settled.state
            count = rand_vec.shape[0]
            after_hand = {
                name: np.broadcast_to(value, (count, *value.shape))
                for name, value in self._settled.readings.items()
            }
        start = sawyer_class.reset(view, rand_vec, after_hand)
        start["init_tcp"] = np.array(after_hand["init_tcp"])
        for name, value in start.items():
            if name not in self._start:
                self._start[name] = np.zeros((self.num_envs, *value.shape[1:]))
            self._start[name][rows] = value
        frame = self._frame(view)
        self._previous_frame[rows] = frame
        goal = np.zeros((frame.shape[0], 3))
        self.obs[rows] = np.concatenate([frame, frame, goal], axis=1)

    def _reset_hand(self, view: SawyerView) -> Start:
        """``_reset_hand`` on the view's rows, just reset: the hand driven to its start, fingers
        open; ``init_tcp`` and the class's readings after it."""
        rows = view.rows
        self._mocap_pos[rows, 0] = self.hand_init_pos
        self._mocap_quat[rows, 0] = MOCAP_QUAT
        self._ctrl[rows] = (-1.0, 1.0)
        self.batch.step(view.ids, nstep=HAND_RESET_STEPS * self.frame_skip)
        readings = self._sawyer_class.hand_readings(view)
        readings["init_tcp"] = view.tcp_center
        return readings

    def step(self, actions: np.ndarray, ids: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        """Steps the local rows ``ids`` (None: all) with ``actions`` (n_rows, 4); their reward and
        success, and their observations in ``obs``."""
        view = SawyerView(self.batch, self.model, ids)
        rows = view.rows
        delta = np.clip(actions[:, :3], -1.0, 1.0) * self.action_scale
        mocap = self._mocap_pos[rows, 0] + delta
        self._mocap_pos[rows, 0] = np.clip(mocap, self.mocap_low, self.mocap_high)
        self._mocap_quat[rows, 0] = MOCAP_QUAT
        self._ctrl[rows, 0] = actions[:, 3]
        self._ctrl[rows, 1] = -actions[:, 3]
        self.batch.step(ids, nstep=self.frame_skip, stage=mujoco.mjtStage.mjSTAGE_POS)
        frame = self._frame(view)
        previous = self._previous_frame[rows].copy()  # a view when rows is a slice
        self._previous_frame[rows] = frame
        goal = np.zeros((frame.shape[0], 3))
        obs = np.clip(np.concatenate([frame, previous, goal], axis=1), self.obs_low, self.obs_high)
        self.obs[rows] = obs
        start = {name: value[rows] for name, value in self._start.items()}
        return self._sawyer_class.reward(SawyerStep(view, obs, actions, start, self.hand_init_pos))


class OwnEnvs:
    """The slots of a class without a vectorised reward: Meta-World's own environments, stepped
    one after another (the fallback)."""

    def __init__(self, env_name: str, tasks: Sequence[MetaWorldTask]) -> None:
        self.env_name = env_name
        self.envs = [_make_inner(env_name, task) for task in tasks]
        self.obs = np.zeros((len(tasks), self.envs[0].observation_space.shape[0]))

    def set_tasks(self, tasks: Sequence[MetaWorldTask]) -> None:
        for env, task in zip(self.envs, tasks, strict=True):
            env.set_task(metaworld_task(task))

    def reset(self, ids: np.ndarray | None) -> None:
        for row in range(len(self.envs)) if ids is None else ids:
            self.obs[row] = self.envs[row].reset()[0]

    def step(self, actions: np.ndarray, ids: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        rows = range(len(self.envs)) if ids is None else ids
        reward, success = np.zeros(len(actions)), np.zeros(len(actions), dtype=bool)
        for k, row in enumerate(rows):
            obs, reward[k], _, _, info = self.envs[row].step(actions[k])
            self.obs[row] = obs
            success[k] = bool(info["success"])
        return reward, success


_Group = SawyerBatch | OwnEnvs


class MetaWorldVector(TaskVectorEnv):
    """N environments of a Meta-World family (ML1, ML10, ML45), batched by class.

    Args:
        reference: a :class:`envs.meta_world.env.MetaWorldEnv` of the family.
        num_envs, max_episode_steps, tasks, autoreset_mode, seeding: see :class:`TaskVectorEnv`
            (Meta-World's resets draw no noise: a task always starts from the same state).
        threads: MuJoCo threads of each class's batch; None for all cores.

    ``step``'s info holds ``success`` ``(N,)``: Meta-World's ``info["success"]`` of the step.
    """

    def __init__(
        self,
        reference: TaskEnv,
        num_envs: int,
        max_episode_steps: int,
        threads: int | None = None,
        tasks: Sequence[Task | Mapping[str, Any]] | None = None,
        autoreset_mode: AutoresetMode | str = AutoresetMode.NEXT_STEP,
        seeding: Seeding = "per_env",
    ) -> None:
        self.threads = resolve_threads(threads)
        super().__init__(reference, num_envs, max_episode_steps, tasks, autoreset_mode, seeding)

    def _init_simulation(self, reference: TaskEnv) -> None:
        self._groups: list[tuple[np.ndarray, _Group]] = []  # (global slots, group), by class
        self._group_of = np.zeros(self.num_envs, dtype=np.int64)
        self._row_of = np.zeros(self.num_envs, dtype=np.int64)
        self._obs = np.zeros((self.num_envs, self.single_observation_space.shape[0]))
        self._noted: set[str] = set()

    def _apply_tasks(self, tasks: list[Task]) -> None:
        by_class: dict[str, list[MetaWorldTask]] = {}
        slots_of: dict[str, list[int]] = {}
        for slot, task in enumerate(tasks):
            assert isinstance(task, MetaWorldTask)  # coerced to the family's task type
            by_class.setdefault(task.env_name, []).append(task)
            slots_of.setdefault(task.env_name, []).append(slot)
        kept = {(group.env_name, len(slots)): group for slots, group in self._groups}
        groups: list[tuple[np.ndarray, _Group]] = []
        for env_name, class_tasks in by_class.items():
            slots = slots_of[env_name]
            group = kept.pop((env_name, len(slots)), None)
            if env_name in SAWYER_CLASSES:
                if group is None:
                    inner = _make_inner(env_name, class_tasks[0])
                    group = SawyerBatch(env_name, inner, len(slots), self.threads)
                    inner.close()
                assert isinstance(group, SawyerBatch)
                group.set_rand_vecs(np.array([task.rand_vec for task in class_tasks]))
            else:
                if group is None:
                    group = OwnEnvs(env_name, class_tasks)
                assert isinstance(group, OwnEnvs)
                group.set_tasks(class_tasks)
            groups.append((np.asarray(slots), group))
        for _, unused in kept.items():
            if isinstance(unused, OwnEnvs):
                for env in unused.envs:
                    env.close()
        self._note_fallback([name for name in by_class if name not in SAWYER_CLASSES])
        self._groups = groups
        for index, (group_slots, _) in enumerate(groups):
            self._group_of[group_slots] = index
            self._row_of[group_slots] = np.arange(len(group_slots))

    def _note_fallback(self, env_names: list[str]) -> None:
        new = [name for name in env_names if name not in self._noted]
        if new:
            self._noted.update(new)
            warnings.warn(
                f"Meta-World classes without a batched version run as Meta-World's own "
                f"environments, one after another: {', '.join(new)}",
                stacklevel=5,
            )

    @property
    def groups(self) -> list[SawyerBatch | OwnEnvs]:
        """The batch or the fallback envs of each class present, in order of first slot."""
        return [group for _, group in self._groups]

    def _rows(self, index: int, ids: np.ndarray | None) -> np.ndarray | None:
        """The rows of group ``index`` among the global ``ids`` (None: every row)."""
        if ids is None:
            return None
        return self._row_of[ids[self._group_of[ids] == index]]

    def _reset_states(self, ids: np.ndarray | None) -> None:
        for index, (_, group) in enumerate(self._groups):
            rows = self._rows(index, ids)
            if rows is None or rows.size:
                group.reset(None if rows is not None and rows.size == len(group.obs) else rows)

    def _advance(
        self, actions: np.ndarray, ids: np.ndarray | None
    ) -> tuple[np.ndarray, np.ndarray, StepInfo]:
        reward = np.zeros(self.num_envs)
        success = np.zeros(self.num_envs)
        for index, (slots, group) in enumerate(self._groups):
            rows = self._rows(index, ids)
            if rows is not None and not rows.size:
                continue
            stepped = slots if rows is None else slots[rows]
            reward[stepped], success[stepped] = group.step(actions[stepped], rows)
        return reward, np.zeros(self.num_envs, dtype=bool), {"success": success}

    def _observe(self) -> np.ndarray:
        for slots, group in self._groups:
            self._obs[slots] = group.obs
        return self._obs.copy()

    def close_extras(self, **kwargs: Any) -> None:
        for _, group in self._groups:
            if isinstance(group, OwnEnvs):
                for env in group.envs:
                    env.close()
