// What the CUDA runtime reports about the devices, for pk.backends().
#pragma once

#include <string>
#include <vector>

namespace pk {
namespace cuda_ops {

struct DeviceInfo {
    bool emulated = false;
    int runtime_version = 0;
    int driver_version = 0;
    std::string error;               // why no device can be used, empty if one can
    std::vector<std::string> names;  // "NVIDIA H100 80GB HBM3 (sm_90)"
};

DeviceInfo device_info();
void synchronize();  // waits for all work on the current device

}  // namespace cuda_ops
}  // namespace pk
