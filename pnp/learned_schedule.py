"""A learned ``(alpha_k, sigma_k)`` schedule: the hyper-parameter network of the unfolded model.

:class:`HyperNet` maps the noise level, the scale factor and (optionally) a
small descriptor of the blur to the K penalties ``alpha_k`` and prior noise
levels ``sigma_k`` of an HQS iteration. It is built as three 1x1 convolution
layers with a softplus output, so the schedule is smooth in its inputs and
always positive. The softplus outputs multiply the DPIR schedule, and the last
layer starts at zero, so an untrained network reproduces DPIR exactly and
training learns corrections to it.

:class:`LearnedSchedule` wraps a trained network as an ordinary schedule
object: ``pnp.solve(y, k, schedule=LearnedSchedule.load(path))``.
``LearnedSchedule.load()`` without a path loads the schedule shipped with the
package (:data:`SHIPPED_SCHEDULE`, model card ``priors/weights/learned_schedule.md``).
"""

from __future__ import annotations

import copy
import json
import math
from pathlib import Path

import numpy as np

from ._checks import check_int
from .schedules import DPIRSchedule, check_iters

__all__ = ["HyperNet", "LearnedSchedule", "kernel_descriptor", "blur_descriptor", "SHIPPED_SCHEDULE"]

_SOFTPLUS0 = math.log(2.0)

#: The shipped learned schedule (K = 8, colour attention U-Net prior, 812 training steps; see
#: ``priors/weights/learned_schedule.md``): ``.pt`` state dict with its ``.json`` configuration.
SHIPPED_SCHEDULE = Path(__file__).resolve().parents[1] / "priors" / "weights" / "learned_schedule_K8.pt"


def kernel_descriptor(kernel):
    """Two numbers describing a blur kernel: how far and over how many pixels it spreads.

    Returns ``[log(1 + spread), log(n_eff)]`` where ``spread`` is the square root of the
    trace of the kernel's second-moment matrix (pixels) and ``n_eff = 1 / sum(k^2)`` the
    effective number of pixels it averages (1 for no blur). A uniform line of ``L``
    pixels gives ``spread = sqrt((L^2 - 1) / 12)`` (the discrete uniform variance;
    about ``L / sqrt(12)`` for long lines) and ``n_eff = L``.
    """
    k = np.asarray(kernel, dtype=np.float64)
    if k.ndim != 2 or not np.all(np.isfinite(k)) or np.any(k < 0) or k.sum() <= 0:
        raise ValueError(f"kernel must be a 2-D non-negative array with a positive sum, got shape {k.shape}")
    k = k / k.sum()
    yy, xx = np.mgrid[: k.shape[0], : k.shape[1]]
    cy, cx = (k * yy).sum(), (k * xx).sum()
    spread = math.sqrt(max(float((k * ((yy - cy) ** 2 + (xx - cx) ** 2)).sum()), 0.0))
    return [math.log1p(spread), -math.log(float((k**2).sum()))]


