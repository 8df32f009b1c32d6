"""The `pykernels` command line."""

from __future__ import annotations

import argparse
import sys


def _info(args) -> int:
    from . import __version__
    from ._backends import backends

    report = backends()
    print(f"pykernels {__version__}")
    cpu = report["cpu"]
    print(f"cpu       built={cpu['built']} available={cpu['available']} simd={cpu['simd']} "
          f"(best on this CPU: {cpu['best_simd']}) threads={cpu['threads']} openmp={cpu['openmp']}")
    cuda = report["cuda"]
    line = f"cuda      built={cuda['built']} available={cuda['available']} build: {cuda['build']}"
    print(line)
    if cuda.get("runtime_version"):
        print(f"          runtime {cuda['runtime_version']} driver {cuda['driver_version']}")
    for name in cuda["devices"]:
        print(f"          device: {name}")
    if cuda.get("reason"):
        print(f"          not available: {cuda['reason']}")
    emu = report["cuda-emu"]
    print(f"cuda-emu  built={emu['built']} available={emu['available']} threads={emu['threads']}")
    if emu.get("reason"):
        print(f"          not available: {emu['reason']}")
    return 0


def _bench(args) -> int:
    from .bench import main_bench
    return main_bench(args)


def _add_bench(sub) -> None:
    bench = sub.add_parser(
        "bench", help="benchmark pykernels against NumPy, PyTorch and CuPy, CPU and GPU")
    bench.add_argument("--quick", action="store_true",
                       help="a curated subset with fewer repeats (a few minutes)")
    bench.add_argument("--device", choices=("cpu", "cuda", "all"), default="all",
                       help="where to run (default all: cuda is skipped when absent)")
    bench.add_argument("--out", default="bench-results", metavar="DIR",
                       help="folder for results.json, results.md, results.png")
    bench.add_argument("--filter", default=None, metavar="SUBSTR[,SUBSTR]",
                       help="only cases whose op or shape contains one of these")
    bench.add_argument("--repeat", type=int, default=None,
                       help="timed repeats per measurement (default 5 quick, 9 full)")
    bench.add_argument("--threads", type=int, default=None,
                       help="CPU threads for pykernels and PyTorch (default: pykernels' setting)")
    bench.add_argument("--baselines", default="numpy,torch,cupy", metavar="NAMES",
                       help="comma-separated baselines to run (default numpy,torch,cupy)")
    bench.add_argument("--no-train", action="store_true",
                       help="leave out the end-to-end training step")
    bench.add_argument("--from-json", default=None, metavar="FILE",
                       help="run nothing: render the table and files from a saved "
                            "results.json, or from pytest benchmarks/ --benchmark-json=FILE")
    bench.add_argument("--readme", default=None, metavar="PATH",
                       help="also put the results between the bench-results markers of "
                            "this README")
    bench.set_defaults(func=_bench)
def _default_dataset() -> str:
    try:
        import sklearn  # noqa: F401
    except ImportError:
        return "spiral"
    return "digits"


def _cuda_usable() -> bool:
    from ._backends import backends

    if not backends()["cuda"]["available"]:
        return False
    try:
        import cupy  # noqa: F401
    except ImportError:
        return False
    return True


