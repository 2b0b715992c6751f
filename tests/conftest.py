import os

# Small matrix products in the tests gain nothing from BLAS threads, and threaded OpenBLAS
# stalls badly when the cores are busy (measured: a 3 s test took 60 s). Set before numpy loads.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import importlib.util  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402

#: BM3D is an optional extra (non-commercial licence): ``make install`` adds it, a plain install does not.
HAVE_BM3D = importlib.util.find_spec("bm3d") is not None
needs_bm3d = pytest.mark.skipif(not HAVE_BM3D,
                                reason="the optional bm3d package is not installed (pip install 'pnp-deblur[bm3d]')")

os.environ.setdefault("MPLBACKEND", "Agg")


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


@pytest.fixture(scope="session")
def levin_k3():
    """Levin et al. 2009 kernel 4 (``k3`` of levin09.npz), 27x27, committed in tests/data."""
    here = os.path.dirname(__file__)
    return np.load(os.path.join(here, "data", "levin09_k3.npy"))


@pytest.fixture(scope="session")
def camera256():
    from skimage import data

    return data.camera()[128:384, 128:384] / 255.0
