"""Meta-World's Sawyer environments batched: one ``mujoco.batch.Batch`` per environment class.

:class:`MetaWorldVector` is the batched env of every Meta-World family (``envs.batched``). It
groups its N slots by the class of their tasks. The slots of a class with a vectorised reward
(:data:`envs.meta_world.rewards.SAWYER_CLASSES`) are stepped by a :class:`SawyerBatch`: the
physics of all of them in one multi-threaded call on Meta-World's own model (its XML and assets,
with the compatibility patch of ``envs.meta_world.compat``), and the observation, reward and
success as array operations. The slots of any other class run as Meta-World's own environments,
one after another, and the env says so once (a ``UserWarning`` naming the classes).

A Sawyer batch follows ``SawyerXYZEnv`` step for step:

- reset: ``mj_resetData``, then the hand driven to its start with the mocap (50 steps of
  ``frame_skip`` substeps, fingers open), the goal placed from the task's ``rand_vec``, the object
  moved there (``_set_obj_xyz``: position set, velocity zeroed, ``mj_forward``); the first
  observation stacks the current frame twice. ``init_tcp`` and the object's settled height are
  read after the hand reset as Meta-World reads them: from ``MjData``'s derived fields, which
  after ``mj_step`` describe the state before the last substep. The hand reset starts from
  ``mj_resetData`` and depends on nothing else, so it runs once per batch; later resets write its
  final state (saving 250 of every 2,750 substeps of a 500-step episode).
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
from envs.meta_world.compat import load_metaworld
from envs.meta_world.rewards import SAWYER_CLASSES, EpisodeStart, SawyerReadout
from envs.meta_world.splits import metaworld_task
from envs.tasks import MetaWorldTask, Task

HAND_RESET_STEPS = 50
"""``SawyerXYZEnv._reset_hand``'s default number of steps."""
MOCAP_QUAT = np.array([1.0, 0.0, 1.0, 0.0])
"""The hand orientation every Meta-World step writes to the mocap body."""
OBJECT_QPOS = slice(9, 12)
"""``_set_obj_xyz``: the object's position in ``qpos``."""
OBJECT_QVEL = slice(9, 15)
"""``_set_obj_xyz``: the object's velocity in ``qvel``, zeroed when it is moved."""
_START_FIELDS = tuple(field.name for field in dataclasses.fields(EpisodeStart))
FRAME_SIZE = 18
"""One frame of the observation: hand (3), finger gap (1), object position and quaternion (7),
zero padding (7)."""


@dataclasses.dataclass(frozen=True)
class _Settled:
    """The outcome of the hand reset, as Meta-World reads it."""

    state: np.ndarray
    """The batch's state row (``mjSTATE_INTEGRATION``) after it."""
    tcp: np.ndarray
    """``init_tcp`` ``(3,)``: from the derived fields, which after ``mj_step`` describe the state
    before the last substep."""
    obj_z: float
    """The object's height, read the same way (push places its object and goal there)."""


def _make_inner(env_name: str, task: MetaWorldTask) -> Any:
    """Meta-World's own environment of ``env_name`` with ``task`` set."""
    env = load_metaworld().env_dict.ALL_V3_ENVIRONMENTS[env_name]()
    env.set_task(metaworld_task(task))
    return env


