#!/usr/bin/env bash
# Developer build without pip: configure and build with CMake into BUILD_DIR,
# then lay out BUILD_DIR/site/pykernels with the compiled modules and links to
# the Python sources, so several checkouts or configurations can coexist.
#   bash scripts/devbuild.sh BUILD_DIR [extra cmake -D options]
#   PK_TARGETS="_cpu" bash scripts/devbuild.sh BUILD_DIR   # only some modules
#   PYTHONPATH=BUILD_DIR/site python -m pytest tests
# PYKERNELS_CUDA defaults to OFF here (nvcc builds are slow); pass
# -DPYKERNELS_CUDA=ON to include the CUDA module.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:?usage: devbuild.sh BUILD_DIR [cmake options]}
shift
mkdir -p "$build"
build=$(cd "$build" && pwd)
cmake -S "$root" -B "$build/cmake" -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DPYKERNELS_CUDA=OFF -Dpybind11_DIR="$(python -m pybind11 --cmakedir)" \
  -DPython_EXECUTABLE="$(command -v python)" "$@" >"$build/configure.log" \
  || { cat "$build/configure.log"; exit 1; }
targets=()
for t in ${PK_TARGETS:-}; do targets+=(--target "$t"); done
cmake --build "$build/cmake" -j "$(nproc)" "${targets[@]}"
rm -rf "$build/site"
mkdir -p "$build/site/pykernels"
cp "$build"/cmake/*.so "$build/cmake/_build_info.py" "$build/site/pykernels/"
for entry in "$root"/pykernels/*; do
  case "$(basename "$entry")" in
    __pycache__|*.so|_build_info.py) ;;
    *) ln -s "$entry" "$build/site/pykernels/" ;;
  esac
done
echo "PYTHONPATH=$build/site"