def blur_descriptor(blur, shape=None):
    """The :func:`kernel_descriptor` of a kernel or a blur operator, averaged over the frame.

    Parameters
    ----------
    blur : ndarray (kh, kw), :class:`pnp.operators.blur.Blur` or :class:`pnp.operators.rotational.RotationalBlur`
        The blur. A rotational blur is spatially varying: each pixel at radius ``r``
        from the centre sees an arc of ``L = r * |angle|`` pixels (spread and effective
        support from the shutter weights along it; outside the rotating region, no
        blur), and the two numbers are averaged over the frame.
    shape : (H, W), optional
        Frame shape (pixels); needed for a rotational blur without a mask.

    Returns
    -------
    list of float
        ``[log(1 + spread), log(n_eff)]`` (mean over the frame for rotational blur).
    """
    from .operators.rotational import RotationalBlur, rotation_sample_angles

    if isinstance(blur, RotationalBlur):
        if shape is None:
            shape = None if blur.mask is None else blur.mask.shape
        if shape is None:
            raise ValueError("a rotational blur needs the frame shape (H, W) for its descriptor")
        H, W = (int(v) for v in shape[-2:])
        step = max(1, min(H, W) // 128)  # a subsampled grid is plenty for a frame average
        rows, cols = np.mgrid[0:H:step, 0:W:step].astype(np.float64)
        L = np.hypot(cols - blur.center[0], rows - blur.center[1]) * abs(blur.angle)
        t, w = rotation_sample_angles(1.0, 64, blur.weights)  # slice centres in [0, 1] and their weights
        t_std = math.sqrt(max(float((w * (t - (w * t).sum()) ** 2).sum()), 0.0))
        support = 1.0 / (len(w) * float((w**2).sum()))  # fraction of the arc the shutter really uses
        spread = np.log1p(L * t_std)
        n_eff = np.log(np.maximum(L * support, 1.0))
        m = blur.region((H, W))[::step, ::step]
        return [float((m * spread).mean()), float((m * n_eff).mean())]
    k = getattr(blur, "kernel", blur)
    return kernel_descriptor(k)


def _torch():
    import torch

    return torch


def _build_hypernet_class():
    torch = _torch()
    nn = torch.nn

    class HyperNet(nn.Module):
        """Noise level, scale, blur descriptor -> K positive ``(alpha_k, sigma_k)``.

        Parameters
        ----------
        iters : int
            K, the number of unfolded iterations (an integer >= 1).
        descriptor_dim : int
            Length of the optional blur descriptor (0 for none).
        width : int
            Hidden channels of the three 1x1 convolutions (>= 1).
        base : DPIRSchedule
            The schedule the network's multiplicative corrections apply to.

        Raises
        ------
        TypeError
            If ``iters``, ``descriptor_dim`` or ``width`` is not an integer
            (``2.5`` is refused, not truncated; so is ``8.9`` read from a
            schedule's ``.json``).
        ValueError
            If ``iters`` or ``width`` is below 1 or ``descriptor_dim`` below 0.

        Notes
        -----
        ``forward(noise, scale, descriptor=None)`` takes tensors of shape
        ``(B,)``, ``(B,)`` and ``(B, descriptor_dim)`` (noise on the 0-1 scale)
        and returns ``alphas, sigmas`` of shape ``(B, K)``.
        """

        def __init__(self, iters=8, descriptor_dim=0, width=64, base=None):
            super().__init__()
            self.iters = check_iters(iters)
            self.descriptor_dim = check_int(descriptor_dim, "descriptor_dim", 0)
            self.width = width = check_int(width, "width", 1)
            self.base = base or DPIRSchedule()
            c_in = 2 + self.descriptor_dim
            self.layers = nn.Sequential(
                nn.Conv1d(c_in, width, 1), nn.ReLU(inplace=True),
                nn.Conv1d(width, width, 1), nn.ReLU(inplace=True),
                nn.Conv1d(width, 2 * self.iters, 1),
            )
            nn.init.zeros_(self.layers[-1].weight)
            nn.init.zeros_(self.layers[-1].bias)

        def base_schedule(self, noise, scale):
            """DPIR schedule for each sample, as tensors (B, K), differentiable with respect to ``noise``.

            For the :class:`pnp.schedules.DPIRSchedule` base (the default, and
            the only base :meth:`LearnedSchedule.load` builds) the schedule is
            computed with torch (in float64, returned in ``noise``'s dtype):
            ``sigma_k`` log-spaced from ``sigma_max`` to
            ``min(max(noise, floor[, scale/255]), sigma_max)``, ``alpha_k = lam *
            max(noise, floor)^2 / sigma_k^2``, the values of
            :meth:`~pnp.schedules.DPIRSchedule.params`, so gradients flow to
            ``noise``. Another base is evaluated with its ``params`` in numpy
            (no gradient with respect to ``noise``).

            Raises
            ------
            TypeError, ValueError
                As :meth:`pnp.schedules.DPIRSchedule.params`: a noise level that
                is not finite or not in [0, 1], or a scale that rounds below 1.
            """
            base = self.base
            if not (isinstance(base, DPIRSchedule) and type(base).params is DPIRSchedule.params):
                return self._base_schedule_numpy(noise, scale)
            n64 = noise.to(torch.float64)
            s64 = torch.round(scale.detach().to(torch.float64))
            valid = ((torch.isfinite(n64) & (n64 >= 0) & (n64 <= 1)).all()
                     & (torch.isfinite(s64) & (s64 >= 1)).all())
            if not bool(valid):  # one synchronisation; params raises the usual message for the bad value
                return self._base_schedule_numpy(noise, scale)
            n = torch.clamp(n64, min=base.floor)
            end = torch.where(s64 > 1, torch.maximum(n, s64 / 255.0), n)
            end = torch.clamp(end, max=base.sigma_max)
            K = self.iters
            t = torch.arange(K, dtype=torch.float64, device=noise.device) / max(K - 1, 1)
            start = math.log10(base.sigma_max)
            sigmas = 10.0 ** (start + t[None, :] * (torch.log10(end)[:, None] - start))
            alphas = base.lam * n[:, None] ** 2 / sigmas ** 2
            return alphas.to(noise.dtype), sigmas.to(noise.dtype)

        def _base_schedule_numpy(self, noise, scale):
            """The base schedule from ``self.base.params`` in numpy (no gradient to ``noise``)."""
            al, sg = [], []
            for n, s in zip(noise.tolist(), scale.tolist()):
                a, g = self.base.params(n, self.iters, int(round(s)))
                al.append(a)
                sg.append(g)
            kw = dict(dtype=noise.dtype, device=noise.device)
            return torch.tensor(np.array(al), **kw), torch.tensor(np.array(sg), **kw)

        def forward(self, noise, scale, descriptor=None):
            noise = noise.reshape(-1)
            scale = scale.reshape(-1).to(noise.dtype)
            feats = [torch.log(noise * 255 + 1.0), scale / 4.0]
            if not self.descriptor_dim and descriptor is not None:
                raise ValueError("descriptor was given, but this HyperNet takes none (descriptor_dim=0): it would "
                                 "be ignored; pass descriptor=None or use a HyperNet with descriptor_dim > 0")
            if self.descriptor_dim:
                if descriptor is None:
                    raise ValueError(f"this HyperNet needs a blur descriptor of length {self.descriptor_dim}")
                feats += list(descriptor.to(noise.dtype).reshape(len(noise), -1).T)
            h = torch.stack(feats, dim=1)[..., None]  # (B, c_in, 1)
            out = torch.nn.functional.softplus(self.layers(h)[..., 0]) / _SOFTPLUS0  # (B, 2K), 1 at init
            a0, s0 = self.base_schedule(noise, scale)
            return a0 * out[:, : self.iters], s0 * out[:, self.iters:]

        def config(self):
            return dict(iters=self.iters, descriptor_dim=self.descriptor_dim, width=self.width,
                        base=dict(sigma_max=self.base.sigma_max, lam=self.base.lam, floor=self.base.floor))

    return HyperNet


_HYPERNET = None


def __getattr__(name):
    global _HYPERNET
    if name == "HyperNet":
        if _HYPERNET is None:
            _HYPERNET = _build_hypernet_class()
        return _HYPERNET
    raise AttributeError(name)




def _checked_descriptor(net, descriptor):
    """``descriptor`` as a list of ``net.descriptor_dim`` finite floats, or ValueError."""
    dim = net.descriptor_dim
    if not dim:
        raise ValueError("this schedule was trained without a blur descriptor: it takes none")
    try:
        values = [float(v) for v in descriptor]
    except (TypeError, ValueError):
        raise ValueError(f"this schedule needs a blur descriptor of length {dim}, got {descriptor!r}") from None
    if len(values) != dim or not all(math.isfinite(v) for v in values):
        raise ValueError(f"this schedule needs a blur descriptor of length {dim} (finite numbers), got {values}")
    return values


def pair_target_problem(path, what="schedule", allow_existing=False):
    """Why ``path`` cannot receive a ``NAME.pt`` + ``NAME.json`` pair (a saved ``what``), or None.

    Not ``.pt``, or (unless ``allow_existing``) the ``.pt`` or its ``.json`` exists. Used for
    schedules (:meth:`LearnedSchedule.save`) and for the priors exported by ``priors.train_unfolded``.
    """
    path = Path(path)
    if path.suffix != ".pt":
        return f"a {what} file must end in .pt (its configuration goes to the .json of the same name), got {path}"
    if not allow_existing and (path.exists() or path.with_suffix(".json").exists()):
        return f"{path} (or its .json) exists already: choose another name"
    return None


class LearnedSchedule:
    """A trained :class:`HyperNet` used as a schedule object.

    Parameters
    ----------
    net : HyperNet
    descriptor : sequence of float, optional
        Blur descriptor passed to the network (see :func:`blur_descriptor`),
        when it was trained with one; :meth:`for_operator` computes it.
    trained_with : dict, optional
        The prior the schedule was trained against, as ``priors.train_unfolded``
        records it: ``prior_sha256`` (of its weights file, or None when the
        prior was fine-tuned in the same run), ``prior_config``,
        ``prior_finetuned``. Saved in the ``.json``; :func:`pnp.solve` warns when
        the prior it is given has other weights (:meth:`check_prior`).

    Notes
    -----
    Called with ``iters`` different from the network's K, the schedule is
    interpolated linearly in log-space over the relative iteration position.
    A schedule is tuned to the prior it was trained with: with another one it
    can restore worse than the hand DPIR schedule.
    """

    def __init__(self, net, descriptor=None, trained_with=None):
        self.net = net.eval()
        self.descriptor = None if descriptor is None else _checked_descriptor(net, descriptor)
        if trained_with is not None and not isinstance(trained_with, dict):
            raise TypeError(f"trained_with must be a dict or None, got {trained_with!r}")
        self.trained_with = None if trained_with is None else dict(trained_with)

    @property
    def iters(self):
        return self.net.iters

    def with_descriptor(self, descriptor):
        """A copy that uses ``descriptor`` (e.g. ``blur_descriptor(k)``).

        Raises
        ------
        ValueError
            If the network takes no descriptor, or ``descriptor`` is not ``descriptor_dim``
            finite numbers.
        """
        return LearnedSchedule(self.net, descriptor, trained_with=self.trained_with)

    def check_prior(self, prior):
        """Why ``prior`` is not the prior this schedule was trained against, or None.

        Compares the recorded ``trained_with["prior_sha256"]`` with the sha256 of the
        prior's weights files (its ``weight_files()``). Returns None when nothing was
        recorded (the schedule could be used with anything) or a file matches.

        Parameters
        ----------
        prior : callable
            A prior object (see :func:`priors.registry.get_prior`).

        Returns
        -------
        str or None
        """
        want = (self.trained_with or {}).get("prior_sha256")
        if not want:
            return None
        files = prior.weight_files() if callable(getattr(prior, "weight_files", None)) else []
        from .io import file_sha256

        if any(file_sha256(f) == want for f in files if Path(f).is_file()):
            return None
        what = getattr(prior, "name", None) or type(prior).__name__
        return (f"this learned schedule was trained against another prior (weights sha256 {want[:12]}...) than "
                f"{what}; a schedule is tuned to its prior, and with another one it can restore worse than "
                "the hand DPIR schedule (schedule=None)")

    def for_operator(self, operator, shape):
        """The schedule for one blur: adds :func:`blur_descriptor` when the network uses one.

        :func:`pnp.solve` calls this with its operator and the frame shape ``(H, W)``, so a
        schedule trained with blur descriptors needs no extra argument. A schedule
        without descriptor input, or with a descriptor already set, is returned unchanged.
        """
        if not self.net.descriptor_dim or self.descriptor is not None:
            return self
        return self.with_descriptor(blur_descriptor(operator, shape))

    def params(self, noise_level, iters=None, scale=1):
        """``alphas, sigmas`` as float arrays of length ``iters`` (default K).

        Raises
        ------
        TypeError
            If ``noise_level`` is not a number, or ``iters`` not an integer
            (:func:`pnp.schedules.check_iters`: ``2.7``, ``True`` and ``"8"`` are refused).
        ValueError
            If ``noise_level`` is not a finite number in [0, 1] (0-1 intensity
            scale) or ``iters`` is below 1.
        """
        from .noise import check_noise_level

        from .operators.blur import check_scale

        noise_level = check_noise_level(noise_level)
        if iters is not None:
            iters = check_iters(iters)
        scale = check_scale(scale)
        torch = _torch()
        with torch.no_grad():
            d = None
            if self.net.descriptor_dim:
                if self.descriptor is None:
                    raise ValueError("this schedule was trained with a blur descriptor: use with_descriptor()")
                d = torch.tensor([self.descriptor], dtype=torch.float64)
            net = copy.deepcopy(self.net).double()  # in double precision, leaving self.net as it is
            a, s = net(torch.tensor([float(noise_level)], dtype=torch.float64),
                       torch.tensor([float(scale)], dtype=torch.float64), d)
        a, s = a[0].numpy(), s[0].numpy()
        iters = self.iters if iters is None else iters
        if iters != len(a):
            src = np.linspace(0, 1, len(a))
            dst = np.linspace(0, 1, iters)
            a = np.exp(np.interp(dst, src, np.log(a)))
            s = np.exp(np.interp(dst, src, np.log(s)))
        return a, s

    def __call__(self, noise_level, iters, scale=1):
        a, s = self.params(noise_level, iters, scale)
        return list(zip(a.tolist(), s.tolist()))

    def __repr__(self):
        return f"LearnedSchedule(K={self.iters}, descriptor_dim={self.net.descriptor_dim})"

    def table(self, noise_level, scale=1):
        """The schedule beside DPIR's as a plain-text table."""
        a, s = self.params(noise_level, None, scale)
        a0, s0 = self.net.base.params(noise_level, self.iters, scale)
        rows = ["  k   alpha (learned / DPIR)     sigma*255 (learned / DPIR)"]
        for k in range(self.iters):
            rows.append(f"{k + 1:3d}   {a[k]:10.4g} / {a0[k]:<10.4g}   {255 * s[k]:8.3f} / {255 * s0[k]:<8.3f}")
        return "\n".join(rows)

    def plot(self, noise_level, scale=1, ax=None):
        """Plot the schedule beside DPIR's: prior noise levels sigma_k and penalties alpha_k, log axes.

        Parameters
        ----------
        noise_level : float
            Noise standard deviation on the 0-1 intensity scale (2.55/255 = 0.01).
        scale : int
            Super-resolution factor the schedule is evaluated for.
        ax : pair of matplotlib Axes, optional
            Where to draw: ``ax[0]`` gets sigma_k, ``ax[1]`` alpha_k (e.g. the
            ``axes`` of ``plt.subplots(1, 2)``). Default: a new 1x2 figure.

        Returns
        -------
        matplotlib.figure.Figure
            The figure of ``ax[0]``.

        Raises
        ------
        TypeError
            If ``ax`` is not a pair of Axes (one Axes cannot hold both curves:
            they have different units).
        """
        import matplotlib.pyplot as plt
        from matplotlib.axes import Axes

        if ax is not None:
            axes = list(np.ravel(np.asarray(ax, dtype=object))) if not isinstance(ax, Axes) else [ax]
            if len(axes) != 2 or not all(isinstance(a_, Axes) for a_ in axes):
                raise TypeError("ax must be a pair of matplotlib Axes (sigma_k on the first, alpha_k on the "
                                f"second), e.g. plt.subplots(1, 2)[1]; got {ax!r}")
            ax = axes
        a, s = self.params(noise_level, None, scale)
        a0, s0 = self.net.base.params(noise_level, self.iters, scale)
        if ax is None:
            fig, ax = plt.subplots(1, 2, figsize=(9, 3.4))
        else:
            fig = ax[0].figure
        k = np.arange(1, self.iters + 1)
        ax[0].semilogy(k, 255 * s0, "o--", label="DPIR")
        ax[0].semilogy(k, 255 * s, "o-", label="learned")
        ax[0].set(xlabel="iteration k", ylabel="sigma_k (x 1/255)", title="prior noise level")
        ax[1].semilogy(k, a0, "o--", label="DPIR")
        ax[1].semilogy(k, a, "o-", label="learned")
        ax[1].set(xlabel="iteration k", ylabel="alpha_k", title="data-step penalty")
        for a_ in ax:
            a_.legend()
        fig.tight_layout()
        return fig

    def save(self, path, overwrite=False):
        """Write ``path`` (state dict, ``.pt``) and ``path.with_suffix(".json")`` (configuration).

        Both files are written atomically (a temporary file, then a rename), the
        configuration first. Missing parent folders are created.

        Parameters
        ----------
        path : str or Path
            Must end in ``.pt``: the configuration goes to the ``.json`` of the
            same name, so two schedules saved as ``x.pt`` and ``x.pth`` would
            share (and overwrite) one ``x.json``.
        overwrite : bool
            Replace an existing ``.pt`` or ``.json``. By default an existing
            file is an error: a schedule saved over another one's configuration
            would load silently wrong.

        Raises
        ------
        ValueError
            If ``path`` does not end in ``.pt``.
        FileExistsError
            If ``path`` or its ``.json`` exists and ``overwrite`` is False.
        """
        from .io import _atomic_target

        torch = _torch()
        path = Path(path)
        problem = pair_target_problem(path, allow_existing=overwrite)
        if problem:
            if path.suffix == ".pt":
                raise FileExistsError(problem + ", or pass overwrite=True")
            raise ValueError(problem)
        path.parent.mkdir(parents=True, exist_ok=True)  # as the prior exports do
        with _atomic_target(path.with_suffix(".json")) as tmp:
            cfg = self.net.config()
            if self.trained_with is not None:
                cfg["trained_with"] = self.trained_with
            Path(tmp).write_text(json.dumps(cfg, indent=1))
        with _atomic_target(path) as tmp:
            torch.save(self.net.state_dict(), tmp)

    @classmethod
    def load(cls, path=None, descriptor=None):
        """Load a schedule saved with :meth:`save` (``.pt`` + ``.json`` beside it).

        Without ``path``, the schedule shipped with the package (:data:`SHIPPED_SCHEDULE`).

        Parameters
        ----------
        path : str or Path, optional
            The ``.pt`` state dict; its configuration is read from the ``.json`` of the same name.
        descriptor : sequence of float, optional
            Blur descriptor for a schedule trained with one (see :meth:`with_descriptor`).

        Raises
        ------
        FileNotFoundError
            If the ``.pt`` or its ``.json`` is missing.
        ValueError
            If the files are not a schedule written by :meth:`save` (unreadable, not the
            ``.pt`` + ``.json`` pair, or the two disagree), or ``descriptor`` has the wrong length.
        """
        torch = _torch()
        path = Path(SHIPPED_SCHEDULE if path is None else path)
        pair = "a learned schedule is a NAME.pt state dict with its NAME.json configuration beside it"
        if path.suffix == ".json":
            raise ValueError(f"learned schedule {path}: pass the .pt file, not its .json ({pair})")
        if not path.is_file():
            raise FileNotFoundError(f"learned schedule not found: {path} ({pair})")
        cfg_path = path.with_suffix(".json")
        if not cfg_path.is_file():
            raise FileNotFoundError(f"learned schedule {path}: its configuration {cfg_path} is missing ({pair})")
        try:
            cfg = json.loads(cfg_path.read_text())
            trained_with = cfg.pop("trained_with", None)
            if trained_with is not None and not isinstance(trained_with, dict):
                raise TypeError(f"'trained_with' must be an object, got {trained_with!r}")
            base = DPIRSchedule(**cfg.pop("base"))
            net = __getattr__("HyperNet")(base=base, **cfg)
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            raise ValueError(f"learned schedule {path}: {cfg_path} is not a schedule configuration written "
                             f"by LearnedSchedule.save ({type(exc).__name__}: {exc})") from None
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:  # unpickling errors come in many types
            raise ValueError(f"learned schedule {path} is not a readable state dict ({pair}; "
                             f"{type(exc).__name__})") from None
        try:
            net.load_state_dict(state)
        except (RuntimeError, TypeError, AttributeError) as exc:
            raise ValueError(f"learned schedule {path} does not match its configuration {cfg_path} "
                             f"(iters={net.iters}, descriptor_dim={net.descriptor_dim}): the two files "
                             f"come from different schedules") from exc
        sched = cls(net, trained_with=trained_with)
        return sched if descriptor is None else sched.with_descriptor(descriptor)
