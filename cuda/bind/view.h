// How the CUDA bindings see their array arguments: CUDA arrays in _cuda,
// NumPy arrays in _cuda_emu (the same kernels run on host memory there).
#pragma once

#include "bind/array_view.h"

namespace pk {

inline ArrayView device_view(py::handle obj, const char* name) {
#ifdef PK_EMU
    return host_view(obj, name, "cuda-emu");
#else
    return cuda_view(obj, name);
#endif
}

inline void* stream_ptr(uintptr_t stream) { return reinterpret_cast<void*>(stream); }

}  // namespace pk
