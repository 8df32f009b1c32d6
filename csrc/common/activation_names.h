// Host-side names of the activations in activation.h, as pk.ops.activation
// and pk.ops.linear spell them (torch.nn.functional names; "gaussian", "gcu"
// and "binary_step" have no PyTorch function).
#pragma once

#include <stdexcept>
#include <string>

#include "activation.h"

namespace pk {

inline const char* activation_name(Act a) {
    switch (a) {
        case Act::identity: return "identity";
        case Act::sigmoid: return "sigmoid";
        case Act::tanh: return "tanh";
        case Act::relu: return "relu";
        case Act::leaky_relu: return "leaky_relu";
        case Act::prelu: return "prelu";
        case Act::elu: return "elu";
        case Act::selu: return "selu";
        case Act::celu: return "celu";
        case Act::gelu: return "gelu";
        case Act::silu: return "silu";
        case Act::softplus: return "softplus";
        case Act::mish: return "mish";
        case Act::hardtanh: return "hardtanh";
        case Act::softsign: return "softsign";
        case Act::gaussian: return "gaussian";
        case Act::gcu: return "gcu";
        case Act::binary_step: return "binary_step";
    }
    return "?";
}

// Every name, comma separated, for error messages.
inline std::string activation_names() {
    std::string s;
    for (int i = 0; i < kActCount; ++i) {
        if (i) s += ", ";
        s += activation_name(static_cast<Act>(i));
    }
    return s;
}

// The activation called `name`; std::invalid_argument (naming the argument
// 'name' and listing the valid names) for anything else.
inline Act parse_activation(const std::string& name) {
    for (int i = 0; i < kActCount; ++i)
        if (name == activation_name(static_cast<Act>(i))) return static_cast<Act>(i);
    throw std::invalid_argument("argument 'name': unknown activation '" + name +
                                "'; expected one of: " + activation_names());
}

}  // namespace pk
