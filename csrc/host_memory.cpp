// Result arrays backed by the host block cache (runtime/host_cache.h): the
// Python layer allocates large CPU results here, so a freed result's memory,
// already mapped, is reused by the next one instead of being faulted in again.
// Each array's base is a capsule that gives its block back when the array and
// every view of it are gone.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstdint>
#include <limits>
#include <new>
#include <vector>

#include "runtime/host_cache.h"

namespace py = pybind11;

namespace pk {

namespace {

struct HeldBlock {
    void* ptr;
    size_t capacity;
};

py::array cached_empty(const std::vector<int64_t>& shape, const py::dtype& dtype) {
    const int64_t itemsize = dtype.itemsize();
    int64_t bytes = itemsize;
    for (int64_t d : shape) {
        if (d < 0) throw py::value_error("argument 'shape' must not hold negative sizes");
        if (d != 0 && bytes > std::numeric_limits<int64_t>::max() / d)
            throw py::value_error("argument 'shape' describes more bytes than can be addressed");
        bytes *= d;
    }
    std::vector<py::ssize_t> dims(shape.begin(), shape.end());
    if (bytes == 0 || itemsize == 0) return py::array(dtype, dims);
    auto* held = new HeldBlock{nullptr, 0};
    {
        py::gil_scoped_release unlocked;  // mapping new memory may take a while
        held->ptr = host_cache::acquire(static_cast<size_t>(bytes), &held->capacity);
    }
    if (!held->ptr) {
        delete held;
        throw std::bad_alloc();
    }
    py::capsule owner(held, [](void* p) {
        auto* h = static_cast<HeldBlock*>(p);
        host_cache::release(h->ptr, h->capacity);
        delete h;
    });
    return py::array(dtype, dims, {}, held->ptr, owner);
}

}  // namespace

void bind_host_memory(py::module_& m) {
    m.def("cached_empty", &cached_empty, py::arg("shape"), py::arg("dtype"),
          "An uninitialised C-contiguous array whose memory comes from the host block cache.");
    m.def("host_cache_info", [] {
        const host_cache::Stats s = host_cache::stats();
        py::dict d;
        d["cached_bytes"] = s.cached_bytes;
        d["cached_blocks"] = s.cached_blocks;
        d["limit_bytes"] = s.limit_bytes;
        d["hits"] = s.hits;
        d["misses"] = s.misses;
        return d;
    });
    m.def("empty_host_cache", &host_cache::clear,
          "Frees the cached blocks (arrays still alive keep theirs).");
    m.def(
        "set_host_cache_limit",
        [](int64_t bytes) {
            if (bytes < 0) throw py::value_error("argument 'bytes' must be >= 0");
            host_cache::set_limit(static_cast<size_t>(bytes));
        },
        py::arg("bytes"));
}

}  // namespace pk