class SawyerBatch:
    """The environments of one Meta-World class with a vectorised reward, in one MuJoCo batch.

    Args:
        env_name: the class, a key of ``SAWYER_CLASSES``.
        inner: Meta-World's environment of the class (its model, scales and bounds are used).
        num_envs: n.
        threads: MuJoCo threads.
    """

    def __init__(self, env_name: str, inner: Any, num_envs: int, threads: int) -> None:
        # scipy comes with the metaworld extra; Meta-World's quaternions are scipy's.
        from scipy.spatial.transform import Rotation

        self._rotation = Rotation
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
        self._qpos, self._qvel = self.batch.bind("qpos"), self.batch.bind("qvel")
        self._ctrl = self.batch.bind("ctrl")
        self._mocap_pos, self._mocap_quat = (
            self.batch.bind("mocap_pos"),
            self.batch.bind("mocap_quat"),
        )
        self._xpos, self._site_xpos = self.batch.bind("xpos"), self.batch.bind("site_xpos")
        self._geom_xmat = self.batch.bind("geom_xmat")

        def body(name: str) -> int:
            return mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_BODY, name)

        def site(name: str) -> int:
            return mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_SITE, name)

        self._hand, self._obj = body("hand"), body("obj")
        self._claws = (body("rightclaw"), body("leftclaw"))
        self._pads = (body("leftpad"), body("rightpad"))
        self._effectors = (site("rightEndEffector"), site("leftEndEffector"))
        self._obj_geom = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_GEOM, "objGeom")
        self._rand_vec = np.zeros((num_envs, 0))
        self._previous_frame = np.zeros((num_envs, FRAME_SIZE))
        self._start = EpisodeStart(*(np.zeros((num_envs, 3)) for _ in _START_FIELDS))
        self._settled: _Settled | None = None
        self.obs = np.zeros((num_envs, space.shape[0]))

    def set_rand_vecs(self, rand_vec: np.ndarray) -> None:
        """The tasks' goal vectors ``(n, k)``; they apply from the next reset, as in Meta-World."""
        self._rand_vec = rand_vec

    def _tcp(self, rows: np.ndarray | slice) -> np.ndarray:
        right, left = self._effectors
        site_xpos = self._site_xpos[rows]
        return (site_xpos[:, right] + site_xpos[:, left]) / 2.0

    def _frame(self, rows: np.ndarray | slice) -> np.ndarray:
        """``_get_curr_obs_combined_no_goal`` of the rows, ``(n, 18)``."""
        xpos = self._xpos[rows]
        right, left = self._claws
        gap = np.linalg.norm(xpos[:, right] - xpos[:, left], axis=-1)
        frame = np.zeros((xpos.shape[0], FRAME_SIZE))
        frame[:, 0:3] = xpos[:, self._hand]
        frame[:, 3] = np.clip(gap / 0.1, 0.0, 1.0)
        frame[:, 4:7] = xpos[:, self._obj]
        xmat = self._geom_xmat[rows, self._obj_geom].reshape(-1, 3, 3)
        frame[:, 7:11] = self._rotation.from_matrix(xmat).as_quat()
        return frame

    def reset(self, ids: np.ndarray | None) -> None:
        """New episodes for the local rows ``ids`` (None: all); their observations in ``obs``."""
        rows: np.ndarray | slice = slice(None) if ids is None else ids
        self.batch.reset(ids, stage=mujoco.mjtStage.mjSTAGE_NONE)
        if self._settled is None:
            self._settled = self._reset_hand(ids)
        else:  # the hand reset ends in the same state for every episode of the class
            self.batch.state[rows] = self._settled.state
        settled = self._settled
        count = self.obs[rows].shape[0]
        obj_init_pos, target_pos = self._sawyer_class.place_goal(
            self._rand_vec[rows], np.full(count, settled.obj_z)
        )
        init_tcp = np.broadcast_to(settled.tcp, (count, 3))
        start = EpisodeStart(obj_init_pos, target_pos, init_tcp)
        for name in _START_FIELDS:
            getattr(self._start, name)[rows] = getattr(start, name)
        self._qpos[rows, OBJECT_QPOS] = obj_init_pos
        self._qvel[rows, OBJECT_QVEL] = 0.0
        self.batch.forward(ids)
        frame = self._frame(rows)
        self._previous_frame[rows] = frame
        self.obs[rows] = np.concatenate([frame, frame, np.zeros((count, 3))], axis=1)

    def _reset_hand(self, ids: np.ndarray | None) -> _Settled:
        """``_reset_hand`` on rows ``ids`` just reset: the hand driven to its start, fingers
        open. It starts from ``mj_resetData`` and depends on nothing else, so the first reset
        keeps its outcome for the later ones."""
        rows: np.ndarray | slice = slice(None) if ids is None else ids
        self._mocap_pos[rows, 0] = self.hand_init_pos
        self._mocap_quat[rows, 0] = MOCAP_QUAT
        self._ctrl[rows] = (-1.0, 1.0)
        self.batch.step(ids, nstep=HAND_RESET_STEPS * self.frame_skip)
        first = 0 if ids is None else int(ids[0])
        return _Settled(
            state=self.batch.state[first].copy(),
            tcp=self._tcp(np.array([first]))[0],
            obj_z=float(self._xpos[first, self._obj, 2]),
        )

    def step(self, actions: np.ndarray, ids: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        """Steps the local rows ``ids`` (None: all) with ``actions`` (n_rows, 4); their reward and
        success, and their observations in ``obs``."""
        rows: np.ndarray | slice = slice(None) if ids is None else ids
        delta = np.clip(actions[:, :3], -1.0, 1.0) * self.action_scale
        mocap = self._mocap_pos[rows, 0] + delta
        self._mocap_pos[rows, 0] = np.clip(mocap, self.mocap_low, self.mocap_high)
        self._mocap_quat[rows, 0] = MOCAP_QUAT
        self._ctrl[rows, 0] = actions[:, 3]
        self._ctrl[rows, 1] = -actions[:, 3]
        self.batch.step(ids, nstep=self.frame_skip, stage=mujoco.mjtStage.mjSTAGE_POS)
        frame = self._frame(rows)
        previous = self._previous_frame[rows].copy()  # a view when rows is a slice
        self._previous_frame[rows] = frame
        goal = np.zeros((frame.shape[0], 3))
        obs = np.clip(np.concatenate([frame, previous, goal], axis=1), self.obs_low, self.obs_high)
        self.obs[rows] = obs
        xpos = self._xpos[rows]
        readout = SawyerReadout(
            obs, self._tcp(rows), xpos[:, self._pads[0]], xpos[:, self._pads[1]]
        )
        start = EpisodeStart(*(getattr(self._start, name)[rows] for name in _START_FIELDS))
        return self._sawyer_class.reward(readout, start, actions, self.hand_init_pos)


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
