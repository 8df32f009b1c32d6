"""`pykernels train` end to end (few epochs)."""

import os
import subprocess
import sys

import pytest

from pykernels import cli


def test_train_on_spiral(capsys, tmp_path):
    plot = tmp_path / "curves.png"
    args = ["train", "--dataset", "spiral", "--samples", "300", "--epochs", "3", "--hidden", "32,16",
            "--device", "cpu", "--no-progress", "--checkpoint", str(tmp_path / "run.npz")]
    try:
        import matplotlib  # noqa: F401
        args += ["--plot", str(plot)]
    except ImportError:
        plot = None
    assert cli.main(args) == 0
    out = capsys.readouterr().out
    assert "test accuracy:" in out and "time per epoch:" in out and "MLP 2 -> 32 -> 16 -> 2" in out
    assert (tmp_path / "run.npz").exists()
    if plot is not None:
        assert plot.exists()


def test_train_from_csv(capsys, tmp_path):
    import numpy as np
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 3, 120)
    pixels = np.clip(rng.normal(60 + 60 * labels[:, None], 20, (120, 16)), 0, 255).astype(np.uint8)
    np.savetxt(tmp_path / "images.csv", pixels, fmt="%d", delimiter=",")
    np.savetxt(tmp_path / "labels.csv", labels, fmt="%d", header="label", comments="")
    assert cli.main(["train", "--csv", str(tmp_path / "images.csv"), str(tmp_path / "labels.csv"),
                     "--epochs", "2", "--device", "cpu", "--no-progress"]) == 0
    assert "test accuracy:" in capsys.readouterr().out


def test_train_command_defaults_subprocess(tmp_path):
    """The console entry point on its defaults (digits with scikit-learn, else
    spiral), cut to two epochs."""
    env = dict(os.environ)
    proc = subprocess.run([sys.executable, "-c", "import sys; from pykernels.cli import main; "
                           "sys.exit(main(sys.argv[1:]))", "train", "--epochs", "2", "--device", "cpu"],
                          capture_output=True, text=True, env=env, timeout=300,
                          cwd=tmp_path)  # not the source tree, whose pykernels/ has no modules
    assert proc.returncode == 0, proc.stderr
    try:
        import sklearn  # noqa: F401
        assert "digits" in proc.stdout
    except ImportError:
        assert "spiral" in proc.stdout
    assert "test accuracy:" in proc.stdout and "epoch 2/2" in proc.stderr


def test_cuda_without_device_is_an_error(capsys):
    from pykernels import backends
    if backends()["cuda"]["available"]:
        pytest.skip("a CUDA device is present")
    assert cli.main(["train", "--device", "cuda", "--epochs", "1"]) == 2
    assert "--device cuda" in capsys.readouterr().err