def _train(args) -> int:
    import time

    import numpy as np

    from . import data, nn, optim, train
    from .data.synthetic import DATASETS
    from .random import manual_seed

    device = args.device
    if device == "auto":
        device = "cuda" if _cuda_usable() else "cpu"
    elif device == "cuda" and not _cuda_usable():
        print("pykernels train: --device cuda needs a CUDA device and CuPy "
              "(see `pykernels info`)", file=sys.stderr)
        return 2
    if args.threads:
        from ._backends import set_num_threads
        set_num_threads(args.threads)
    manual_seed(args.seed)

    if args.csv:
        full = data.CSVDataset(args.csv[0], args.csv[1])
        x, y = full.arrays
        source = f"CSV {args.csv[0]} / {args.csv[1]}"
    else:
        name = args.dataset or _default_dataset()
        if name == "digits":
            x, y = data.load_digits()
        else:
            x, y = DATASETS[name](args.samples, noise=args.noise, seed=args.seed)
        source = name
    x = x.reshape(len(x), -1)
    classes = int(y.max()) + 1
    full = data.TensorDataset(x, y)
    n_test = int(round(len(full) * args.test_fraction))
    n_val = int(round((len(full) - n_test) * args.val_fraction))
    train_set, val_set, test_set = data.random_split(
        full, [len(full) - n_test - n_val, n_val, n_test], seed=args.seed)
    scaler = data.Standardizer().fit(train_set)  # statistics of the training split only
    train_set, val_set, test_set = (scaler.transform(s) for s in (train_set, val_set, test_set))

    hidden = [int(h) for h in args.hidden.split(",") if h.strip()] if args.hidden else []
    layers, width = [], x.shape[1]
    for h in hidden:
        layers.append(nn.Linear(width, h))
        if args.batchnorm:
            layers.append(nn.BatchNorm1d(h))
        layers.append(nn.ReLU())
        if args.dropout > 0:
            layers.append(nn.Dropout(args.dropout))
        width = h
    layers.append(nn.Linear(width, classes))
    model = nn.Sequential(*layers).to(device)
    optimizers = {"sgd": lambda p: optim.SGD(p, lr=args.lr or 0.1, momentum=0.9),
                  "adam": lambda p: optim.Adam(p, lr=args.lr or 1e-3),
                  "adamw": lambda p: optim.AdamW(p, lr=args.lr or 1e-3),
                  "rmsprop": lambda p: optim.RMSprop(p, lr=args.lr or 1e-3),
                  "adagrad": lambda p: optim.Adagrad(p, lr=args.lr or 1e-2)}
    optimizer = optimizers[args.optimizer](model.parameters())
    criterion = nn.CrossEntropyLoss()
    loader = data.DataLoader(train_set, batch_size=args.batch_size, shuffle=True, seed=args.seed,
                             device=device)
    val_loader = data.DataLoader(val_set, batch_size=512, device=device) if len(val_set) else None
    test_loader = data.DataLoader(test_set, batch_size=512, device=device)

    print(f"pykernels train: {source}, {len(train_set)} train / {len(val_set)} validation / "
          f"{len(test_set)} test samples, {x.shape[1]} features, {classes} classes, device {device}")
    print(f"model: MLP {' -> '.join(str(w) for w in [x.shape[1], *hidden, classes])}, "
          f"{sum(p.size for p in model.parameters())} parameters, {args.optimizer}")
    start = time.perf_counter()
    history = train.fit(model, criterion, optimizer, loader, epochs=args.epochs, val_loader=val_loader,
                        early_stopping=args.patience, checkpoint=args.checkpoint,
                        progress=not args.no_progress)
    elapsed = time.perf_counter() - start
    result = train.evaluate(model, test_loader, criterion)
    epoch_times = history["time"]
    print(f"test accuracy: {100 * result['accuracy']:.2f}%  (test loss {result['loss']:.4f}, "
          f"{len(test_set)} samples)")
    print(f"time per epoch: {float(np.median(epoch_times)):.3f} s (median of {len(epoch_times)} epochs; "
          f"{elapsed:.2f} s in all)")
    if args.plot:
        history.plot(args.plot)
        print(f"curves written to {args.plot}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pykernels", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    info = sub.add_parser("info", help="backends, SIMD path, threads, CUDA build and devices")
    info.set_defaults(func=_info)
    _add_bench(sub)

    tr = sub.add_parser("train", help="train an MLP classifier and report its test accuracy",
                        description="Train an MLP (Linear -> BatchNorm -> ReLU -> Dropout blocks) with "
                                    "pykernels' kernels; prints progress, test accuracy and time per epoch.")
    source = tr.add_mutually_exclusive_group()
    from .data.synthetic import DATASETS
    source.add_argument("--dataset", choices=sorted(DATASETS),
                        help="built-in data set (default: digits with scikit-learn installed, else spiral)")
    source.add_argument("--csv", nargs=2, metavar=("IMAGES", "LABELS"),
                        help="images CSV (rows of 0..255 pixels) and labels CSV")
    tr.add_argument("--hidden", default="128", help="hidden layer widths, comma-separated (default 128)")
    tr.add_argument("--optimizer", default="adam", choices=["sgd", "adam", "adamw", "rmsprop", "adagrad"])
    tr.add_argument("--lr", type=float, default=None, help="learning rate (default: per optimizer)")
    tr.add_argument("--epochs", type=int, default=30)
    tr.add_argument("--batch-size", type=int, default=64)
    tr.add_argument("--dropout", type=float, default=0.1)
    tr.add_argument("--no-batchnorm", dest="batchnorm", action="store_false")
    tr.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda", "cuda-emu"],
                    help="auto: cuda when a device and CuPy are present, else cpu")
    tr.add_argument("--seed", type=int, default=0)
    tr.add_argument("--samples", type=int, default=1000, help="size of a synthetic data set")
    tr.add_argument("--noise", type=float, default=0.1, help="noise of a synthetic data set (0..0.5)")
    tr.add_argument("--test-fraction", type=float, default=0.2)
    tr.add_argument("--val-fraction", type=float, default=0.1, help="of the non-test samples")
    tr.add_argument("--patience", type=int, default=None, help="early stopping patience (epochs)")
    tr.add_argument("--checkpoint", default=None, help="write a checkpoint here after every epoch")
    tr.add_argument("--plot", default=None, help="write loss/accuracy curves to this PNG")
    tr.add_argument("--threads", type=int, default=None)
    tr.add_argument("--no-progress", action="store_true", help="no progress bar or per-epoch lines")
    tr.set_defaults(func=_train)
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
